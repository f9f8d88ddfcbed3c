//! The command line of `keepit-sync`, as SPEC'd: subcommands, flags and their environment variables.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sync an MSP's Keepit account tree into keepit-watch's database, and report on it.
#[derive(Debug, Parser)]
#[command(name = "keepit-sync", version = crate::VERSION, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,

    /// How results are printed on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) output: OutputFormat,

    /// How logs are written on stderr (filter them with RUST_LOG, for example RUST_LOG=keepit=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    /// The directory that holds the master key file and the default SQLite database
    /// (default: the working directory). The systemd units and the container use
    /// /var/lib/keepit-watch.
    #[arg(long, global = true, env = "KEEPIT_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run one sync pass over every enabled integration, or over the one given by the Keepit flags.
    Run(RunArgs),
    /// Sync again and again at a fixed interval until stopped (SIGTERM or Ctrl-C finish the account in hand first).
    Daemon(DaemonArgs),
    /// Check Keepit credentials: print the parent account and how many customer accounts it sees.
    TestConnection(KeepitArgs),
    /// Start a generated fake Keepit fleet in this process, sync it into a local database and show what an MSP would see.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Manage the MSP's own customer list.
    Customers {
        #[command(subcommand)]
        command: CustomersCommand,
    },
    /// Show what is stale or failing now: every open alert, grouped by customer.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// Only alerts of customers whose name contains this (any case).
    #[arg(long)]
    pub(crate) customer: Option<String>,

    /// Only alerts of this severity.
    #[arg(long, value_parser = ["warning", "critical"])]
    pub(crate) severity: Option<String>,

    /// Only alerts in this state.
    #[arg(long, value_parser = ["pending", "firing", "acknowledged", "silenced"])]
    pub(crate) state: Option<String>,

    /// Only alerts opened within this long, such as 24h or 7d.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) since: Option<Duration>,

    /// A last successful sync older than this makes `status` warn and exit 1 (two
    /// daemon intervals by default).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub(crate) stale_after: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CustomersCommand {
    /// Import existing customers from a CSV file with the columns name and external_id, so Keepit accounts match them by name.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// Database URL: sqlite://path?mode=rwc or postgres://user@host/db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl DatabaseArgs {
    /// The database to use: the flag or `DATABASE_URL`, else `keepit-watch.db` in the
    /// state directory (the working directory when none is set).
    pub(crate) fn url(&self) -> String {
        crate::state::database_url(self.database_url.as_deref())
    }
}

#[derive(Debug, Args)]
pub(crate) struct KeepitArgs {
    /// Keepit data-centre prefix of your Keepit address, for example us-dc when you sign in at us-dc.keepit.com.
    #[arg(long, env = "KEEPIT_REGION")]
    pub(crate) region: Option<String>,

    /// Full Keepit base URL; overrides --region (for proxies and tests).
    #[arg(long, env = "KEEPIT_BASE_URL")]
    pub(crate) base_url: Option<String>,

    /// The MSP's parent account GUID (the value after /users/ in the Keepit address).
    #[arg(long, env = "KEEPIT_ACCOUNT_GUID")]
    pub(crate) account_guid: Option<String>,

    /// Keepit login (usually an e-mail address).
    #[arg(long, env = "KEEPIT_USERNAME")]
    pub(crate) username: Option<String>,

    /// Keepit password. Prefer --password-file or the environment: command lines are visible to other users.
    #[arg(
        long,
        env = "KEEPIT_PASSWORD",
        hide_env_values = true,
        conflicts_with = "password_file"
    )]
    pub(crate) password: Option<String>,

    /// Read the Keepit password from this file (its first line).
    #[arg(long, value_name = "PATH")]
    pub(crate) password_file: Option<PathBuf>,

    /// Login of a Keepit API token; with --api-token-password it takes priority over username and password.
    #[arg(long, env = "KEEPIT_API_TOKEN_LOGIN", hide_env_values = true)]
    pub(crate) api_token_login: Option<String>,

    /// Password of a Keepit API token.
    #[arg(long, env = "KEEPIT_API_TOKEN_PASSWORD", hide_env_values = true)]
    pub(crate) api_token_password: Option<String>,

    /// Most Keepit requests in flight at once.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,

    /// (`run`, `daemon`) Store these credentials, sealed with the master key, in the
    /// integration, so later runs, the daemon and the server can use it without the
    /// flags. Without it the credentials are used for this run only and not stored.
    #[arg(long)]
    pub(crate) save: bool,
}

impl KeepitArgs {
    /// Whether any Keepit connection flag was given (an ad-hoc integration).
    pub(crate) fn any_given(&self) -> bool {
        self.region.is_some()
            || self.base_url.is_some()
            || self.account_guid.is_some()
            || self.username.is_some()
            || self.api_token_login.is_some()
    }
}

/// Limits that keep one slow or broken answer from stalling a pass.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// Largest Keepit answer read, in bytes; a longer answer fails its account's sync.
    #[arg(
        long,
        env = "KEEPIT_MAX_RESPONSE_BYTES",
        default_value_t = 32 * 1024 * 1024,
        value_parser = clap::value_parser!(u64).range(4096..=1024 * 1024 * 1024)
    )]
    pub(crate) max_response_bytes: u64,

    /// Time one Keepit request may take in total, retries and their waits included.
    #[arg(long, env = "KEEPIT_REQUEST_DEADLINE", default_value = "90s", value_parser = parse_deadline)]
    pub(crate) request_deadline: Duration,

    /// Time one customer account may take in a pass; a slower account fails alone.
    #[arg(long, env = "KEEPIT_ACCOUNT_DEADLINE", default_value = "10m", value_parser = parse_deadline)]
    pub(crate) account_deadline: Duration,

    /// How long a sync's lease outlives its holder: a sync that died elsewhere is replaced after this (one that died on this host, at once).
    #[arg(long, env = "KEEPIT_LEASE_TTL", default_value = "2m", value_parser = parse_lease_ttl)]
    pub(crate) lease_ttl: Duration,

    /// How long audit events and finished sync runs are kept (at least 14d, the audit window); older ones are purged at the end of each pass.
    #[arg(long, env = "KEEPIT_AUDIT_RETENTION", default_value = "400d", value_parser = parse_retention)]
    pub(crate) audit_retention: Duration,
}

impl LimitArgs {
    /// The bounds every Keepit client of this process gets.
    pub(crate) fn client_limits(&self) -> keepit_ingest::ClientLimits {
        keepit_ingest::ClientLimits {
            request_deadline: self.request_deadline,
            max_response_bytes: usize::try_from(self.max_response_bytes).unwrap_or(usize::MAX),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    #[command(flatten)]
    pub(crate) keepit: KeepitArgs,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    #[command(flatten)]
    pub(crate) keepit: KeepitArgs,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Time between the starts of two passes, such as 15m, 1h or 90s.
    #[arg(long, default_value = "15m", value_parser = parse_interval)]
    pub(crate) interval: Duration,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Database URL for the demo data.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://keepit-watch-demo.db?mode=rwc",
        hide_env_values = true
    )]
    pub(crate) database_url: String,
    /// Number of customer accounts in the generated fleet.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub(crate) accounts: u32,
    /// Seed of the generated fleet: the same seed gives the same fleet.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CSV file (header row: name,external_id).
    pub(crate) csv: PathBuf,
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned text for people.
    Table,
    /// One JSON object for programs.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Parses a daemon interval: at least 10 s.
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_secs(10) {
        return Err("the interval must be at least 10s".into());
    }
    Ok(interval)
}

/// Parses a deadline: between 1 s and one day.
fn parse_deadline(text: &str) -> Result<Duration, String> {
    let deadline = parse_duration(text)?;
    if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&deadline) {
        return Err("a deadline must be between 1s and 1d".into());
    }
    Ok(deadline)
}

/// Parses a retention: at least the 14-day window the audit log is read on.
fn parse_retention(text: &str) -> Result<Duration, String> {
    let retention = parse_duration(text)?;
    if retention < Duration::from_secs(14 * 86_400) {
        return Err(
            "the retention must be at least 14d, the window the audit log is read on".into(),
        );
    }
    Ok(retention)
}

/// Parses a lease lifetime: between 3 s (it is renewed every third) and one hour.
fn parse_lease_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if !(Duration::from_secs(3)..=Duration::from_secs(3600)).contains(&ttl) {
        return Err("the lease lifetime must be between 3s and 1h".into());
    }
    Ok(ttl)
}

/// Parses a duration such as `15m`, `1h`, `90s`, `2h30m` or `7d`: keepit-watch's one
/// grammar (`keepit_domain::parse_duration`), shared with keepit-server's flags and the
/// API's `span`. A bare number is refused, since `15` could mean seconds as well as
/// minutes.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    keepit_domain::parse_duration(text).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_interval("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_interval("90s"), Ok(Duration::from_secs(90)));
        // A bare number is refused with the units named, not read as seconds.
        let bare = parse_interval("15").unwrap_err();
        assert!(bare.contains("no unit") && bare.contains("15m"), "{bare}");
        assert!(parse_interval("5s").is_err());
        assert!(parse_interval("fast").is_err());
        assert!(parse_interval("10x").is_err());
        assert!(parse_interval("m").is_err());
        assert!(parse_interval("").is_err());
        assert_eq!(parse_lease_ttl("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_lease_ttl("1s").is_err());
        assert_eq!(
            parse_retention("400d"),
            Ok(Duration::from_secs(400 * 86_400))
        );
        assert!(parse_retention("13d").is_err());
        assert!(parse_lease_ttl("2h").is_err());
        assert_eq!(parse_deadline("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_deadline("0s").is_err());
        assert!(parse_deadline("0").is_err());
        assert!(parse_deadline("99999999999999999999d").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_duration_or_a_message(text in proptest::prelude::any::<String>()) {
            if let Err(message) = parse_duration(&text) {
                proptest::prop_assert!(!message.is_empty());
            }
        }

        #[test]
        fn unit_sums_add_up(days in 0u64..30, hours in 0u64..48, minutes in 0u64..120, seconds in 0u64..120) {
            let text = format!("{days}d{hours}h{minutes}m{seconds}s");
            let expected = days * 86_400 + hours * 3_600 + minutes * 60 + seconds;
            proptest::prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(expected)));
            proptest::prop_assert_eq!(parse_duration(&format!(" {expected}s ")), Ok(Duration::from_secs(expected)));
            proptest::prop_assert!(parse_duration(&expected.to_string()).is_err());
        }
    }
}
