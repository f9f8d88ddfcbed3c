//! Message kinds (what keepit-watch tells people about) and who receives each message.
//!
//! The rules follow Keepit's own messaging: by default only the primary administrator
//! receives messages; other users receive them only if they opted in; a message about
//! one user's own account goes to that user alone; a download link goes to the person
//! who asked for it, whatever their settings.

use std::fmt;

use crate::id::UserId;

/// What a generated download link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownloadKind {
    /// A PST file.
    Pst,
    /// A CSV report (for example skipped items or a job list).
    Csv,
    /// A compliance report.
    ComplianceReport,
}

/// An event that produces a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A new connector was added.
    ConnectorAdded,
    /// A connector's health changed.
    ConnectorHealthChanged,
    /// A connector was scheduled for deletion.
    ConnectorScheduledForDeletion,
    /// A connector's first backup completed.
    InitialBackupCompleted,
    /// A backup was unsuccessful.
    BackupUnsuccessful,
    /// A backup was incomplete.
    BackupIncomplete,
    /// A restore started.
    RestoreStarted,
    /// A restore was successful.
    RestoreSuccessful,
    /// A restore was unsuccessful.
    RestoreUnsuccessful,
    /// A restore was incomplete.
    RestoreIncomplete,
    /// A download link is ready.
    DownloadLinkReady(DownloadKind),
    /// A notice about one user's own sign-in or account (activation, password reset).
    AccountNotice,
    /// An alert opened (a pending warning or a page).
    AlertOpened,
    /// An open alert escalated (pending to firing, or warning to critical).
    AlertEscalated,
    /// A firing alert nobody acknowledged is still open.
    AlertReminder,
    /// An alert people were told about has cleared.
    AlertResolved,
}

/// A stored message-kind code that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message kind {0:?}")]
pub struct ParseMessageKindError(pub String);

const KINDS: &[(MessageKind, &str)] = &[
    (MessageKind::ConnectorAdded, "connector_added"),
    (
        MessageKind::ConnectorHealthChanged,
        "connector_health_changed",
    ),
    (
        MessageKind::ConnectorScheduledForDeletion,
        "connector_scheduled_for_deletion",
    ),
    (
        MessageKind::InitialBackupCompleted,
        "initial_backup_completed",
    ),
    (MessageKind::BackupUnsuccessful, "backup_unsuccessful"),
    (MessageKind::BackupIncomplete, "backup_incomplete"),
    (MessageKind::RestoreStarted, "restore_started"),
    (MessageKind::RestoreSuccessful, "restore_successful"),
    (MessageKind::RestoreUnsuccessful, "restore_unsuccessful"),
    (MessageKind::RestoreIncomplete, "restore_incomplete"),
    (
        MessageKind::DownloadLinkReady(DownloadKind::Pst),
        "download_link_ready_pst",
    ),
    (
        MessageKind::DownloadLinkReady(DownloadKind::Csv),
        "download_link_ready_csv",
    ),
    (
        MessageKind::DownloadLinkReady(DownloadKind::ComplianceReport),
        "download_link_ready_compliance_report",
    ),
    (MessageKind::AccountNotice, "account_notice"),
    (MessageKind::AlertOpened, "alert_opened"),
    (MessageKind::AlertEscalated, "alert_escalated"),
    (MessageKind::AlertReminder, "alert_reminder"),
    (MessageKind::AlertResolved, "alert_resolved"),
];

impl MessageKind {
    /// Every kind, in a stable order.
    pub fn all() -> impl Iterator<Item = MessageKind> {
        KINDS.iter().map(|(kind, _)| *kind)
    }

    /// Stable snake_case code.
    pub fn as_str(self) -> &'static str {
        KINDS
            .iter()
            .find(|(kind, _)| *kind == self)
            .map(|(_, code)| *code)
            .unwrap_or("unknown")
    }

    /// Reverses [`MessageKind::as_str`].
    pub fn parse(code: &str) -> Result<MessageKind, ParseMessageKindError> {
        KINDS
            .iter()
            .find(|(_, known)| *known == code)
            .map(|(kind, _)| *kind)
            .ok_or_else(|| ParseMessageKindError(code.to_owned()))
    }

    /// Whether the message concerns one person only (their own account, or a link they asked for).
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            MessageKind::DownloadLinkReady(_) | MessageKind::AccountNotice
        )
    }

    /// The audience of a message of this kind. `person` is the user the message is
    /// about (the account owner, or whoever asked for the download); it is required
    /// for personal kinds and ignored otherwise.
    pub fn audience(self, person: Option<UserId>) -> Audience {
        if self.is_personal() {
            match person {
                Some(user) => Audience::OnePerson(user),
                None => Audience::Nobody,
            }
        } else {
            Audience::Subscribers
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Everyone subscribed: the primary administrator by default, plus users who opted in.
    Subscribers,
    /// One person only, whatever their message settings.
    OnePerson(UserId),
    /// Nobody: a personal message whose person is unknown is not broadcast.
    Nobody,
}

/// A user's message setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessagePreference {
    /// Not set: the primary administrator receives messages, others do not.
    #[default]
    Default,
    /// Turned on by an administrator.
    OptedIn,
    /// Turned off.
    OptedOut,
}

/// A user who might receive a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientCandidate {
    /// The user.
    pub user: UserId,
    /// Whether this user is the primary administrator.
    pub primary_admin: bool,
    /// The user's message setting.
    pub preference: MessagePreference,
}

/// Decides who receives a message, in the order the candidates were given.
pub fn route_message(audience: Audience, candidates: &[RecipientCandidate]) -> Vec<UserId> {
    match audience {
        Audience::Nobody => Vec::new(),
        Audience::OnePerson(user) => candidates
            .iter()
            .filter(|candidate| candidate.user == user)
            .map(|candidate| candidate.user)
            .take(1)
            .collect(),
        Audience::Subscribers => candidates
            .iter()
            .filter(|candidate| match candidate.preference {
                MessagePreference::OptedIn => true,
                MessagePreference::OptedOut => false,
                MessagePreference::Default => candidate.primary_admin,
            })
            .map(|candidate| candidate.user)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(
        id: i64,
        primary_admin: bool,
        preference: MessagePreference,
    ) -> RecipientCandidate {
        RecipientCandidate {
            user: UserId(id),
            primary_admin,
            preference,
        }
    }

    fn team() -> Vec<RecipientCandidate> {
        vec![
            candidate(1, true, MessagePreference::Default),
            candidate(2, false, MessagePreference::Default),
            candidate(3, false, MessagePreference::OptedIn),
            candidate(4, false, MessagePreference::OptedOut),
        ]
    }

    #[test]
    fn by_default_only_the_primary_admin_receives() {
        let users = vec![
            candidate(1, true, MessagePreference::Default),
            candidate(2, false, MessagePreference::Default),
        ];
        assert_eq!(
            route_message(MessageKind::BackupUnsuccessful.audience(None), &users),
            vec![UserId(1)]
        );
    }

    #[test]
    fn users_who_opted_in_also_receive() {
        assert_eq!(
            route_message(Audience::Subscribers, &team()),
            vec![UserId(1), UserId(3)]
        );
    }

    #[test]
    fn a_primary_admin_who_opted_out_does_not_receive() {
        let users = vec![
            candidate(1, true, MessagePreference::OptedOut),
            candidate(3, false, MessagePreference::OptedIn),
        ];
        assert_eq!(
            route_message(Audience::Subscribers, &users),
            vec![UserId(3)]
        );
    }

    #[test]
    fn own_account_messages_go_to_that_user_only() {
        let audience = MessageKind::AccountNotice.audience(Some(UserId(4)));
        assert_eq!(audience, Audience::OnePerson(UserId(4)));
        // User 4 opted out, and still receives their own account notice; nobody else does.
        assert_eq!(route_message(audience, &team()), vec![UserId(4)]);
    }

    #[test]
    fn download_links_go_to_the_requester_regardless_of_settings() {
        for kind in [
            DownloadKind::Pst,
            DownloadKind::Csv,
            DownloadKind::ComplianceReport,
        ] {
            let audience = MessageKind::DownloadLinkReady(kind).audience(Some(UserId(2)));
            assert_eq!(
                route_message(audience, &team()),
                vec![UserId(2)],
                "{kind:?}"
            );
        }
    }

    #[test]
    fn personal_messages_without_a_person_reach_nobody() {
        assert_eq!(
            MessageKind::DownloadLinkReady(DownloadKind::Pst).audience(None),
            Audience::Nobody
        );
        assert!(route_message(Audience::Nobody, &team()).is_empty());
        assert!(route_message(Audience::OnePerson(UserId(99)), &team()).is_empty());
    }

    #[test]
    fn every_event_kind_goes_to_subscribers() {
        let broadcast = [
            MessageKind::ConnectorAdded,
            MessageKind::ConnectorHealthChanged,
            MessageKind::ConnectorScheduledForDeletion,
            MessageKind::InitialBackupCompleted,
            MessageKind::BackupUnsuccessful,
            MessageKind::BackupIncomplete,
            MessageKind::RestoreStarted,
            MessageKind::RestoreSuccessful,
            MessageKind::RestoreUnsuccessful,
            MessageKind::RestoreIncomplete,
        ];
        for kind in broadcast {
            assert_eq!(
                kind.audience(Some(UserId(2))),
                Audience::Subscribers,
                "{kind}"
            );
        }
    }

    #[test]
    fn codes_round_trip() {
        assert_eq!(MessageKind::all().count(), 18);
        for kind in MessageKind::all() {
            assert_eq!(MessageKind::parse(kind.as_str()), Ok(kind));
        }
        assert!(MessageKind::parse("nope").is_err());
    }
}
