//! Audit categories and the one table that maps Keepit's audit records onto them.
//!
//! Keepit's own `area` values are few (`User events`, `Backup/Restore`,
//! `Account events`, `Subaccount events`, ...), so the category is decided from the
//! area, the ACL of the audited call and the wording of the message together.

use std::fmt;

/// What an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditCategory {
    /// Users: creation, deletion, roles, sign-ins.
    User,
    /// Accounts and sub-accounts: settings, products, creation.
    Account,
    /// Connectors: creation, changes, deletion, backups.
    Connector,
    /// The link between a connector and its SaaS tenant: (re-)authentication, consent.
    Connection,
    /// Restores, imports and downloads of backed-up data.
    Recovery,
    /// Reports and exports.
    Reporting,
    /// Failed sign-ins, denied calls, tokens, MFA and SSO changes.
    Security,
    /// Retention, labels, right-to-be-forgotten, legal holds.
    Compliance,
    /// Anything the table does not place.
    Other,
}

impl AuditCategory {
    /// Every category, in a stable order.
    pub const ALL: [AuditCategory; 9] = [
        AuditCategory::User,
        AuditCategory::Account,
        AuditCategory::Connector,
        AuditCategory::Connection,
        AuditCategory::Recovery,
        AuditCategory::Reporting,
        AuditCategory::Security,
        AuditCategory::Compliance,
        AuditCategory::Other,
    ];

    /// Stable lowercase code.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditCategory::User => "user",
            AuditCategory::Account => "account",
            AuditCategory::Connector => "connector",
            AuditCategory::Connection => "connection",
            AuditCategory::Recovery => "recovery",
            AuditCategory::Reporting => "reporting",
            AuditCategory::Security => "security",
            AuditCategory::Compliance => "compliance",
            AuditCategory::Other => "other",
        }
    }

    /// Reverses [`AuditCategory::as_str`].
    pub fn parse(code: &str) -> Option<AuditCategory> {
        AuditCategory::ALL
            .into_iter()
            .find(|category| category.as_str() == code)
    }
}

impl fmt::Display for AuditCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of an audit record that decide its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditFacts<'a> {
    /// Keepit's `area`.
    pub area: &'a str,
    /// The ACL name of the audited call (`acl`).
    pub acl: &'a str,
    /// The human-readable `message`.
    pub message: &'a str,
    /// Keepit's `allowed`: false when the call was denied by permissions.
    pub allowed: Option<bool>,
    /// Keepit's `succeeded`: false when the audited call failed.
    pub succeeded: Option<bool>,
}

impl AuditFacts<'_> {
    /// Whether the record reports a failed recovery or connector operation,
    /// which the backup-failed alert watches for.
    pub fn is_failure(&self) -> bool {
        let category = categorize_audit(self);
        if !matches!(
            category,
            AuditCategory::Recovery | AuditCategory::Connector | AuditCategory::Connection
        ) {
            return false;
        }
        let message = self.message.to_lowercase();
        self.succeeded == Some(false)
            || ["fail", "unsuccessful", "incomplete", "error"]
                .iter()
                .any(|word| message.contains(word))
    }
}

/// One row of the mapping table. A row matches when every condition it sets holds:
/// the area contains `area`, the ACL equals one of `acls`, and the message contains
/// one of `message_any` (all compared case-insensitively).
struct Row {
    area: Option<&'static str>,
    acls: &'static [&'static str],
    message_any: &'static [&'static str],
    category: AuditCategory,
}

const fn row(
    area: Option<&'static str>,
    acls: &'static [&'static str],
    message_any: &'static [&'static str],
    category: AuditCategory,
) -> Row {
    Row {
        area,
        acls,
        message_any,
        category,
    }
}

use AuditCategory as C;

/// The mapping, first match wins. Specific wording comes before broad areas:
/// a failed sign-in is a security event even though Keepit files it under users.
const TABLE: &[Row] = &[
    row(
        None,
        &[],
        &[
            "failed sign-in",
            "sign-in failed",
            "failed login",
            "login failed",
            "locked out",
        ],
        C::Security,
    ),
    row(
        None,
        &[],
        &[
            "mfa",
            "multi-factor",
            "two-factor",
            "sso",
            "single sign-on",
            "password",
            "api token",
            "secondary token",
            "session token",
        ],
        C::Security,
    ),
    row(None, &["SsoConfigs"], &[], C::Security),
    row(None, &[], &["report", "export", "audit log"], C::Reporting),
    row(
        None,
        &[],
        &[
            "compliance",
            "retention",
            "rtbf",
            "right to be forgotten",
            "legal hold",
            "label",
        ],
        C::Compliance,
    ),
    row(
        None,
        &[],
        &["restore", "import", "recover", "download", "pst", "zip"],
        C::Recovery,
    ),
    row(
        None,
        &[],
        &[
            "re-authenticat",
            "reauthenticat",
            "authoriz",
            "authoris",
            "consent",
            "connection",
            "orglink",
        ],
        C::Connection,
    ),
    row(Some("connector"), &[], &[], C::Connector),
    row(
        None,
        &["Devices", "DevHealth", "DevJobs", "History"],
        &[],
        C::Connector,
    ),
    row(None, &[], &["connector", "backup"], C::Connector),
    row(Some("backup/restore"), &[], &[], C::Recovery),
    row(Some("subaccount"), &[], &[], C::Account),
    row(Some("account events"), &[], &[], C::Account),
    row(
        None,
        &[],
        &[
            "subaccount",
            "sub-account",
            "account",
            "subscription",
            "product",
        ],
        C::Account,
    ),
    row(Some("user"), &[], &[], C::User),
    row(
        None,
        &[],
        &["user", "sign-in", "signed in", "role"],
        C::User,
    ),
];

/// Places an audit record in a category using the table above.
/// A call denied by permissions is always a security event.
pub fn categorize_audit(facts: &AuditFacts<'_>) -> AuditCategory {
    if facts.allowed == Some(false) {
        return AuditCategory::Security;
    }
    let area = facts.area.trim().to_lowercase();
    let message = facts.message.trim().to_lowercase();
    let acl = facts.acl.trim();
    TABLE
        .iter()
        .find(|row| {
            row.area.is_none_or(|needle| area.contains(needle))
                && (row.acls.is_empty()
                    || row
                        .acls
                        .iter()
                        .any(|candidate| candidate.eq_ignore_ascii_case(acl)))
                && (row.message_any.is_empty()
                    || row
                        .message_any
                        .iter()
                        .any(|needle| message.contains(needle)))
        })
        .map(|row| row.category)
        .unwrap_or(AuditCategory::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(area: &str, acl: &str, message: &str, expect: AuditCategory) {
        let facts = AuditFacts {
            area,
            acl,
            message,
            allowed: Some(true),
            succeeded: Some(true),
        };
        assert_eq!(
            categorize_audit(&facts),
            expect,
            "area={area:?} acl={acl:?} message={message:?}"
        );
    }

    #[test]
    fn one_row_per_category() {
        check("User events", "User", "Failed sign-in attempt", C::Security);
        check(
            "User events",
            "Tokens",
            "Created API token 'monitoring'",
            C::Security,
        );
        check(
            "Miscellaneous",
            "SsoConfigs",
            "Updated SSO configuration",
            C::Security,
        );
        check(
            "User events",
            "Tokens",
            "Created user jane@contoso.example",
            C::User,
        );
        check(
            "User events",
            "User",
            "User jane@contoso.example was deleted",
            C::User,
        );
        check("User events", "User", "Changed the role of a user", C::User);
        check(
            "Subaccount events",
            "User",
            "Created subaccount Fabrikam",
            C::Account,
        );
        check(
            "Account events",
            "User",
            "Changed account settings",
            C::Account,
        );
        check(
            "Connector events",
            "Devices",
            "Created connector Contoso Microsoft 365",
            C::Connector,
        );
        check(
            "Connector events",
            "Devices",
            "Deleted connector Old Google Workspace",
            C::Connector,
        );
        check(
            "Backup/Restore",
            "DevJobs",
            "Backup failed for connector Contoso Entra ID",
            C::Connector,
        );
        check(
            "Connector events",
            "Devices",
            "Re-authenticated connector Contoso Microsoft 365",
            C::Connection,
        );
        check(
            "Backup/Restore",
            "DevJobs",
            "Scheduled a restore for connector Contoso Microsoft 365",
            C::Recovery,
        );
        check(
            "Backup/Restore",
            "DevJobs",
            "Started an import",
            C::Recovery,
        );
        check(
            "Miscellaneous",
            "Downloads",
            "Generated a PST download link",
            C::Recovery,
        );
        check(
            "Miscellaneous",
            "Reports",
            "Downloaded the compliance report",
            C::Reporting,
        );
        check(
            "Miscellaneous",
            "Labels",
            "Applied retention label to 3 items",
            C::Compliance,
        );
        check(
            "Miscellaneous",
            "Labels",
            "Right to be forgotten request processed",
            C::Compliance,
        );
        check("Something new", "Whatever", "Something happened", C::Other);
        check("", "", "", C::Other);
    }

    #[test]
    fn denied_calls_are_security_events() {
        let facts = AuditFacts {
            area: "Backup/Restore",
            acl: "DevJobs",
            message: "Scheduled a restore",
            allowed: Some(false),
            succeeded: Some(false),
        };
        assert_eq!(categorize_audit(&facts), C::Security);
    }

    #[test]
    fn failures_are_recognised_for_recovery_and_connectors_only() {
        let failed_restore = AuditFacts {
            area: "Backup/Restore",
            acl: "DevJobs",
            message: "Restore of mailbox",
            allowed: Some(true),
            succeeded: Some(false),
        };
        assert!(failed_restore.is_failure());
        let failed_backup = AuditFacts {
            message: "Backup failed for connector X",
            succeeded: Some(true),
            ..failed_restore
        };
        assert!(failed_backup.is_failure());
        let ok_restore = AuditFacts {
            succeeded: Some(true),
            ..failed_restore
        };
        assert!(!ok_restore.is_failure());
        let failed_sign_in = AuditFacts {
            area: "User events",
            acl: "User",
            message: "Failed sign-in attempt",
            allowed: Some(true),
            succeeded: Some(false),
        };
        assert!(!failed_sign_in.is_failure());
    }

    #[test]
    fn codes_round_trip() {
        for category in AuditCategory::ALL {
            assert_eq!(AuditCategory::parse(category.as_str()), Some(category));
        }
        assert_eq!(AuditCategory::parse("nope"), None);
    }
}
