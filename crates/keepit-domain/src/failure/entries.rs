//! The catalogue's text. Every entry is written for an MSP technician reading an alert.

use super::{ReasonCode as R, ReasonEntry, ReasonScope as S, Remedy, SupportDetail as D};

const SERVICE_AND_CONNECTOR: &[D] = &[D::ServiceId, D::ConnectorName];
const SERVICE_CONNECTOR_REPORT: &[D] = &[D::ServiceId, D::ConnectorName, D::SkippedItemsReport];

macro_rules! entry {
    ($code:expr, $scope:expr, $title:literal, $explanation:literal, $resolution:literal, $remedy:expr, $support:expr) => {
        ReasonEntry {
            code: $code,
            scope: $scope,
            title: $title,
            explanation: $explanation,
            resolution: $resolution,
            remedy: $remedy,
            support_details: $support,
        }
    };
}

pub(super) const ENTRIES: &[ReasonEntry] = &[
    // Backups: the fourteen reasons Keepit's Job Monitor gives for unsuccessful or incomplete backups.
    entry!(
        R::JobAborted,
        S::Backup,
        "Backup aborted",
        "The backup job was stopped before it finished.",
        "No action is needed: Keepit queues a fresh backup job on its own.",
        Remedy::NoneRescheduled,
        &[]
    ),
    entry!(
        R::EncounteredProblem,
        S::Backup,
        "Unexplained backup problem",
        "Keepit ran into a problem it could not classify while backing up this connector.",
        "Open a case with Keepit support so they can investigate, and include the details listed.",
        Remedy::ContactSupport,
        SERVICE_AND_CONNECTOR
    ),
    entry!(
        R::NotGlobalAdmin,
        S::Backup,
        "Service account is not a Global Administrator",
        "The Microsoft account Keepit signs in with lacks the Global Administrator role, so the backup cannot begin.",
        "Give the service account the Global Administrator role in Microsoft, then re-authenticate the connector in Keepit.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AuthenticationFailed,
        S::Backup,
        "SaaS sign-in no longer valid",
        "Keepit's authorisation to the SaaS application has expired or been revoked, so no backup can start.",
        "Re-authenticate the connector in Keepit with an account that holds the required administrator role and permissions.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::ApiRequestLimitReached,
        S::Backup,
        "Salesforce API allowance used up",
        "The share of Salesforce API requests set aside for Keepit was exhausted before the backup could run.",
        "Raise the percentage of Salesforce API requests Keepit may use, keeping in mind that a higher share can slow other integrations.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::ConfigurationInvalid,
        S::Backup,
        "Backup configuration is invalid",
        "The backup configuration produced by Keepit's web interface cannot be used.",
        "Ask Keepit support to repair the configuration and start the backup, and include the details listed.",
        Remedy::ContactSupport,
        SERVICE_AND_CONNECTOR
    ),
    entry!(
        R::IncidentOccurred,
        S::Backup,
        "Server incident",
        "An incident on Keepit's servers interrupted the backup; Keepit works on these straight away.",
        "Nothing to do unless it happens again; if it recurs, contact Keepit support.",
        Remedy::WatchForRepeats,
        &[]
    ),
    entry!(
        R::SalesforceApiDisabled,
        S::Backup,
        "Salesforce API access switched off",
        "The Salesforce organisation does not allow API access, which Keepit needs to back it up.",
        "Use a Salesforce edition that includes API access (Enterprise, Unlimited, Developer or Performance) and make sure the backup user's profile or a permission set grants API access.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AuthorizationError,
        S::Backup,
        "Connector authorisation error",
        "Authorising the connector failed in a way Keepit could not explain.",
        "Open a case with Keepit support so they can look into the error, and include the details listed.",
        Remedy::ContactSupport,
        SERVICE_AND_CONNECTOR
    ),
    entry!(
        R::TenantNoLongerExists,
        S::Backup,
        "Tenant no longer exists",
        "The protected Microsoft 365 tenant or Salesforce organisation could not be found.",
        "Check whether the Microsoft 365 tenant has expired or the Salesforce organisation was disabled.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AuthorizationServerUnavailable,
        S::Backup,
        "Authorisation server unavailable",
        "The SaaS provider's authorisation server did not answer for a while.",
        "No action is needed: the server normally returns shortly and Keepit queues a new backup job.",
        Remedy::NoneRescheduled,
        &[]
    ),
    entry!(
        R::OrganizationNotFound,
        S::Backup,
        "No organisation found",
        "Keepit signed in but found no organisation behind the account.",
        "Make sure the connector is authorised with the right administrator account and that it has a licence and access to the data.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::EntraGroupsMissing,
        S::Backup,
        "Entra ID groups missing",
        "Groups chosen in the backup configuration were deleted from the tenant, so Keepit cannot reach them and stops.",
        "Open the connector configuration and accept removing the missing groups, or recreate the groups in Entra ID.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AzureDevOpsOrganizationsMissing,
        S::Backup,
        "Azure DevOps organisations missing",
        "Organisations chosen in the backup configuration were deleted from Azure DevOps, so Keepit cannot reach them and stops.",
        "Open the connector configuration and accept removing the missing organisations, or restore them in Azure DevOps.",
        Remedy::UserAction,
        &[]
    ),
    // Restores: the thirteen reasons Keepit's Job Monitor gives for unsuccessful or incomplete restores.
    entry!(
        R::SomeItemsSkipped,
        S::Restore,
        "Some items were not restored",
        "The restore finished, but one or more items were skipped. SharePoint metadata, column and content types or permissions, and Entra ID distribution or mail-enabled security groups, are common examples.",
        "Download the skipped-items report to see what was missed. Repeat the whole restore if much was skipped, or restore the few missing items one by one.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AllItemsSkipped,
        S::Restore,
        "Nothing was restored",
        "The restore finished without restoring a single item.",
        "Start the restore again; if nothing is restored a second time, contact Keepit support.",
        Remedy::RetryLater,
        &[]
    ),
    entry!(
        R::JobAborted,
        S::Restore,
        "Restore aborted",
        "The restore job was stopped before it finished.",
        "No action is needed: Keepit queues a fresh restore job on its own.",
        Remedy::NoneRescheduled,
        &[]
    ),
    entry!(
        R::EncounteredProblem,
        S::Restore,
        "Unexplained restore problem",
        "Keepit ran into a problem it could not classify while restoring.",
        "Open a case with Keepit support so they can investigate, and include the details listed.",
        Remedy::ContactSupport,
        SERVICE_CONNECTOR_REPORT
    ),
    entry!(
        R::NotGlobalAdmin,
        S::Restore,
        "Service account is not a Global Administrator",
        "The Microsoft account Keepit uses lacks the Global Administrator role, so the restore cannot begin.",
        "Give the service account the Global Administrator role in Microsoft, then re-authenticate the connector in Keepit.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AuthenticationFailed,
        S::Restore,
        "SaaS sign-in no longer valid",
        "Keepit's authorisation to the SaaS application has expired or been revoked, so the restore cannot start.",
        "Re-authenticate the connector in Keepit with an account that holds the required administrator role and permissions.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::ApiRequestLimitReached,
        S::Restore,
        "Salesforce API allowance used up",
        "The share of Salesforce API requests set aside for Keepit was exhausted before the restore could run.",
        "Raise the Salesforce API allowance for Keepit, then start the restore again.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::ConfigurationInvalid,
        S::Restore,
        "Restore configuration is invalid",
        "The restore configuration produced by Keepit's web interface cannot be used.",
        "Ask Keepit support to repair the configuration and start the restore.",
        Remedy::ContactSupport,
        SERVICE_AND_CONNECTOR
    ),
    entry!(
        R::IncidentOccurred,
        S::Restore,
        "Server incident",
        "An incident on Keepit's servers interrupted the restore; Keepit works on these straight away.",
        "Nothing to do unless it happens again; if it recurs, contact Keepit support.",
        Remedy::WatchForRepeats,
        &[]
    ),
    entry!(
        R::SalesforceApiDisabled,
        S::Restore,
        "Salesforce API access switched off",
        "The Salesforce organisation does not allow API access, which Keepit needs to restore into it.",
        "Use a Salesforce edition that includes API access (Enterprise, Unlimited, Developer or Performance) and make sure the user's profile or a permission set grants API access.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AuthorizationError,
        S::Restore,
        "Connector authorisation error",
        "Authorising the connector failed in a way Keepit could not explain.",
        "Open a case with Keepit support so they can look into the error, and include the details listed.",
        Remedy::ContactSupport,
        SERVICE_CONNECTOR_REPORT
    ),
    entry!(
        R::TenantNoLongerExists,
        S::Restore,
        "Tenant no longer exists",
        "The target Microsoft 365 tenant or Salesforce organisation could not be found.",
        "Check whether the Microsoft 365 tenant has expired or the Salesforce organisation was disabled.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::AuthorizationServerUnavailable,
        S::Restore,
        "Authorisation server unavailable",
        "The SaaS provider's authorisation server did not answer for a while.",
        "Start the restore again a little later; the server normally returns shortly.",
        Remedy::RetryLater,
        &[]
    ),
    // Connector conditions: states reported by health and device status that are not tied to one job.
    entry!(
        R::SeatLimitExceeded,
        S::Connector,
        "Seat or resource limit exceeded",
        "The account uses more seats or resources than its Keepit product allows.",
        "Reduce the protected users or raise the subscription's limits with Keepit.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::InitialConfigurationPending,
        S::Connector,
        "Connector not configured yet",
        "The connector exists but its backup selection was never configured, so nothing is backed up.",
        "Finish the connector's configuration in Keepit and start its first backup.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::TeamsAppMissing,
        S::Connector,
        "Teams chat app registration missing",
        "Backing up Teams chats needs a dedicated app registration in the tenant, and it is not there.",
        "Register the dedicated app Keepit asks for in the Microsoft tenant, then let the next backup run.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::UnlicensedWorkloads,
        S::Connector,
        "Workloads selected without a licence",
        "Microsoft 365 workloads are selected for backup although the tenant has no licence plan for them.",
        "Remove the unlicensed workloads from the backup selection or license them in Microsoft 365.",
        Remedy::UserAction,
        &[]
    ),
    entry!(
        R::NoRecentBackup,
        S::Connector,
        "No recent backup",
        "No backup has finished or run for this connector within Keepit's health window.",
        "Check the connector's recent jobs in Keepit; if none are scheduled, start one and watch its result.",
        Remedy::WatchForRepeats,
        &[]
    ),
];
