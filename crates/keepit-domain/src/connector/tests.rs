//! Tests for connector kinds, health and error codes.

use chrono::TimeZone;

use super::*;

#[track_caller]
fn check_kind(connector_type: &str, agent: Option<&str>, expect: ConnectorKind, code: &str) {
    let kind = ConnectorKind::from_wire(connector_type, agent);
    assert_eq!(kind, expect, "from_wire({connector_type:?}, {agent:?})");
    assert_eq!(kind.code(), code);
    assert_eq!(
        ConnectorKind::from_code(code),
        kind,
        "code {code} must round-trip"
    );
}

#[test]
fn every_cloud_kind_is_recognised() {
    check_kind(
        "o365-admin",
        None,
        ConnectorKind::Microsoft365,
        "o365-admin",
    );
    check_kind("azure-ad", None, ConnectorKind::EntraId, "azure-ad");
    check_kind("gsuite", None, ConnectorKind::GoogleWorkspace, "gsuite");
    check_kind("sforce", None, ConnectorKind::Salesforce, "sforce");
    check_kind(
        "dynamics365",
        None,
        ConnectorKind::Dynamics365,
        "dynamics365",
    );
    check_kind("powerbi", None, ConnectorKind::PowerBi, "powerbi");
    check_kind("azure-do", None, ConnectorKind::AzureDevOps, "azure-do");
    check_kind(" Zendesk ", None, ConnectorKind::Zendesk, "zendesk");
}

#[test]
fn every_dsl_agent_is_recognised() {
    let agents = [
        ("jira", DslAgent::Jira),
        ("confluence", DslAgent::Confluence),
        ("jsm", DslAgent::JiraServiceManagement),
        ("bamboohr", DslAgent::BambooHr),
        ("docusign", DslAgent::DocuSign),
        ("okta", DslAgent::Okta),
        ("miro", DslAgent::Miro),
        ("gitlab", DslAgent::GitLab),
        ("github", DslAgent::GitHub),
        ("monday", DslAgent::Monday),
        ("autodesk-forma", DslAgent::AutodeskForma),
    ];
    for (wire, agent) in agents.clone() {
        check_kind(
            "dsl",
            Some(wire),
            ConnectorKind::Dsl(agent),
            &format!("dsl:{wire}"),
        );
    }
    assert_eq!(DslAgent::known().count(), agents.len());
    assert_eq!(
        ConnectorKind::Dsl(DslAgent::Okta).agent_type(),
        Some("okta")
    );
    assert_eq!(ConnectorKind::Dsl(DslAgent::Okta).wire_type(), "dsl");
}

#[test]
fn unknown_kinds_are_kept() {
    check_kind(
        "newthing",
        None,
        ConnectorKind::Other("newthing".into()),
        "newthing",
    );
    check_kind(
        "dsl",
        Some("Asana"),
        ConnectorKind::Dsl(DslAgent::Other("asana".into())),
        "dsl:asana",
    );
    check_kind("dsl", None, ConnectorKind::DslUnspecified, "dsl");
    check_kind("dsl", Some("  "), ConnectorKind::DslUnspecified, "dsl");
    assert_eq!(
        ConnectorKind::Other("newthing".into()).display_name(),
        "unknown connector type 'newthing'"
    );
}

#[test]
fn health_is_case_insensitive_and_open() {
    assert_eq!(Health::from_wire("healthy"), Health::Healthy);
    assert_eq!(Health::from_wire("Unhealthy"), Health::Unhealthy);
    assert_eq!(Health::from_wire(" CRITICAL\n"), Health::Critical);
    assert_eq!(Health::from_wire("degraded"), Health::Unknown);
    assert_eq!(Health::from_wire(""), Health::Unknown);
    for health in [
        Health::Healthy,
        Health::Unhealthy,
        Health::Critical,
        Health::Unknown,
    ] {
        assert_eq!(Health::parse(health.as_str()), Ok(health));
    }
    assert_eq!(
        Health::parse("Healthy"),
        Err(ParseHealthError("Healthy".into()))
    );
}

#[test]
fn health_reasons_round_trip_and_unknowns_are_kept() {
    for reason in HealthReason::known() {
        assert_eq!(HealthReason::from_wire(reason.as_str()), reason);
    }
    assert_eq!(
        HealthReason::from_wire(" badlogin "),
        HealthReason::BadLogin
    );
    let unknown = HealthReason::from_wire("somethingnew");
    assert_eq!(unknown, HealthReason::Other("SOMETHINGNEW".into()));
    assert_eq!(unknown.as_str(), "SOMETHINGNEW");
}

#[test]
fn error_codes_round_trip_and_suffix_families_fold() {
    for code in ConnectorErrorCode::known() {
        assert_eq!(ConnectorErrorCode::from_wire(code.as_str()), code);
    }
    assert_eq!(
        ConnectorErrorCode::from_wire("E_DEDICATED_APP_IS_NOT_PRESENT_CRITICAL"),
        ConnectorErrorCode::DedicatedAppMissing
    );
    assert_eq!(
        ConnectorErrorCode::from_wire("E_WORKLOADS_WITH_MISSING_PLANS_PRESENT_UNHEALTHY"),
        ConnectorErrorCode::WorkloadsWithoutPlans
    );
    assert_eq!(
        ConnectorErrorCode::from_wire("e_brand_new"),
        ConnectorErrorCode::Other("E_BRAND_NEW".into())
    );
}

#[test]
fn only_accessible_connectors_not_pending_deletion_are_active() {
    let deadline = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
    assert!(
        ConnectorState {
            accessible: true,
            deletion_deadline: None
        }
        .is_active()
    );
    assert!(
        !ConnectorState {
            accessible: false,
            deletion_deadline: None
        }
        .is_active()
    );
    assert!(
        !ConnectorState {
            accessible: true,
            deletion_deadline: Some(deadline)
        }
        .is_active()
    );
}

#[test]
fn snapshot_kinds() {
    assert_eq!(SnapshotKind::from_wire("C"), SnapshotKind::Complete);
    assert_eq!(SnapshotKind::from_wire("p "), SnapshotKind::Partial);
    assert_eq!(
        SnapshotKind::from_wire("x"),
        SnapshotKind::Other("x".into())
    );
}
