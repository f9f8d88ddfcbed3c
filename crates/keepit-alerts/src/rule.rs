//! Alert rules: what to watch, where, and with which thresholds.

use std::fmt;

use chrono::Duration;
use keepit_domain::ConnectorKind;

/// A rule's id, numbered by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(pub i64);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The two kinds of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// No successful backup of an active connector within a threshold.
    BackupStale,
    /// The latest backup failed, the connector is in an error state, or a failure event
    /// reached the audit log within a lookback.
    BackupFailed,
}

impl RuleKind {
    /// Stable code, as used in the API and `keepit-sync status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::BackupStale => "backup_stale",
            RuleKind::BackupFailed => "backup_failed",
        }
    }

    /// Reverses [`RuleKind::as_str`].
    pub fn parse(code: &str) -> Option<RuleKind> {
        match code {
            "backup_stale" => Some(RuleKind::BackupStale),
            "backup_failed" => Some(RuleKind::BackupFailed),
            _ => None,
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which connectors a rule watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleScope {
    /// Every customer's connectors.
    All,
    /// One customer's connectors (the store's customer id).
    Customer(i64),
    /// Connectors of one kind.
    ConnectorKind(ConnectorKind),
}

/// The thresholds of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleParams {
    /// Stale: how long without a successful backup before the alert fires (default 48 h).
    pub stale_after: Duration,
    /// Stale: an earlier warning stage (default 24 h); `None` disables it.
    pub warn_after: Option<Duration>,
    /// Failed: how far back failures count (default 24 h).
    pub lookback: Duration,
    /// Failed: fire only after this many failed backups in a row (default 1).
    pub min_consecutive_failures: u32,
    /// How often a firing alert is sent again while nobody acknowledges it (default 24 h).
    pub reminder_every: Duration,
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams {
            stale_after: Duration::hours(48),
            warn_after: Some(Duration::hours(24)),
            lookback: Duration::hours(24),
            min_consecutive_failures: 1,
            reminder_every: Duration::hours(24),
        }
    }
}

/// Per-customer changes to a rule's thresholds; unset fields keep the rule's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleOverride {
    /// The customer the override applies to.
    pub customer: i64,
    /// Turns the rule off (or on) for this customer.
    pub enabled: Option<bool>,
    /// See [`RuleParams::stale_after`].
    pub stale_after: Option<Duration>,
    /// See [`RuleParams::warn_after`]; `Some(None)` disables the warning stage.
    pub warn_after: Option<Option<Duration>>,
    /// See [`RuleParams::lookback`].
    pub lookback: Option<Duration>,
    /// See [`RuleParams::min_consecutive_failures`].
    pub min_consecutive_failures: Option<u32>,
}

/// One alert rule with its scope and overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    /// The rule's id.
    pub id: RuleId,
    /// What it watches for.
    pub kind: RuleKind,
    /// A name for people.
    pub name: String,
    /// Whether it is evaluated at all.
    pub enabled: bool,
    /// Which connectors it watches.
    pub scope: RuleScope,
    /// Its thresholds.
    pub params: RuleParams,
    /// Per-customer overrides.
    pub overrides: Vec<RuleOverride>,
}

/// Why a rule configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A duration that must be positive was not.
    #[error("{field} must be longer than zero")]
    NotPositive {
        /// The offending field.
        field: &'static str,
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
    /// At least one failure is needed to call a backup failed.
    #[error("min_consecutive_failures must be at least 1")]
    NoFailuresRequired,
    /// A duration beyond any sensible threshold (and beyond safe date arithmetic).
    #[error("{field} must be at most {max_days} days")]
    TooLong {
        /// The offending field.
        field: &'static str,
        /// The limit, in days.
        max_days: i64,
    },
}

/// The longest threshold, lookback or reminder interval a rule may have: ten years.
pub const MAX_RULE_DURATION_DAYS: i64 = 3_660;

impl RuleParams {
    /// Checks the thresholds make sense together.
    pub fn validate(&self) -> Result<(), RuleError> {
        for (field, value) in [
            ("stale_after", self.stale_after),
            ("lookback", self.lookback),
            ("reminder_every", self.reminder_every),
        ] {
            if value <= Duration::zero() {
                return Err(RuleError::NotPositive { field });
            }
            if value > Duration::days(MAX_RULE_DURATION_DAYS) {
                return Err(RuleError::TooLong {
                    field,
                    max_days: MAX_RULE_DURATION_DAYS,
                });
            }
        }
        if let Some(warn_after) = self.warn_after {
            if warn_after <= Duration::zero() {
                return Err(RuleError::NotPositive {
                    field: "warn_after",
                });
            }
            if warn_after >= self.stale_after {
                return Err(RuleError::WarningAfterStale {
                    warn_after_hours: warn_after.num_hours(),
                    stale_after_hours: self.stale_after.num_hours(),
                });
            }
        }
        if self.min_consecutive_failures == 0 {
            return Err(RuleError::NoFailuresRequired);
        }
        Ok(())
    }
}

impl RuleConfig {
    /// The two rules every installation starts with.
    pub fn defaults() -> Vec<RuleConfig> {
        vec![
            RuleConfig {
                id: RuleId(1),
                kind: RuleKind::BackupStale,
                name: "Backup stale".into(),
                enabled: true,
                scope: RuleScope::All,
                params: RuleParams::default(),
                overrides: Vec::new(),
            },
            RuleConfig {
                id: RuleId(2),
                kind: RuleKind::BackupFailed,
                name: "Backup failed".into(),
                enabled: true,
                scope: RuleScope::All,
                params: RuleParams::default(),
                overrides: Vec::new(),
            },
        ]
    }

    /// Whether the rule watches a connector of `kind` belonging to `customer`.
    pub fn applies_to(&self, customer: i64, kind: &ConnectorKind) -> bool {
        let in_scope = match &self.scope {
            RuleScope::All => true,
            RuleScope::Customer(id) => *id == customer,
            RuleScope::ConnectorKind(scoped) => scoped == kind,
        };
        let enabled = self
            .overrides
            .iter()
            .find(|o| o.customer == customer)
            .and_then(|o| o.enabled)
            .unwrap_or(self.enabled);
        in_scope && enabled
    }

    /// The thresholds in force for `customer`, overrides applied.
    pub fn params_for(&self, customer: i64) -> RuleParams {
        let mut params = self.params;
        if let Some(o) = self.overrides.iter().find(|o| o.customer == customer) {
            if let Some(value) = o.stale_after {
                params.stale_after = value;
            }
            if let Some(value) = o.warn_after {
                params.warn_after = value;
            }
            if let Some(value) = o.lookback {
                params.lookback = value;
            }
            if let Some(value) = o.min_consecutive_failures {
                params.min_consecutive_failures = value;
            }
        }
        params
    }
}
