//! Property tests for every decoder of Keepit answers: whatever arrives (random
//! text, XML-shaped noise, real answers cut short or spliced with junk), a decoder
//! either understands it or returns [`Error::Decode`]; it never panics and never
//! reports any other error. Well-formed lists of generated connectors and jobs
//! decode to exactly what was written.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use keepit_domain::AccountId;
use proptest::prelude::*;

use crate::client::decode_xml;
use crate::error::{Error, Result};
use crate::model::{
    AccountInfo, BackupSummaryEntry, ChildAccount, ConnectorHealth, DeviceStatus, Snapshot,
    account_id, decode_audit_records, decode_connectors, decode_jobs, decode_single_job,
};
use crate::wire::{self, escape};

const E: &str = "property test";

/// Every captured Keepit answer in the repository's fixtures (kept in keepit-mock).
fn fixtures() -> &'static [String] {
    static FIXTURES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../keepit-mock/fixtures/keepit");
        let mut bodies = Vec::new();
        for dir in std::fs::read_dir(&root).expect("fixtures directory") {
            let dir = dir.expect("fixture entry").path();
            if !dir.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir).expect("fixture directory") {
                let file = file.expect("fixture file").path();
                if file.extension().is_some_and(|ext| ext != "md") {
                    bodies.push(std::fs::read_to_string(&file).expect("fixture text"));
                }
            }
        }
        assert!(bodies.len() > 40, "the fixtures were not found");
        bodies
    })
}

/// Pieces of XML and of things that are not XML, for noise with some structure.
fn token() -> impl Strategy<Value = String> {
    let names = prop_oneof![
        Just("devices"),
        Just("cloud"),
        Just("device"),
        Just("guid"),
        Just("jobs"),
        Just("job"),
        Just("audit"),
        Just("record"),
        Just("users"),
        Just("user"),
        Just("id"),
        Just("history"),
        Just("backup"),
        Just("devhealth"),
        Just("devstatus"),
        Just("backup-summary"),
        Just("stats"),
        Just("html"),
        Just("x:y"),
    ];
    prop_oneof![
        names.clone().prop_map(|n| format!("<{n}>")),
        names.clone().prop_map(|n| format!("</{n}>")),
        names.prop_map(|n| format!("<{n}/>")),
        Just("<?xml version=\"1.0\"?>".to_owned()),
        Just("<!-- note -->".to_owned()),
        Just("<![CDATA[a]]>".to_owned()),
        Just("<!DOCTYPE html>".to_owned()),
        Just("&amp;".to_owned()),
        Just("&#x0;".to_owned()),
        Just("&#1114112;".to_owned()),
        Just("&bogus;".to_owned()),
        Just("2026-01-07T08:30:00Z".to_owned()),
        Just("abc123-def456-ghi789".to_owned()),
        Just("\u{feff}".to_owned()),
        "[a-z0-9 <>/&;=\"'-]{0,12}",
        any::<String>(),
    ]
}

/// Bodies no decoder has reason to trust.
fn hostile_body() -> impl Strategy<Value = String> {
    let fixture = (0..fixtures().len()).prop_map(|i| fixtures()[i].clone());
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(token(), 0..40).prop_map(|tokens| tokens.concat()),
        // A real answer cut anywhere.
        (fixture.clone(), any::<prop::sample::Index>())
            .prop_map(|(body, at)| cut(&body, at.index(body.len() + 1))),
        // A real answer with something spliced in.
        (fixture.clone(), any::<prop::sample::Index>(), token())
            .prop_map(|(body, at, junk)| splice(&body, at.index(body.len() + 1), &junk)),
        // A real answer with a stretch removed.
        (
            fixture,
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>()
        )
            .prop_map(|(body, a, b)| {
                let (a, b) = (a.index(body.len() + 1), b.index(body.len() + 1));
                let (from, to) = (a.min(b), a.max(b));
                format!("{}{}", cut(&body, from), &body[floor(&body, to)..])
            }),
    ]
}

fn floor(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn cut(text: &str, at: usize) -> String {
    text[..floor(text, at)].to_owned()
}

fn splice(text: &str, at: usize, junk: &str) -> String {
    let at = floor(text, at);
    format!("{}{junk}{}", &text[..at], &text[at..])
}

/// Runs one decoder and checks that it failed, if at all, with a decode error.
fn only_decode_errors<T>(
    decoder: &str,
    result: Result<T>,
) -> std::result::Result<(), TestCaseError> {
    match result {
        Ok(_) | Err(Error::Decode { .. }) => Ok(()),
        // A `<jobs>` wrapper without a job is "no such job", by design.
        Err(Error::NotFound { .. }) if decoder == "single job" => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!(
            "{decoder} answered {other:?} instead of a decode error"
        ))),
    }
}

/// Every decoder of the client, each as the client composes it.
fn decode_with_every_decoder(body: &str) -> std::result::Result<(), TestCaseError> {
    let parent = AccountId::new("abc123-def456-ghi789").expect("an account id");
    only_decode_errors(
        "whoami",
        decode_xml::<wire::WhoAmI>(E, body, &["user"])
            .and_then(|reply| account_id(E, "id", reply.id.as_deref())),
    )?;
    only_decode_errors(
        "account",
        decode_xml::<wire::AccountSettings>(E, body, &["user"])
            .and_then(|reply| AccountInfo::from_wire(E, parent.clone(), reply)),
    )?;
    only_decode_errors(
        "child accounts",
        decode_xml::<wire::Users>(E, body, &["users"]).and_then(|reply| {
            for user in reply.user {
                ChildAccount::from_wire(E, user)?;
            }
            for id in reply.id {
                ChildAccount::from_bare_id(E, &parent, id)?;
            }
            Ok(())
        }),
    )?;
    only_decode_errors("connectors", decode_connectors(E, body))?;
    only_decode_errors(
        "health",
        decode_xml::<wire::DevHealth>(E, body, &["devhealth"]).map(ConnectorHealth::from_wire),
    )?;
    only_decode_errors(
        "status",
        decode_xml::<wire::DevStatus>(E, body, &["devstatus"])
            .and_then(|reply| DeviceStatus::from_wire(E, reply)),
    )?;
    only_decode_errors(
        "snapshots",
        decode_xml::<wire::History>(E, body, crate::api::HISTORY_ROOTS)
            .and_then(|reply| Snapshot::list_from_history(E, reply)),
    )?;
    only_decode_errors(
        "backup summary",
        decode_xml::<wire::BackupSummary>(E, body, &["backup-summary"]).and_then(|reply| {
            reply
                .device
                .into_iter()
                .map(|device| BackupSummaryEntry::from_wire(E, device))
                .collect::<Result<Vec<_>>>()
        }),
    )?;
    only_decode_errors("jobs", decode_jobs(E, body))?;
    only_decode_errors("single job", decode_single_job(E, body))?;
    only_decode_errors("audit (lenient)", decode_audit_records(E, body, true))?;
    only_decode_errors("audit (strict)", decode_audit_records(E, body, false))?;
    only_decode_errors("skipped items", crate::api::parse_skipped_items(E, body))?;
    // Error bodies are read for their code only; anything else is no error body.
    let _ = wire::ErrorBody::parse(body);
    Ok(())
}

/// A GUID in Keepit's shape, sometimes in upper case or padded (both are accepted).
fn guid() -> impl Strategy<Value = String> {
    (
        "[a-z0-9]{6}-[a-z0-9]{6}-[a-z0-9]{6}",
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, upper, padded)| {
            let id = if upper { id.to_uppercase() } else { id };
            if padded { format!(" {id}\n") } else { id }
        })
}

/// Names with markup characters, entities-to-be and any Unicode.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 &<>'\"]{1,20}",
        any::<String>().prop_filter("XML 1.0 characters only", |text| {
            text.chars().all(|c| {
                matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
            })
        }),
    ]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_000_000_000).prop_map(|seconds| Utc.timestamp_opt(seconds, 0).unwrap())
}

/// XML text as Keepit would send it, line endings included: `\r` is escaped so that
/// the reader's line-ending normalisation keeps it.
fn xml_text(text: &str) -> String {
    escape(text).replace('\r', "&#13;")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_body_makes_a_decoder_panic_or_misreport(body in hostile_body()) {
        decode_with_every_decoder(&body)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn connector_lists_decode_to_what_was_written(
        entries in proptest::collection::vec(
            (guid(), name(), any::<bool>(), any::<bool>(), proptest::option::of(instant())),
            0..12,
        ),
        junk in proptest::option::of("[a-z]{1,8}"),
    ) {
        let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<devices>");
        for (guid, name, cloud, accessible, created) in &entries {
            let tag = if *cloud { "cloud" } else { "device" };
            body.push_str(&format!(
                "<{tag}><guid>{}</guid><name>{}</name><type>o365-admin</type><accessible>{accessible}</accessible>",
                xml_text(guid),
                xml_text(name),
            ));
            if let Some(created) = created {
                body.push_str(&format!("<created>{}</created>", created.to_rfc3339()));
            }
            if let Some(junk) = &junk {
                // Unknown elements are skipped wherever they stand.
                body.push_str(&format!("<{junk}><nested>x</nested></{junk}>"));
            }
            body.push_str(&format!("</{tag}>"));
        }
        body.push_str("</devices>");

        let decoded = decode_connectors(E, &body).map_err(|err| TestCaseError::fail(format!("{err:?}")))?;
        // Clouds come first, then devices, each in document order.
        let expected: Vec<_> = entries
            .iter()
            .filter(|entry| entry.2)
            .chain(entries.iter().filter(|entry| !entry.2))
            .collect();
        prop_assert_eq!(decoded.len(), expected.len());
        for (connector, (guid, name, _, accessible, created)) in decoded.iter().zip(expected) {
            let id = guid.trim().to_lowercase();
            prop_assert_eq!(connector.id.as_str(), id.as_str());
            let trimmed = name.trim();
            let expected_name = if trimmed.is_empty() { id.as_str() } else { trimmed };
            prop_assert_eq!(connector.name.as_str(), expected_name);
            prop_assert_eq!(connector.accessible, *accessible);
            prop_assert_eq!(connector.created, *created);
        }
    }

    #[test]
    fn job_lists_decode_to_what_was_written(
        entries in proptest::collection::vec(
            (guid(), proptest::option::of(instant()), proptest::option::of(instant()), proptest::option::of(name()), 0u32..=100),
            0..12,
        ),
    ) {
        let mut body = String::from("<jobs>");
        for (guid, started, failed, description, progress) in &entries {
            body.push_str(&format!("<job><guid>{}</guid><type>backup</type><active>false</active>", xml_text(guid)));
            if let Some(at) = started {
                body.push_str(&format!("<started>{}</started>", at.to_rfc3339()));
            }
            if let Some(at) = failed {
                body.push_str(&format!("<failed>{}</failed>", at.to_rfc3339()));
            }
            if let Some(text) = description {
                body.push_str(&format!("<description>{}</description>", xml_text(text)));
            }
            body.push_str(&format!("<progress>{}</progress></job>", f64::from(*progress) / 100.0));
        }
        body.push_str("</jobs>");

        let decoded = decode_jobs(E, &body).map_err(|err| TestCaseError::fail(format!("{err:?}")))?;
        prop_assert_eq!(decoded.len(), entries.len());
        for (job, (guid, started, failed, description, progress)) in decoded.iter().zip(&entries) {
            let id = guid.trim().to_lowercase();
            prop_assert_eq!(job.id.as_str(), id.as_str());
            prop_assert_eq!(job.started, *started);
            prop_assert_eq!(job.failed, *failed);
            let description = description.as_deref().map(str::trim).filter(|text| !text.is_empty());
            prop_assert_eq!(job.description.as_deref(), description);
            prop_assert_eq!(job.progress, Some(f64::from(*progress) / 100.0));
        }
    }
}
