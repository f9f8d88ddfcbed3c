//! The alert vocabulary: what a rule watches, where, with which thresholds, and the
//! states and severities of the alerts it raises.
//!
//! `keepit-store` persists these types as they are, the engine in `keepit-alerts`
//! reads and returns them, and the HTTP API shows them: there is one definition of
//! each. Thresholds are also reachable one by one through [`Threshold`], which is how
//! the store persists them, so a new threshold is added here (and shown in the HTTP
//! API) without touching the store.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::connector::ConnectorKind;
use crate::failure::FailureReason;
use crate::id::{AccountId, ConnectorId, UserId};

/// Declares an id of a row the store numbers itself.
macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

row_id!(
    /// A customer of the MSP.
    CustomerId
);
row_id!(
    /// An alert rule.
    AlertRuleId
);
row_id!(
    /// One alert.
    AlertId
);

/// A stored or submitted code that is not one of a vocabulary's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {code:?}; expected one of {expected}")]
pub struct UnknownCode {
    /// Which vocabulary.
    pub what: &'static str,
    /// The code given.
    pub code: String,
    /// The codes that exist, comma-separated.
    pub expected: String,
}

/// Declares a closed vocabulary with stable snake_case codes.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal {
        $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code used in the database, the API and the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }

            /// Reverses [`Self::as_str`], strictly.
            pub fn parse(code: &str) -> Result<$name, UnknownCode> {
                match code {
                    $($code => Ok($name::$variant),)+
                    _ => Err(UnknownCode {
                        what: $what,
                        code: code.to_owned(),
                        expected: [$($code),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// What a rule watches.
    RuleKind, "rule kind" {
        /// No successful backup of an active connector within a threshold.
        BackupStale => "backup_stale",
        /// A failed or incomplete backup, a connector in an error state, or a failure
        /// in the audit log within a lookback.
        BackupFailed => "backup_failed",
    }
);

vocabulary!(
    /// How urgent an alert is (ordered: a warning is below critical).
    Severity, "severity" {
        /// Worth a look soon.
        Warning => "warning",
        /// Backups are not happening or failing now.
        Critical => "critical",
    }
);

vocabulary!(
    /// Where an alert is in its lifecycle (ordered: pending, firing, resolved).
    AlertState, "alert state" {
        /// The condition holds but does not page yet: a warning stage, or a failure
        /// Keepit retries by itself that has not repeated enough.
        Pending => "pending",
        /// The condition holds in full: someone must act.
        Firing => "firing",
        /// The condition cleared, or the connector is no longer watched.
        Resolved => "resolved",
    }
);

impl AlertState {
    /// Whether an alert in this state is open.
    pub fn is_open(self) -> bool {
        self != AlertState::Resolved
    }
}

vocabulary!(
    /// What one entry of an alert's history records.
    AlertEvent, "alert event" {
        /// The state changed (opening included, from no state).
        StateChanged => "state_changed",
        /// A person acknowledged the alert.
        Acknowledged => "acknowledged",
        /// A person silenced the alert or lifted its silence.
        Silenced => "silenced",
        /// People were told about it (first notice or reminder).
        Reminded => "reminded",
        /// Its PSA ticket was opened, noted, reopened or closed, or could not be filed.
        Ticket => "ticket",
    }
);

/// Which connectors a rule watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlertScope {
    /// Every customer's connectors.
    All,
    /// One customer's connectors.
    Customer(CustomerId),
    /// Connectors of one kind.
    ConnectorKind(ConnectorKind),
}

impl AlertScope {
    /// Whether a connector of `kind` belonging to `customer` is in scope.
    pub fn contains(&self, customer: Option<CustomerId>, kind: &ConnectorKind) -> bool {
        match self {
            AlertScope::All => true,
            AlertScope::Customer(id) => customer == Some(*id),
            AlertScope::ConnectorKind(scoped) => scoped == kind,
        }
    }
}

vocabulary!(
    /// One threshold of a rule, for code that handles thresholds one by one (storage,
    /// per-customer overrides). The code names the unit.
    Threshold, "threshold" {
        /// How long without a successful backup before a stale alert fires.
        StaleAfter => "stale_after_secs",
        /// An earlier warning stage of the stale rule; may be switched off.
        WarnAfter => "warn_after_secs",
        /// How far back failures count.
        Lookback => "lookback_secs",
        /// Failed backups in a row before a failure that needs someone pages.
        MinConsecutiveFailures => "min_consecutive_failures",
        /// Failed backups in a row before a failure Keepit retries by itself pages.
        RepeatsBeforePaging => "repeats_before_paging",
        /// How often a firing, unacknowledged alert is sent again.
        ReminderEvery => "reminder_every_secs",
    }
);

impl Threshold {
    /// Whether the threshold is a duration (in seconds) rather than a count.
    pub fn is_duration(self) -> bool {
        match self {
            Threshold::StaleAfter
            | Threshold::WarnAfter
            | Threshold::Lookback
            | Threshold::ReminderEvery => true,
            Threshold::MinConsecutiveFailures | Threshold::RepeatsBeforePaging => false,
        }
    }

    /// Whether the threshold may be switched off (given no value).
    pub fn is_optional(self) -> bool {
        self == Threshold::WarnAfter
    }
}

/// The longest threshold, lookback or reminder interval a rule may have: ten years.
pub const MAX_THRESHOLD_DAYS: i64 = 3_660;

/// Why thresholds were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// A value that must be positive was not.
    #[error("{threshold} must be more than zero")]
    NotPositive {
        /// The threshold.
        threshold: Threshold,
    },
    /// A duration beyond any sensible threshold (and beyond safe date arithmetic).
    #[error("{threshold} must be at most {MAX_THRESHOLD_DAYS} days")]
    TooLong {
        /// The threshold.
        threshold: Threshold,
    },
    /// A count beyond any sensible threshold.
    #[error("{threshold} must be at most {max}")]
    TooMany {
        /// The threshold.
        threshold: Threshold,
        /// The largest value.
        max: u32,
    },
    /// A threshold that cannot be switched off was given no value.
    #[error("{threshold} cannot be switched off")]
    Required {
        /// The threshold.
        threshold: Threshold,
    },
    /// The warning stage must come before the stale threshold.
    #[error(
        "warn_after ({warn_after_hours} h) must be shorter than stale_after ({stale_after_hours} h)"
    )]
    WarningAfterStale {
        /// The warning stage, in hours.
        warn_after_hours: i64,
        /// The stale threshold, in hours.
        stale_after_hours: i64,
    },
}

/// The largest failure count a threshold may ask for.
const MAX_COUNT: u32 = 1_000;

/// A rule's thresholds. [`Thresholds::default`] is the one set of defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Stale: how long without a successful backup before the alert fires (48 h).
    pub stale_after: TimeDelta,
    /// Stale: an earlier warning stage (24 h); `None` switches it off.
    pub warn_after: Option<TimeDelta>,
    /// Failed: how far back failures count (24 h).
    pub lookback: TimeDelta,
    /// Failed: a failure that needs someone (or whose reason is unknown) pages after
    /// this many failed backups in a row (1: at once).
    pub min_consecutive_failures: u32,
    /// Failed: a failure Keepit retries by itself stays a pending warning until this
    /// many failed backups in a row (3).
    pub repeats_before_paging: u32,
    /// How often a firing alert nobody acknowledged is sent again (24 h).
    pub reminder_every: TimeDelta,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            stale_after: TimeDelta::hours(48),
            warn_after: Some(TimeDelta::hours(24)),
            lookback: TimeDelta::hours(24),
            min_consecutive_failures: 1,
            repeats_before_paging: 3,
            reminder_every: TimeDelta::hours(24),
        }
    }
}

impl Thresholds {
    /// One threshold's value: seconds for durations, a count otherwise; `None` when
    /// it is switched off.
    pub fn get(&self, threshold: Threshold) -> Option<i64> {
        let secs = |delta: TimeDelta| delta.num_seconds();
        match threshold {
            Threshold::StaleAfter => Some(secs(self.stale_after)),
            Threshold::WarnAfter => self.warn_after.map(secs),
            Threshold::Lookback => Some(secs(self.lookback)),
            Threshold::MinConsecutiveFailures => Some(i64::from(self.min_consecutive_failures)),
            Threshold::RepeatsBeforePaging => Some(i64::from(self.repeats_before_paging)),
            Threshold::ReminderEvery => Some(secs(self.reminder_every)),
        }
    }

    /// Sets one threshold, checking it alone (see [`Thresholds::validate`] for how
    /// they fit together).
    pub fn set(&mut self, threshold: Threshold, value: Option<i64>) -> Result<(), ThresholdError> {
        let Some(value) = value else {
            return match threshold {
                Threshold::WarnAfter => {
                    self.warn_after = None;
                    Ok(())
                }
                _ => Err(ThresholdError::Required { threshold }),
            };
        };
        if value <= 0 {
            return Err(ThresholdError::NotPositive { threshold });
        }
        let duration = || {
            if value > MAX_THRESHOLD_DAYS * 86_400 {
                Err(ThresholdError::TooLong { threshold })
            } else {
                Ok(TimeDelta::seconds(value))
            }
        };
        let count = || {
            u32::try_from(value)
                .ok()
                .filter(|count| *count <= MAX_COUNT)
                .ok_or(ThresholdError::TooMany {
                    threshold,
                    max: MAX_COUNT,
                })
        };
        match threshold {
            Threshold::StaleAfter => self.stale_after = duration()?,
            Threshold::WarnAfter => self.warn_after = Some(duration()?),
            Threshold::Lookback => self.lookback = duration()?,
            Threshold::MinConsecutiveFailures => self.min_consecutive_failures = count()?,
            Threshold::RepeatsBeforePaging => self.repeats_before_paging = count()?,
            Threshold::ReminderEvery => self.reminder_every = duration()?,
        }
        Ok(())
    }

    /// Checks every threshold alone and how they fit together.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        let mut copy = Thresholds::default();
        for &threshold in Threshold::ALL {
            copy.set(threshold, self.get(threshold))?;
        }
        if let Some(warn_after) = self.warn_after
            && warn_after >= self.stale_after
        {
            return Err(ThresholdError::WarningAfterStale {
                warn_after_hours: warn_after.num_hours(),
                stale_after_hours: self.stale_after.num_hours(),
            });
        }
        Ok(())
    }

    /// These thresholds with a customer's overrides applied. Overrides were checked
    /// when they were set; one that no longer fits is skipped.
    pub fn overridden_by(&self, overrides: &ThresholdOverrides) -> Thresholds {
        let mut result = *self;
        for (&threshold, &value) in &overrides.0 {
            let mut candidate = result;
            if candidate.set(threshold, value).is_ok() {
                result = candidate;
            }
        }
        result
    }
}

/// Per-customer changes to a rule's thresholds: a threshold absent here keeps the
/// rule's value; present with `None`, it is switched off (where that is allowed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThresholdOverrides(pub BTreeMap<Threshold, Option<i64>>);

/// A customer's changes to one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerOverride {
    /// The customer.
    pub customer: CustomerId,
    /// Turns the rule off (or on) for this customer; `None` keeps the rule's setting.
    pub enabled: Option<bool>,
    /// Threshold changes.
    pub thresholds: ThresholdOverrides,
}

/// What a rule is: everything but its id and overrides (what is created or replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleSpec {
    /// What it watches.
    pub kind: RuleKind,
    /// A name for people.
    pub name: String,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// Which connectors it watches.
    pub scope: AlertScope,
    /// Its thresholds.
    pub thresholds: Thresholds,
}

impl AlertRuleSpec {
    /// The two rules every installation starts with.
    pub fn defaults() -> [AlertRuleSpec; 2] {
        [
            (RuleKind::BackupStale, "Backup stale"),
            (RuleKind::BackupFailed, "Backup failed"),
        ]
        .map(|(kind, name)| AlertRuleSpec {
            kind,
            name: name.to_owned(),
            enabled: true,
            scope: AlertScope::All,
            thresholds: Thresholds::default(),
        })
    }
}

/// A stored rule with its per-customer overrides, as the engine evaluates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    /// Its id.
    pub id: AlertRuleId,
    /// What it is.
    pub spec: AlertRuleSpec,
    /// Per-customer changes.
    pub overrides: Vec<CustomerOverride>,
}

impl AlertRule {
    fn override_for(&self, customer: Option<CustomerId>) -> Option<&CustomerOverride> {
        let customer = customer?;
        self.overrides.iter().find(|o| o.customer == customer)
    }

    /// Whether the rule watches a connector of `kind` belonging to `customer`.
    pub fn applies_to(&self, customer: Option<CustomerId>, kind: &ConnectorKind) -> bool {
        let enabled = self
            .override_for(customer)
            .and_then(|o| o.enabled)
            .unwrap_or(self.spec.enabled);
        enabled && self.spec.scope.contains(customer, kind)
    }

    /// Whether the rule could apply to any connector (enabled, or enabled for someone).
    pub fn may_apply(&self) -> bool {
        self.spec.enabled || self.overrides.iter().any(|o| o.enabled == Some(true))
    }

    /// The thresholds in force for `customer`, overrides applied.
    pub fn thresholds_for(&self, customer: Option<CustomerId>) -> Thresholds {
        match self.override_for(customer) {
            Some(o) => self.spec.thresholds.overridden_by(&o.thresholds),
            None => self.spec.thresholds,
        }
    }
}

/// An alert: one (rule, connector) pair whose condition held, from opening to resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// The rule that raised it.
    pub rule: AlertRuleId,
    /// The connector it is about.
    pub connector: ConnectorId,
    /// That connector's account.
    pub account: AccountId,
    /// That account's customer.
    pub customer: Option<CustomerId>,
    /// Lifecycle state.
    pub state: AlertState,
    /// Severity.
    pub severity: Severity,
    /// Why, with a resolution in the failure catalogue.
    pub reason: Option<FailureReason>,
    /// The last successful backup when it was last evaluated.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last backup attempt when it was last evaluated.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When people were last told about it.
    pub last_notified_at: Option<DateTime<Utc>>,
    /// When a person acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<UserId>,
    /// No notices until then.
    pub silenced_until: Option<DateTime<Utc>>,
}

impl Alert {
    /// Whether notices about it are held back at `now`.
    pub fn silenced(&self, now: DateTime<Utc>) -> bool {
        self.silenced_until.is_some_and(|until| until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_threshold_reads_back_what_was_set() {
        let mut thresholds = Thresholds::default();
        for (i, &threshold) in Threshold::ALL.iter().enumerate() {
            let value = if threshold.is_duration() {
                3_600 * (i as i64 + 1)
            } else {
                i as i64 + 2
            };
            thresholds.set(threshold, Some(value)).unwrap();
            assert_eq!(thresholds.get(threshold), Some(value), "{threshold}");
        }
        thresholds.set(Threshold::WarnAfter, None).unwrap();
        assert_eq!(thresholds.get(Threshold::WarnAfter), None);
        assert_eq!(
            thresholds.set(Threshold::Lookback, None),
            Err(ThresholdError::Required {
                threshold: Threshold::Lookback
            })
        );
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_threshold() {
        Thresholds::default().validate().unwrap();
        let mut thresholds = Thresholds::default();
        assert_eq!(
            thresholds.set(Threshold::RepeatsBeforePaging, Some(0)),
            Err(ThresholdError::NotPositive {
                threshold: Threshold::RepeatsBeforePaging
            })
        );
        assert!(
            thresholds
                .set(Threshold::StaleAfter, Some(i64::MAX))
                .is_err()
        );
        thresholds.warn_after = Some(TimeDelta::hours(60));
        assert!(matches!(
            thresholds.validate(),
            Err(ThresholdError::WarningAfterStale {
                warn_after_hours: 60,
                stale_after_hours: 48
            })
        ));
    }

    #[test]
    fn overrides_apply_per_customer_and_skip_what_no_longer_fits() {
        let mut overrides = ThresholdOverrides::default();
        overrides.0.insert(Threshold::StaleAfter, Some(7_200));
        overrides.0.insert(Threshold::WarnAfter, None);
        overrides.0.insert(Threshold::Lookback, Some(-5));
        let rule = AlertRule {
            id: AlertRuleId(1),
            spec: AlertRuleSpec::defaults()[0].clone(),
            overrides: vec![CustomerOverride {
                customer: CustomerId(7),
                enabled: Some(false),
                thresholds: overrides,
            }],
        };
        let kind = ConnectorKind::from_wire("o365-admin", None);
        let theirs = rule.thresholds_for(Some(CustomerId(7)));
        assert_eq!(theirs.stale_after, TimeDelta::hours(2));
        assert_eq!(theirs.warn_after, None);
        assert_eq!(theirs.lookback, TimeDelta::hours(24));
        assert_eq!(
            rule.thresholds_for(Some(CustomerId(8))),
            Thresholds::default()
        );
        assert!(!rule.applies_to(Some(CustomerId(7)), &kind));
        assert!(rule.applies_to(Some(CustomerId(8)), &kind));
        assert!(rule.applies_to(None, &kind));
    }

    #[test]
    fn codes_round_trip_and_unknown_ones_list_the_known() {
        for &kind in RuleKind::ALL {
            assert_eq!(RuleKind::parse(kind.as_str()), Ok(kind));
        }
        let error = Severity::parse("urgent").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown severity \"urgent\"; expected one of warning, critical"
        );
        assert!(AlertState::Pending < AlertState::Firing);
        assert!(Severity::Warning < Severity::Critical);
    }
}
