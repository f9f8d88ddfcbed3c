//! Property tests: the domain's parsers and the company-name normaliser take any text
//! without panicking, and what they accept they give back unchanged.

use keepit_domain::{
    AccountId, AuditCategory, ConnectorId, Health, JobId, JobStatus, MessageKind, ReasonCode,
    normalize_company_name,
};
use proptest::prelude::*;

/// Text that looks like company names: Latin letters with accents, other scripts,
/// punctuation, legal suffixes and odd Unicode (combining marks, compatibility forms).
fn company_name() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        "[A-Za-z]{1,8}",
        Just("Inc".to_owned()),
        Just("A/S".to_owned()),
        Just("GmbH & Co. KG".to_owned()),
        Just("Pty Ltd".to_owned()),
        Just("Société".to_owned()),
        Just("Ørsted".to_owned()),
        Just("İstanbul".to_owned()),
        Just("ǅ".to_owned()),
        Just("ﬁ".to_owned()),
        Just("\u{0301}".to_owned()),
        Just("株式会社".to_owned()),
        Just("Straße".to_owned()),
        "[ \t&.,/()-]{1,3}",
        any::<String>(),
    ];
    proptest::collection::vec(pieces, 0..6).prop_map(|parts| parts.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn normalised_names_are_a_fixed_point(name in company_name()) {
        let once = normalize_company_name(&name);
        prop_assert_eq!(&normalize_company_name(&once), &once, "from {:?}", name);
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
        prop_assert_eq!(once.to_lowercase(), once, "not lowercase");
    }

    #[test]
    fn ascii_case_never_changes_a_match(name in company_name()) {
        prop_assert_eq!(
            normalize_company_name(&name.to_ascii_uppercase()),
            normalize_company_name(&name.to_ascii_lowercase())
        );
    }

    #[test]
    fn parsers_take_any_text_and_round_trip_what_they_accept(code in any::<String>()) {
        if let Ok(status) = JobStatus::parse(&code) {
            prop_assert_eq!(JobStatus::parse(status.as_str()), Ok(status));
        }
        if let Ok(kind) = MessageKind::parse(&code) {
            prop_assert_eq!(MessageKind::parse(kind.as_str()).ok(), Some(kind));
        }
        if let Ok(health) = Health::parse(&code) {
            prop_assert_eq!(Health::parse(health.as_str()).ok(), Some(health));
        }
        if let Some(reason) = ReasonCode::parse(&code) {
            prop_assert_eq!(ReasonCode::parse(reason.as_str()), Some(reason));
        }
        if let Some(category) = AuditCategory::parse(&code) {
            prop_assert_eq!(AuditCategory::parse(category.as_str()), Some(category));
        }
        // Wire readers are lenient: anything is some value, never a panic.
        let _ = Health::from_wire(&code);
        let _ = keepit_domain::JobType::from_wire(&code);
        let _ = keepit_domain::ConnectorKind::from_wire(&code, Some(&code));
    }

    #[test]
    fn ids_refuse_or_keep_any_text(text in prop_oneof![any::<String>(), "[ A-Za-z0-9_-]{0,30}"]) {
        if let Ok(id) = AccountId::new(&text) {
            prop_assert_eq!(AccountId::new(id.as_str()).ok(), Some(id));
        }
        if let Ok(id) = ConnectorId::new(&text) {
            prop_assert_eq!(ConnectorId::new(id.as_str()).ok(), Some(id));
        }
        if let Ok(id) = JobId::new(&text) {
            prop_assert_eq!(JobId::new(id.as_str()).ok(), Some(id));
        }
    }
}
