//! Tests for the failure-reason catalogue and the mappings onto it.

use std::collections::HashSet;

use super::*;

#[test]
fn every_seed_backup_reason_is_catalogued() {
    let backup: Vec<ReasonCode> = catalogue(ReasonScope::Backup)
        .map(|entry| entry.code)
        .collect();
    let expected = [
        ReasonCode::JobAborted,
        ReasonCode::EncounteredProblem,
        ReasonCode::NotGlobalAdmin,
        ReasonCode::AuthenticationFailed,
        ReasonCode::ApiRequestLimitReached,
        ReasonCode::ConfigurationInvalid,
        ReasonCode::IncidentOccurred,
        ReasonCode::SalesforceApiDisabled,
        ReasonCode::AuthorizationError,
        ReasonCode::TenantNoLongerExists,
        ReasonCode::AuthorizationServerUnavailable,
        ReasonCode::OrganizationNotFound,
        ReasonCode::EntraGroupsMissing,
        ReasonCode::AzureDevOpsOrganizationsMissing,
    ];
    assert_eq!(backup, expected);
}

#[test]
fn every_seed_restore_reason_is_catalogued() {
    let restore: Vec<ReasonCode> = catalogue(ReasonScope::Restore)
        .map(|entry| entry.code)
        .collect();
    let expected = [
        ReasonCode::SomeItemsSkipped,
        ReasonCode::AllItemsSkipped,
        ReasonCode::JobAborted,
        ReasonCode::EncounteredProblem,
        ReasonCode::NotGlobalAdmin,
        ReasonCode::AuthenticationFailed,
        ReasonCode::ApiRequestLimitReached,
        ReasonCode::ConfigurationInvalid,
        ReasonCode::IncidentOccurred,
        ReasonCode::SalesforceApiDisabled,
        ReasonCode::AuthorizationError,
        ReasonCode::TenantNoLongerExists,
        ReasonCode::AuthorizationServerUnavailable,
    ];
    assert_eq!(restore, expected);
}

#[test]
fn entries_are_complete_and_unique_per_scope() {
    let mut seen = HashSet::new();
    for scope in [
        ReasonScope::Backup,
        ReasonScope::Restore,
        ReasonScope::Connector,
    ] {
        for entry in catalogue(scope) {
            assert!(
                seen.insert((entry.code, entry.scope)),
                "duplicate entry {:?} {:?}",
                entry.code,
                entry.scope
            );
            for (field, text) in [
                ("title", entry.title),
                ("explanation", entry.explanation),
                ("resolution", entry.resolution),
            ] {
                assert!(
                    !text.trim().is_empty(),
                    "{:?} {:?} has an empty {field}",
                    entry.code,
                    entry.scope
                );
            }
            let asks_support = entry.remedy == Remedy::ContactSupport;
            assert_eq!(
                asks_support,
                !entry.support_details.is_empty(),
                "{:?} {:?}: support details only where support is the advice",
                entry.code,
                entry.scope
            );
        }
    }
    for code in ReasonCode::all() {
        assert_eq!(
            code.entry(ReasonScope::Backup).code,
            code,
            "{code} has an entry"
        );
        assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
    }
}

#[test]
fn remedies_follow_the_job_monitor_advice() {
    let aborted = ReasonCode::JobAborted.entry(ReasonScope::Backup);
    assert!(aborted.rescheduled_automatically());
    assert!(!aborted.action_required());
    let auth = ReasonCode::AuthenticationFailed.entry(ReasonScope::Backup);
    assert!(auth.action_required());
    assert_eq!(
        ReasonCode::AuthorizationServerUnavailable
            .entry(ReasonScope::Backup)
            .remedy,
        Remedy::NoneRescheduled
    );
    assert_eq!(
        ReasonCode::AuthorizationServerUnavailable
            .entry(ReasonScope::Restore)
            .remedy,
        Remedy::RetryLater
    );
    assert_eq!(
        ReasonCode::IncidentOccurred
            .entry(ReasonScope::Restore)
            .remedy,
        Remedy::WatchForRepeats
    );
    // Support wants the skipped-items report for restores but not for backups.
    assert_eq!(
        ReasonCode::EncounteredProblem
            .entry(ReasonScope::Backup)
            .support_details,
        &[SupportDetail::ServiceId, SupportDetail::ConnectorName]
    );
    assert!(
        ReasonCode::EncounteredProblem
            .entry(ReasonScope::Restore)
            .support_details
            .contains(&SupportDetail::SkippedItemsReport)
    );
    // A backup-only reason asked for in restore scope falls back to the backup entry.
    assert_eq!(
        ReasonCode::EntraGroupsMissing
            .entry(ReasonScope::Restore)
            .scope,
        ReasonScope::Backup
    );
}

#[track_caller]
fn check_code(ecode: &str, kind: Option<ConnectorKind>, expect: ReasonCode) {
    let parsed = ConnectorErrorCode::from_wire(ecode);
    assert_eq!(
        FailureReason::from_error_code(&parsed, kind.as_ref()),
        FailureReason::Known(expect),
        "{ecode}"
    );
}

#[test]
fn every_known_error_code_maps() {
    check_code("E_LOGIN", None, ReasonCode::AuthenticationFailed);
    check_code("E_REVOKED", None, ReasonCode::AuthenticationFailed);
    check_code("E_LOGIN_ADMIN", None, ReasonCode::NotGlobalAdmin);
    check_code("E_TERM", None, ReasonCode::JobAborted);
    check_code("E_CONFIG", None, ReasonCode::ConfigurationInvalid);
    check_code("E_EMPTY_ROOT", None, ReasonCode::OrganizationNotFound);
    check_code(
        "E_INCOMPLETE_CONNECTOR_CONFIG",
        Some(ConnectorKind::EntraId),
        ReasonCode::EntraGroupsMissing,
    );
    check_code(
        "E_INCOMPLETE_CONNECTOR_CONFIG",
        Some(ConnectorKind::AzureDevOps),
        ReasonCode::AzureDevOpsOrganizationsMissing,
    );
    check_code("E_QUOTA", None, ReasonCode::SeatLimitExceeded);
    check_code(
        "E_INITIAL_CONFIGURATION_PENDING",
        None,
        ReasonCode::InitialConfigurationPending,
    );
    check_code(
        "E_DEDICATED_APP_IS_NOT_PRESENT_CRITICAL",
        None,
        ReasonCode::TeamsAppMissing,
    );
    check_code(
        "E_WORKLOADS_WITH_MISSING_PLANS_PRESENT_UNHEALTHY",
        None,
        ReasonCode::UnlicensedWorkloads,
    );
    for code in [
        "E_START",
        "E_RESOLVE",
        "E_CONNECT",
        "E_READ",
        "E_WRITE",
        "E_READ_API",
        "E_WRITE_API",
        "E_OVERSIZE_ROOT",
    ] {
        check_code(code, None, ReasonCode::EncounteredProblem);
    }
    for code in ConnectorErrorCode::known() {
        assert!(
            matches!(
                FailureReason::from_error_code(&code, None),
                FailureReason::Known(_)
            ),
            "{code} must map"
        );
    }
}

#[test]
fn every_known_health_reason_maps() {
    let cases = [
        ("BADLOGIN", ReasonCode::AuthenticationFailed),
        ("BADTOKEN", ReasonCode::AuthenticationFailed),
        ("NONADMINLOGIN", ReasonCode::NotGlobalAdmin),
        ("QUOTAVIOLATED", ReasonCode::SeatLimitExceeded),
        ("NOCHECKIN", ReasonCode::NoRecentBackup),
        ("CLOUDNOCHECKIN", ReasonCode::NoRecentBackup),
        ("GENERIC", ReasonCode::EncounteredProblem),
    ];
    for (wire, expect) in cases {
        assert_eq!(
            FailureReason::from_health_reason(&HealthReason::from_wire(wire)),
            Some(FailureReason::Known(expect)),
            "{wire}"
        );
    }
    assert_eq!(FailureReason::from_health_reason(&HealthReason::Ok), None);
}

#[test]
fn summaries_map_by_keywords() {
    let cases = [
        (
            "Authentication with the SaaS application failed",
            ReasonCode::AuthenticationFailed,
        ),
        ("Job aborted", ReasonCode::JobAborted),
        ("We encountered a problem", ReasonCode::EncounteredProblem),
        (
            "Your Microsoft account is not a Global Admin",
            ReasonCode::NotGlobalAdmin,
        ),
        (
            "Your API request limit has been reached",
            ReasonCode::ApiRequestLimitReached,
        ),
        (
            "Your backup configuration file is not valid",
            ReasonCode::ConfigurationInvalid,
        ),
        (
            "Your restore configuration file is invalid",
            ReasonCode::ConfigurationInvalid,
        ),
        (
            "An incident occurred on the server",
            ReasonCode::IncidentOccurred,
        ),
        (
            "Salesforce API access disabled",
            ReasonCode::SalesforceApiDisabled,
        ),
        (
            "An authorization error occurred",
            ReasonCode::AuthorizationError,
        ),
        (
            "Your tenant no longer exists",
            ReasonCode::TenantNoLongerExists,
        ),
        (
            "The authorization server is temporarily unavailable",
            ReasonCode::AuthorizationServerUnavailable,
        ),
        (
            "We could not find an organization",
            ReasonCode::OrganizationNotFound,
        ),
        ("Entra ID groups missing", ReasonCode::EntraGroupsMissing),
        (
            "Azure DevOps organizations missing",
            ReasonCode::AzureDevOpsOrganizationsMissing,
        ),
        ("At least one item skipped", ReasonCode::SomeItemsSkipped),
        ("All items skipped", ReasonCode::AllItemsSkipped),
    ];
    for (text, expect) in cases {
        assert_eq!(
            FailureReason::from_summary(text),
            Some(FailureReason::Known(expect)),
            "{text}"
        );
    }
    assert_eq!(FailureReason::from_summary("   "), None);
}

#[test]
fn unknown_values_round_trip_verbatim() {
    let from_code =
        FailureReason::from_error_code(&ConnectorErrorCode::from_wire("E_BRAND_NEW"), None);
    assert_eq!(
        from_code,
        FailureReason::Unrecognized {
            raw: "E_BRAND_NEW".into()
        }
    );
    assert_eq!(from_code.code(), "unknown");
    assert_eq!(from_code.raw(), Some("E_BRAND_NEW"));
    assert_eq!(
        FailureReason::from_stored(from_code.code(), from_code.raw()),
        from_code
    );
    assert_eq!(from_code.to_string(), "unknown (E_BRAND_NEW)");

    let from_health =
        FailureReason::from_health_reason(&HealthReason::from_wire("SOMETHINGNEW")).unwrap();
    assert_eq!(from_health.raw(), Some("SOMETHINGNEW"));
    let from_text = FailureReason::from_summary(" Flux capacitor overheated ").unwrap();
    assert_eq!(
        from_text,
        FailureReason::Unrecognized {
            raw: "Flux capacitor overheated".into()
        }
    );
    assert!(from_text.entry(ReasonScope::Backup).is_none());

    let known = FailureReason::Known(ReasonCode::TenantNoLongerExists);
    assert_eq!(FailureReason::from_stored(known.code(), None), known);
}

#[test]
fn condition_classes_drive_alerting() {
    assert_eq!(
        ReasonCode::AuthenticationFailed.condition_class(),
        ConditionClass::Authentication
    );
    assert_eq!(
        ReasonCode::NotGlobalAdmin.condition_class(),
        ConditionClass::Permissions
    );
    assert_eq!(
        ReasonCode::SeatLimitExceeded.condition_class(),
        ConditionClass::Quota
    );
    assert!(ReasonCode::AuthenticationFailed.prevents_start());
    assert!(!ReasonCode::JobAborted.prevents_start());
    assert!(!ReasonCode::IncidentOccurred.prevents_start());
}
