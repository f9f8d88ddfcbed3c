//! Decode throughput against a bare quick-xml event pass over the same bytes.
//!
//! Run with `cargo bench -p keepit-client --bench decode`. Prints MB/s for the full
//! decode (XML -> wire types -> domain types) and for a plain event loop that only
//! tokenises the document, and the ratio of the two.

#![allow(clippy::print_stdout)] // A benchmark reports its figures on stdout.

use std::hint::black_box;
use std::time::{Duration, Instant};

use quick_xml::Reader;
use quick_xml::events::Event;

fn audit_page(records: usize) -> String {
    let mut body = String::from("<audit>\n");
    for index in 0..records {
        body.push_str(&format!(
            "  <record>\n    <time>2026-01-{:02}T{:02}:{:02}:{:02}Z</time>\n    <account>acct{:02}-aaaaaa-bbbbbb</account>\n    <company>Customer {} Ltd</company>\n    <token>user{}@customer.example</token>\n    <client-ip>203.0.113.{}</client-ip>\n    <acl>DevJobs</acl>\n    <method>put</method>\n    <allowed>true</allowed>\n    <succeeded>{}</succeeded>\n    <area>Backup/Restore</area>\n    <message>Scheduled a restore for connector Microsoft 365 number {}</message>\n    <device>dev{:03}-cccccc-dddddd</device>\n    <metadata><parameter><key>job</key><value>job{:03}-eeeeee-ffffff-gggggg</value></parameter></metadata>\n  </record>\n",
            index % 28 + 1, index % 24, index % 60, index % 60, index % 100, index, index % 50, index % 250, index % 7 != 0, index, index % 1000, index % 1000
        ));
    }
    body.push_str("</audit>\n");
    body
}

fn device_list(connectors: usize) -> String {
    let kinds = [
        "o365-admin",
        "azure-ad",
        "gsuite",
        "sforce",
        "dynamics365",
        "powerbi",
        "azure-do",
        "zendesk",
    ];
    let mut body = String::from("<devices>\n");
    for index in 0..connectors {
        let kind = kinds[index % kinds.len()];
        let agent = if index % 9 == 0 {
            "    <agent-type>jira</agent-type>\n"
        } else {
            ""
        };
        let kind = if index % 9 == 0 { "dsl" } else { kind };
        body.push_str(&format!(
            "  <cloud>\n    <guid>c{index:05}-nn3ct0-r00001</guid>\n    <name>Customer connector {index}</name>\n    <type>{kind}</type>\n{agent}    <created>2024-05-02T10:15:00Z</created>\n    <accessible>true</accessible>\n    <backup-retention>P1Y</backup-retention>\n    <backup-retention-updated>2024-05-02T10:16:00Z</backup-retention-updated>\n    <orglink>org111-222333-444555</orglink>\n  </cloud>\n",
        ));
    }
    body.push_str("</devices>\n");
    body
}

fn bare_pass(body: &str) -> usize {
    let mut reader = Reader::from_str(body);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(_) => events += 1,
            Err(err) => panic!("benchmark input is valid XML: {err}"),
        }
    }
    events
}

/// Median time of `runs` calls of `work`, after one warm-up call.
fn measure(runs: usize, mut work: impl FnMut()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn report(name: &str, body: &str, decode: impl Fn(&str) -> usize) {
    let megabytes = body.len() as f64 / 1_000_000.0;
    let runs = 15;
    let decoded = measure(runs, || {
        black_box(decode(black_box(body)));
    });
    let bare = measure(runs, || {
        black_box(bare_pass(black_box(body)));
    });
    let decode_rate = megabytes / decoded.as_secs_f64();
    let bare_rate = megabytes / bare.as_secs_f64();
    println!(
        "{name:<28} {megabytes:>6.2} MB  decode {decode_rate:>7.1} MB/s  bare quick-xml {bare_rate:>7.1} MB/s  ratio decode/bare {:.2}",
        decode_rate / bare_rate
    );
}

fn main() {
    let audit = audit_page(10_000);
    let devices = device_list(5_000);
    assert_eq!(
        keepit_client::decode_audit_page(&audit)
            .map(|records| records.len())
            .ok(),
        Some(10_000)
    );
    assert_eq!(
        keepit_client::decode_connectors(&devices)
            .map(|connectors| connectors.len())
            .ok(),
        Some(5_000)
    );
    println!("median of 15 runs each, release build");
    report("audit page, 10,000 records", &audit, |body| {
        keepit_client::decode_audit_page(body)
            .map(|records| records.len())
            .unwrap_or(0)
    });
    report("device list, 5,000 connectors", &devices, |body| {
        keepit_client::decode_connectors(body)
            .map(|connectors| connectors.len())
            .unwrap_or(0)
    });
}
