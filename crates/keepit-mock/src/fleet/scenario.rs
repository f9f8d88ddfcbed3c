//! The situations a generated connector is put in, and the failure summaries jobs carry.

use keepit_domain::{ConnectorKind, Health, HealthReason, ReasonCode};

/// The situation a generated connector was put in on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnectorScenario {
    /// Backs up twice a day (by default) and succeeds; its latest backup succeeded.
    Healthy,
    /// Backups stopped 1 to 2 days ago: no check-in (stale, warning stage).
    StaleWarning,
    /// Backups stopped 2.5 to 6 days ago: no check-in (stale, critical).
    StaleCritical,
    /// The cloud side stopped checking in 2 to 5 days ago (stale, critical).
    CloudNoCheckIn,
    /// The SaaS sign-in broke recently; every backup since failed (`BADLOGIN`, `E_LOGIN`).
    AuthenticationFailed,
    /// The SaaS token was revoked more than 2 days ago: failing and stale (`BADTOKEN`, `E_REVOKED`).
    AuthenticationFailedStale,
    /// The Microsoft service account lost the Global Administrator role (`E_LOGIN_ADMIN`).
    NotGlobalAdmin,
    /// The account's seat limit is exceeded (`QUOTAVIOLATED`, `E_QUOTA`).
    SeatLimitExceeded,
    /// The backup configuration is invalid (`E_CONFIG`).
    ConfigurationInvalid,
    /// Entra ID groups in the selection were deleted (`E_INCOMPLETE_CONNECTOR_CONFIG`).
    EntraGroupsMissing,
    /// Azure DevOps organisations in the selection were deleted (`E_INCOMPLETE_CONNECTOR_CONFIG`).
    AzureDevOpsOrganizationsMissing,
    /// No organisation behind the sign-in (`E_EMPTY_ROOT`).
    OrganizationNotFound,
    /// The protected tenant no longer exists.
    TenantNoLongerExists,
    /// API access is switched off for the Salesforce organisation (`E_READ_API`).
    SalesforceApiDisabled,
    /// The Salesforce API allowance is used up (device status 7).
    SalesforceApiLimitReached,
    /// Created but never configured: no job, no snapshot (`E_INITIAL_CONFIGURATION_PENDING`).
    InitialConfigurationPending,
    /// Teams chats need an app registration (`E_DEDICATED_APP_IS_NOT_PRESENT_UNHEALTHY`); backups run.
    TeamsAppMissing,
    /// Unlicensed Microsoft 365 workloads (`E_WORKLOADS_WITH_MISSING_PLANS_PRESENT_CRITICAL`); backups run.
    UnlicensedWorkloads,
    /// Healthy history, but the latest backup was unsuccessful (`E_START`).
    LatestBackupUnsuccessful,
    /// Healthy history, but the latest backup was incomplete (`E_TERM`, partial snapshot).
    LatestBackupIncomplete,
    /// The credentials may not see this connector (`accessible` false); otherwise healthy.
    Inaccessible,
    /// Scheduled for deletion; backups stopped (listed only with `?all=1`).
    DeletionPending,
}

impl ConnectorScenario {
    /// Every scenario.
    pub const ALL: [ConnectorScenario; 22] = [
        ConnectorScenario::Healthy,
        ConnectorScenario::StaleWarning,
        ConnectorScenario::StaleCritical,
        ConnectorScenario::CloudNoCheckIn,
        ConnectorScenario::AuthenticationFailed,
        ConnectorScenario::AuthenticationFailedStale,
        ConnectorScenario::NotGlobalAdmin,
        ConnectorScenario::SeatLimitExceeded,
        ConnectorScenario::ConfigurationInvalid,
        ConnectorScenario::EntraGroupsMissing,
        ConnectorScenario::AzureDevOpsOrganizationsMissing,
        ConnectorScenario::OrganizationNotFound,
        ConnectorScenario::TenantNoLongerExists,
        ConnectorScenario::SalesforceApiDisabled,
        ConnectorScenario::SalesforceApiLimitReached,
        ConnectorScenario::InitialConfigurationPending,
        ConnectorScenario::TeamsAppMissing,
        ConnectorScenario::UnlicensedWorkloads,
        ConnectorScenario::LatestBackupUnsuccessful,
        ConnectorScenario::LatestBackupIncomplete,
        ConnectorScenario::Inaccessible,
        ConnectorScenario::DeletionPending,
    ];

    /// Whether a connector of `kind` can be in this situation.
    pub fn fits(self, kind: &ConnectorKind) -> bool {
        use ConnectorScenario as S;
        match self {
            S::NotGlobalAdmin | S::TeamsAppMissing | S::UnlicensedWorkloads => {
                *kind == ConnectorKind::Microsoft365
            }
            S::EntraGroupsMissing => *kind == ConnectorKind::EntraId,
            S::AzureDevOpsOrganizationsMissing => *kind == ConnectorKind::AzureDevOps,
            S::SalesforceApiDisabled | S::SalesforceApiLimitReached => {
                *kind == ConnectorKind::Salesforce
            }
            S::TenantNoLongerExists => matches!(
                kind,
                ConnectorKind::Microsoft365 | ConnectorKind::EntraId | ConnectorKind::Salesforce
            ),
            _ => true,
        }
    }

    /// How the connector looks and behaves.
    pub(crate) fn profile(self) -> Profile {
        use Behaviour as B;
        use ConnectorScenario as S;
        use HealthReason as H;
        use ReasonCode as R;
        let (health, reason, ecode, status_code, condition, behaviour) = match self {
            S::Healthy | S::Inaccessible => (Health::Healthy, H::Ok, None, 0, None, B::Normal),
            S::StaleWarning => (
                Health::Unhealthy,
                H::NoCheckIn,
                None,
                0,
                Some(R::NoRecentBackup),
                B::Stopped(26, 30),
            ),
            S::StaleCritical => (
                Health::Critical,
                H::NoCheckIn,
                None,
                0,
                Some(R::NoRecentBackup),
                B::Stopped(60, 150),
            ),
            S::CloudNoCheckIn => (
                Health::Critical,
                H::CloudNoCheckIn,
                Some("E_CONNECT"),
                5,
                Some(R::NoRecentBackup),
                B::Stopped(50, 120),
            ),
            S::DeletionPending => (
                Health::Critical,
                H::NoCheckIn,
                None,
                0,
                Some(R::NoRecentBackup),
                B::Stopped(50, 200),
            ),
            S::AuthenticationFailed => (
                Health::Critical,
                H::BadLogin,
                Some("E_LOGIN"),
                5,
                Some(R::AuthenticationFailed),
                B::Failing(14, 40, R::AuthenticationFailed),
            ),
            S::AuthenticationFailedStale => (
                Health::Critical,
                H::BadToken,
                Some("E_REVOKED"),
                5,
                Some(R::AuthenticationFailed),
                B::Failing(60, 160, R::AuthenticationFailed),
            ),
            S::NotGlobalAdmin => (
                Health::Critical,
                H::NonAdminLogin,
                Some("E_LOGIN_ADMIN"),
                5,
                Some(R::NotGlobalAdmin),
                B::Failing(14, 60, R::NotGlobalAdmin),
            ),
            S::SeatLimitExceeded => (
                Health::Critical,
                H::QuotaViolated,
                Some("E_QUOTA"),
                5,
                Some(R::SeatLimitExceeded),
                B::Failing(14, 80, R::SeatLimitExceeded),
            ),
            S::ConfigurationInvalid => (
                Health::Unhealthy,
                H::Generic,
                Some("E_CONFIG"),
                5,
                Some(R::ConfigurationInvalid),
                B::Failing(14, 36, R::ConfigurationInvalid),
            ),
            S::EntraGroupsMissing => (
                Health::Unhealthy,
                H::Generic,
                Some("E_INCOMPLETE_CONNECTOR_CONFIG"),
                5,
                Some(R::EntraGroupsMissing),
                B::Failing(14, 36, R::EntraGroupsMissing),
            ),
            S::AzureDevOpsOrganizationsMissing => (
                Health::Unhealthy,
                H::Generic,
                Some("E_INCOMPLETE_CONNECTOR_CONFIG"),
                5,
                Some(R::AzureDevOpsOrganizationsMissing),
                B::Failing(14, 36, R::AzureDevOpsOrganizationsMissing),
            ),
            S::OrganizationNotFound => (
                Health::Critical,
                H::Generic,
                Some("E_EMPTY_ROOT"),
                5,
                Some(R::OrganizationNotFound),
                B::Failing(30, 90, R::OrganizationNotFound),
            ),
            S::TenantNoLongerExists => (
                Health::Critical,
                H::Generic,
                None,
                5,
                Some(R::TenantNoLongerExists),
                B::Failing(70, 200, R::TenantNoLongerExists),
            ),
            S::SalesforceApiDisabled => (
                Health::Critical,
                H::Generic,
                Some("E_READ_API"),
                5,
                Some(R::SalesforceApiDisabled),
                B::Failing(20, 60, R::SalesforceApiDisabled),
            ),
            S::SalesforceApiLimitReached => (
                Health::Unhealthy,
                H::Generic,
                None,
                7,
                Some(R::ApiRequestLimitReached),
                B::Failing(14, 30, R::ApiRequestLimitReached),
            ),
            S::InitialConfigurationPending => (
                Health::Unhealthy,
                H::Generic,
                Some("E_INITIAL_CONFIGURATION_PENDING"),
                5,
                Some(R::InitialConfigurationPending),
                B::Never,
            ),
            S::TeamsAppMissing => (
                Health::Unhealthy,
                H::Generic,
                Some("E_DEDICATED_APP_IS_NOT_PRESENT_UNHEALTHY"),
                0,
                Some(R::TeamsAppMissing),
                B::Normal,
            ),
            S::UnlicensedWorkloads => (
                Health::Critical,
                H::Generic,
                Some("E_WORKLOADS_WITH_MISSING_PLANS_PRESENT_CRITICAL"),
                0,
                Some(R::UnlicensedWorkloads),
                B::Normal,
            ),
            S::LatestBackupUnsuccessful => (
                Health::Healthy,
                H::Ok,
                Some("E_START"),
                5,
                Some(R::EncounteredProblem),
                B::LatestFails(R::EncounteredProblem, false),
            ),
            S::LatestBackupIncomplete => (
                Health::Healthy,
                H::Ok,
                Some("E_TERM"),
                5,
                Some(R::JobAborted),
                B::LatestFails(R::JobAborted, true),
            ),
        };
        Profile {
            health,
            reason,
            ecode,
            status_code,
            condition,
            behaviour,
        }
    }
}

/// How a scenario looks from the outside.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub(crate) health: Health,
    pub(crate) reason: HealthReason,
    pub(crate) ecode: Option<&'static str>,
    pub(crate) status_code: u8,
    pub(crate) condition: Option<ReasonCode>,
    pub(crate) behaviour: Behaviour,
}

/// How a scenario's backup history goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Regular backups, mostly successful; the latest finished one succeeded.
    Normal,
    /// No backup since a time between the two bounds (hours before now).
    Stopped(i64, i64),
    /// Every backup since a time between the two bounds (hours before now) failed for the reason.
    Failing(i64, i64, ReasonCode),
    /// Regular backups, but the latest finished one failed for the reason
    /// (incomplete when the flag is set, unsuccessful otherwise).
    LatestFails(ReasonCode, bool),
    /// Never backed up.
    Never,
}

/// The failure summary a job carries for a reason, worded so that
/// `FailureReason::from_summary` maps it back to the same reason (a test checks this).
pub fn failure_summary(reason: ReasonCode) -> &'static str {
    use ReasonCode as R;
    match reason {
        R::JobAborted => "The job was aborted and a new one has been scheduled",
        R::EncounteredProblem => "Keepit encountered a problem while running the job",
        R::NotGlobalAdmin => "The service account is not a global admin in the tenant",
        R::AuthenticationFailed => "Authentication with the SaaS application failed",
        R::ApiRequestLimitReached => "The Salesforce API request limit was reached",
        R::ConfigurationInvalid => "The configuration generated by the web interface is invalid",
        R::IncidentOccurred => "The job was interrupted by a server incident",
        R::SalesforceApiDisabled => "API access is disabled for the Salesforce organization",
        R::AuthorizationError => "An authorization error occurred on the connector",
        R::TenantNoLongerExists => "The tenant no longer exists",
        R::AuthorizationServerUnavailable => {
            "The authorization server of the SaaS provider was unavailable"
        }
        R::OrganizationNotFound => "Could not find an organization for the login used",
        R::EntraGroupsMissing => "Groups selected for backup are missing from Entra ID",
        R::AzureDevOpsOrganizationsMissing => {
            "Azure DevOps organizations selected for backup were deleted"
        }
        R::SomeItemsSkipped => "Restore finished with errors: some items were skipped",
        R::AllItemsSkipped => "All items were skipped: nothing was restored",
        R::SeatLimitExceeded => "Backup stopped: the seat limit of the subscription was exceeded",
        R::InitialConfigurationPending => "The connector is waiting for its initial configuration",
        R::TeamsAppMissing => "The dedicated app for Teams chats is not present",
        R::UnlicensedWorkloads => "Workloads are selected for backup without a license",
        R::NoRecentBackup => "No backup has checked in recently",
    }
}
