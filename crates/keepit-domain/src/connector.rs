//! Connector kinds, health and error codes, and the state that decides whether a connector is watched.

use std::fmt;

use chrono::{DateTime, Utc};

/// The agent behind a Keepit `dsl` connector (Keepit's generic connector framework).
///
/// Keepit reports these as `type = dsl` plus an `agent-type` element (v4 and later).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DslAgent {
    /// Atlassian Jira (`jira`).
    Jira,
    /// Atlassian Confluence (`confluence`).
    Confluence,
    /// Jira Service Management (`jsm`).
    JiraServiceManagement,
    /// BambooHR (`bamboohr`).
    BambooHr,
    /// DocuSign (`docusign`).
    DocuSign,
    /// Okta (`okta`).
    Okta,
    /// Miro (`miro`).
    Miro,
    /// GitLab (`gitlab`).
    GitLab,
    /// GitHub (`github`).
    GitHub,
    /// monday.com (`monday`).
    Monday,
    /// Autodesk Forma (`autodesk-forma`).
    AutodeskForma,
    /// An agent type this version does not know, kept verbatim (trimmed, lowercased).
    Other(String),
}

const DSL_AGENTS: &[(DslAgent, &str, &str)] = &[
    (DslAgent::Jira, "jira", "Jira"),
    (DslAgent::Confluence, "confluence", "Confluence"),
    (
        DslAgent::JiraServiceManagement,
        "jsm",
        "Jira Service Management",
    ),
    (DslAgent::BambooHr, "bamboohr", "BambooHR"),
    (DslAgent::DocuSign, "docusign", "DocuSign"),
    (DslAgent::Okta, "okta", "Okta"),
    (DslAgent::Miro, "miro", "Miro"),
    (DslAgent::GitLab, "gitlab", "GitLab"),
    (DslAgent::GitHub, "github", "GitHub"),
    (DslAgent::Monday, "monday", "monday.com"),
    (DslAgent::AutodeskForma, "autodesk-forma", "Autodesk Forma"),
];

impl DslAgent {
    /// Every agent type known to this version, in a stable order.
    pub fn known() -> impl Iterator<Item = DslAgent> {
        DSL_AGENTS.iter().map(|(agent, _, _)| agent.clone())
    }

    /// Reads Keepit's `agent-type` value; unknown values are kept.
    pub fn from_wire(raw: &str) -> Self {
        let value = raw.trim().to_ascii_lowercase();
        DSL_AGENTS
            .iter()
            .find(|(_, wire, _)| *wire == value)
            .map(|(agent, _, _)| agent.clone())
            .unwrap_or(DslAgent::Other(value))
    }

    /// The `agent-type` value Keepit uses.
    pub fn wire_name(&self) -> &str {
        match self {
            DslAgent::Other(raw) => raw,
            known => DSL_AGENTS
                .iter()
                .find(|(agent, _, _)| agent == known)
                .map(|(_, wire, _)| *wire)
                .unwrap_or(""),
        }
    }

    fn display_name(&self) -> &str {
        match self {
            DslAgent::Other(raw) => raw,
            known => DSL_AGENTS
                .iter()
                .find(|(agent, _, _)| agent == known)
                .map(|(_, _, name)| *name)
                .unwrap_or(""),
        }
    }
}

/// What a connector backs up.
///
/// Built from Keepit's `type` (and `agent-type` for `dsl` connectors).
/// Unknown types are kept, so a new Keepit connector type shows up in reports
/// instead of disappearing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    /// Microsoft 365 (`o365-admin`).
    Microsoft365,
    /// Microsoft Entra ID, formerly Azure AD (`azure-ad`).
    EntraId,
    /// Google Workspace (`gsuite`).
    GoogleWorkspace,
    /// Salesforce (`sforce`).
    Salesforce,
    /// Dynamics 365 (`dynamics365`).
    Dynamics365,
    /// Power BI (`powerbi`).
    PowerBi,
    /// Azure DevOps (`azure-do`).
    AzureDevOps,
    /// Zendesk (`zendesk`).
    Zendesk,
    /// A connector of Keepit's generic `dsl` framework, with its agent.
    Dsl(DslAgent),
    /// A `dsl` connector whose agent type Keepit did not send.
    DslUnspecified,
    /// A connector type this version does not know, kept verbatim (trimmed, lowercased).
    Other(String),
}

const CLOUD_KINDS: &[(ConnectorKind, &str, &str)] = &[
    (ConnectorKind::Microsoft365, "o365-admin", "Microsoft 365"),
    (ConnectorKind::EntraId, "azure-ad", "Entra ID"),
    (ConnectorKind::GoogleWorkspace, "gsuite", "Google Workspace"),
    (ConnectorKind::Salesforce, "sforce", "Salesforce"),
    (ConnectorKind::Dynamics365, "dynamics365", "Dynamics 365"),
    (ConnectorKind::PowerBi, "powerbi", "Power BI"),
    (ConnectorKind::AzureDevOps, "azure-do", "Azure DevOps"),
    (ConnectorKind::Zendesk, "zendesk", "Zendesk"),
];

impl ConnectorKind {
    /// Every kind known to this version (dsl agents included), in a stable order.
    pub fn known() -> Vec<ConnectorKind> {
        CLOUD_KINDS
            .iter()
            .map(|(kind, _, _)| kind.clone())
            .chain(DslAgent::known().map(ConnectorKind::Dsl))
            .collect()
    }

    /// Builds a kind from Keepit's `type` and optional `agent-type` elements.
    pub fn from_wire(connector_type: &str, agent_type: Option<&str>) -> Self {
        let value = connector_type.trim().to_ascii_lowercase();
        if value == "dsl" {
            return match agent_type.map(str::trim).filter(|agent| !agent.is_empty()) {
                Some(agent) => ConnectorKind::Dsl(DslAgent::from_wire(agent)),
                None => ConnectorKind::DslUnspecified,
            };
        }
        CLOUD_KINDS
            .iter()
            .find(|(_, wire, _)| *wire == value)
            .map(|(kind, _, _)| kind.clone())
            .unwrap_or(ConnectorKind::Other(value))
    }

    /// Keepit's `type` value for this kind.
    pub fn wire_type(&self) -> &str {
        match self {
            ConnectorKind::Dsl(_) | ConnectorKind::DslUnspecified => "dsl",
            ConnectorKind::Other(raw) => raw,
            known => CLOUD_KINDS
                .iter()
                .find(|(kind, _, _)| kind == known)
                .map(|(_, wire, _)| *wire)
                .unwrap_or(""),
        }
    }

    /// Keepit's `agent-type` value, for `dsl` connectors that have one.
    pub fn agent_type(&self) -> Option<&str> {
        match self {
            ConnectorKind::Dsl(agent) => Some(agent.wire_name()),
            _ => None,
        }
    }

    /// One stable code per kind, for storage and filters: the effective type.
    ///
    /// For `dsl` connectors this is the agent type (as Keepit's tools do), so
    /// `jira` rather than `dsl`; [`ConnectorKind::from_code`] reverses it.
    pub fn code(&self) -> String {
        match self {
            ConnectorKind::Dsl(agent) => format!("dsl:{}", agent.wire_name()),
            other => other.wire_type().to_owned(),
        }
    }

    /// Reverses [`ConnectorKind::code`].
    pub fn from_code(code: &str) -> Self {
        match code.split_once(':') {
            Some(("dsl", agent)) => ConnectorKind::from_wire("dsl", Some(agent)),
            _ => ConnectorKind::from_wire(code, None),
        }
    }

    /// A human-readable product name.
    pub fn display_name(&self) -> String {
        match self {
            ConnectorKind::Dsl(agent) => agent.display_name().to_owned(),
            ConnectorKind::DslUnspecified => "Keepit DSL connector".to_owned(),
            ConnectorKind::Other(raw) => format!("unknown connector type '{raw}'"),
            known => CLOUD_KINDS
                .iter()
                .find(|(kind, _, _)| kind == known)
                .map(|(_, _, name)| (*name).to_owned())
                .unwrap_or_default(),
        }
    }
}

impl fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

/// A connector's health as Keepit rates it.
///
/// Keepit calls a connector unhealthy after 24 hours without a successful or
/// active backup and critical after 48 hours or when its SaaS authentication is
/// no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    /// Backups are running as they should.
    Healthy,
    /// Something needs a look soon.
    Unhealthy,
    /// Backups are not happening.
    Critical,
    /// Keepit sent nothing, or a value this version does not know.
    Unknown,
}

/// A stored health code that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown health code {0:?}")]
pub struct ParseHealthError(pub String);

impl Health {
    /// Every verdict.
    pub const ALL: [Health; 4] = [
        Health::Healthy,
        Health::Unhealthy,
        Health::Critical,
        Health::Unknown,
    ];

    /// Reads Keepit's `health` value, case-insensitively; anything else is `Unknown`.
    pub fn from_wire(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            "critical" => Health::Critical,
            _ => Health::Unknown,
        }
    }

    /// Stable lowercase code.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Critical => "critical",
            Health::Unknown => "unknown",
        }
    }

    /// Reverses [`Health::as_str`], strictly.
    pub fn parse(code: &str) -> Result<Self, ParseHealthError> {
        match code {
            "healthy" => Ok(Health::Healthy),
            "unhealthy" => Ok(Health::Unhealthy),
            "critical" => Ok(Health::Critical),
            "unknown" => Ok(Health::Unknown),
            other => Err(ParseHealthError(other.to_owned())),
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why Keepit rates a connector's health as it does (`health?reason=true`).
///
/// Keepit's list of reasons is only partly documented, so unknown values are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HealthReason {
    /// Nothing is wrong (`OK`).
    Ok,
    /// A general problem with the account (`GENERIC`).
    Generic,
    /// No backup has checked in recently (`NOCHECKIN`).
    NoCheckIn,
    /// The cloud service has not checked in recently (`CLOUDNOCHECKIN`).
    CloudNoCheckIn,
    /// The SaaS login failed (`BADLOGIN`).
    BadLogin,
    /// The login used is not an administrator (`NONADMINLOGIN`).
    NonAdminLogin,
    /// The SaaS login token expired or was revoked (`BADTOKEN`).
    BadToken,
    /// A product resource limit is exceeded (`QUOTAVIOLATED`).
    QuotaViolated,
    /// A reason this version does not know, kept verbatim (trimmed, uppercased).
    Other(String),
}

const HEALTH_REASONS: &[(HealthReason, &str)] = &[
    (HealthReason::Ok, "OK"),
    (HealthReason::Generic, "GENERIC"),
    (HealthReason::NoCheckIn, "NOCHECKIN"),
    (HealthReason::CloudNoCheckIn, "CLOUDNOCHECKIN"),
    (HealthReason::BadLogin, "BADLOGIN"),
    (HealthReason::NonAdminLogin, "NONADMINLOGIN"),
    (HealthReason::BadToken, "BADTOKEN"),
    (HealthReason::QuotaViolated, "QUOTAVIOLATED"),
];

impl HealthReason {
    /// Every reason known to this version.
    pub fn known() -> impl Iterator<Item = HealthReason> {
        HEALTH_REASONS.iter().map(|(reason, _)| reason.clone())
    }

    /// Reads Keepit's `reason` value; unknown values are kept.
    pub fn from_wire(raw: &str) -> Self {
        let value = raw.trim().to_ascii_uppercase();
        HEALTH_REASONS
            .iter()
            .find(|(_, wire)| *wire == value)
            .map(|(reason, _)| reason.clone())
            .unwrap_or(HealthReason::Other(value))
    }

    /// Keepit's code for this reason.
    pub fn as_str(&self) -> &str {
        match self {
            HealthReason::Other(raw) => raw,
            known => HEALTH_REASONS
                .iter()
                .find(|(reason, _)| reason == known)
                .map(|(_, wire)| *wire)
                .unwrap_or(""),
        }
    }
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connector error code from Keepit's device status (`ecode`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectorErrorCode {
    /// The job could not start (`E_START`).
    Start,
    /// The backup configuration is invalid (`E_CONFIG`).
    Config,
    /// The job was aborted (`E_TERM`).
    Terminated,
    /// A host name could not be resolved (`E_RESOLVE`).
    Resolve,
    /// The SaaS service could not be reached (`E_CONNECT`).
    Connect,
    /// The SaaS login is no longer valid (`E_LOGIN`).
    Login,
    /// The SaaS consent was revoked (`E_REVOKED`).
    Revoked,
    /// The login needs the global administrator role (`E_LOGIN_ADMIN`).
    LoginAdmin,
    /// Reading from the SaaS service failed (`E_READ`).
    Read,
    /// Writing to the SaaS service failed (`E_WRITE`).
    Write,
    /// A read API call failed (`E_READ_API`).
    ReadApi,
    /// A write API call failed (`E_WRITE_API`).
    WriteApi,
    /// No organisation was found behind the login (`E_EMPTY_ROOT`).
    EmptyRoot,
    /// The organisation is larger than allowed (`E_OVERSIZE_ROOT`).
    OversizeRoot,
    /// The seat limit is exceeded (`E_QUOTA`).
    Quota,
    /// Groups or organisational units selected for backup no longer exist (`E_INCOMPLETE_CONNECTOR_CONFIG`).
    IncompleteConfig,
    /// The connector was created but never configured (`E_INITIAL_CONFIGURATION_PENDING`).
    InitialConfigurationPending,
    /// Teams chats need a dedicated app registration (`E_DEDICATED_APP_IS_NOT_PRESENT_*`).
    DedicatedAppMissing,
    /// Microsoft 365 workloads are selected without a licence (`E_WORKLOADS_WITH_MISSING_PLANS_PRESENT_*`).
    WorkloadsWithoutPlans,
    /// A code this version does not know, kept verbatim (trimmed, uppercased).
    Other(String),
}

const ERROR_CODES: &[(ConnectorErrorCode, &str)] = &[
    (ConnectorErrorCode::Start, "E_START"),
    (ConnectorErrorCode::Config, "E_CONFIG"),
    (ConnectorErrorCode::Terminated, "E_TERM"),
    (ConnectorErrorCode::Resolve, "E_RESOLVE"),
    (ConnectorErrorCode::Connect, "E_CONNECT"),
    (ConnectorErrorCode::Login, "E_LOGIN"),
    (ConnectorErrorCode::Revoked, "E_REVOKED"),
    (ConnectorErrorCode::LoginAdmin, "E_LOGIN_ADMIN"),
    (ConnectorErrorCode::Read, "E_READ"),
    (ConnectorErrorCode::Write, "E_WRITE"),
    (ConnectorErrorCode::ReadApi, "E_READ_API"),
    (ConnectorErrorCode::WriteApi, "E_WRITE_API"),
    (ConnectorErrorCode::EmptyRoot, "E_EMPTY_ROOT"),
    (ConnectorErrorCode::OversizeRoot, "E_OVERSIZE_ROOT"),
    (ConnectorErrorCode::Quota, "E_QUOTA"),
    (
        ConnectorErrorCode::IncompleteConfig,
        "E_INCOMPLETE_CONNECTOR_CONFIG",
    ),
    (
        ConnectorErrorCode::InitialConfigurationPending,
        "E_INITIAL_CONFIGURATION_PENDING",
    ),
];

impl ConnectorErrorCode {
    /// Every code known to this version that has a single wire spelling.
    pub fn known() -> impl Iterator<Item = ConnectorErrorCode> {
        ERROR_CODES.iter().map(|(code, _)| code.clone())
    }

    /// Reads Keepit's `ecode`; unknown codes are kept.
    pub fn from_wire(raw: &str) -> Self {
        let value = raw.trim().to_ascii_uppercase();
        if let Some((code, _)) = ERROR_CODES.iter().find(|(_, wire)| *wire == value) {
            return code.clone();
        }
        // Keepit suffixes these two with the health they cause (_CRITICAL or _UNHEALTHY).
        if value.starts_with("E_DEDICATED_APP_IS_NOT_PRESENT") {
            return ConnectorErrorCode::DedicatedAppMissing;
        }
        if value.starts_with("E_WORKLOADS_WITH_MISSING_PLANS_PRESENT") {
            return ConnectorErrorCode::WorkloadsWithoutPlans;
        }
        ConnectorErrorCode::Other(value)
    }

    /// Keepit's code (for the two suffixed families, the family prefix).
    pub fn as_str(&self) -> &str {
        match self {
            ConnectorErrorCode::DedicatedAppMissing => "E_DEDICATED_APP_IS_NOT_PRESENT",
            ConnectorErrorCode::WorkloadsWithoutPlans => "E_WORKLOADS_WITH_MISSING_PLANS_PRESENT",
            ConnectorErrorCode::Other(raw) => raw,
            known => ERROR_CODES
                .iter()
                .find(|(code, _)| code == known)
                .map(|(_, wire)| *wire)
                .unwrap_or(""),
        }
    }
}

impl fmt::Display for ConnectorErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a snapshot is complete or partial (Keepit's `c` / `p`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SnapshotKind {
    /// A complete snapshot.
    Complete,
    /// A partial snapshot: some data was not reached.
    Partial,
    /// A value this version does not know, kept verbatim.
    Other(String),
}

impl SnapshotKind {
    /// Reads Keepit's snapshot `type`, case-insensitively.
    pub fn from_wire(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "c" => SnapshotKind::Complete,
            "p" => SnapshotKind::Partial,
            other => SnapshotKind::Other(other.to_owned()),
        }
    }

    /// Keepit's one-letter code.
    pub fn as_str(&self) -> &str {
        match self {
            SnapshotKind::Complete => "c",
            SnapshotKind::Partial => "p",
            SnapshotKind::Other(raw) => raw,
        }
    }
}

/// The facts about a connector that decide whether keepit-watch watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorState {
    /// Keepit's `accessible`: false when the credentials may not see the connector.
    pub accessible: bool,
    /// Keepit's `deletion-deadline`: set when the connector is scheduled for deletion.
    pub deletion_deadline: Option<DateTime<Utc>>,
}

impl ConnectorState {
    /// An active connector is accessible and not scheduled for deletion.
    /// Only active connectors are expected to back up, so only they raise alerts.
    pub fn is_active(&self) -> bool {
        self.accessible && self.deletion_deadline.is_none()
    }
}

#[cfg(test)]
mod tests;
