//! The command line of `keepit-server`, as SPEC'd: `serve`, `user add|list|set`,
//! `token create|list|revoke`.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Serve keepit-watch's HTTP API, and manage its users and API tokens.
#[derive(Debug, Parser)]
#[command(name = "keepit-server", version = crate::VERSION, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,

    /// How logs are written on stderr (filter them with RUST_LOG, for example RUST_LOG=keepit_http=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    /// The directory that holds the master key file and the default SQLite database
    /// (default: the working directory). The systemd units and the container use
    /// /var/lib/keepit-watch.
    #[arg(long, global = true, env = "KEEPIT_STATE_DIR")]
    pub(crate) state_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the HTTP API until SIGTERM or Ctrl-C (requests in flight are finished first).
    Serve(ServeArgs),
    /// Manage the people who use keepit-watch.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Acknowledge, silence or unsilence an alert (ids as `keepit-sync status` shows them).
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Connect the PSA that alert tickets go to, and import its companies as customers.
    Psa {
        #[command(subcommand)]
        command: PsaCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PsaCommand {
    /// Add a PSA connection (its credentials are tested first, then sealed with the master key).
    Add(PsaAddArgs),
    /// List the PSA connections: id, name, kind, state, last import and last error (never credentials).
    List(DatabaseArgs),
    /// Sign in to a connection's PSA and read a company.
    Test(PsaIdArgs),
    /// Delete a connection and its ticket records (the tickets stay in the PSA).
    Remove(PsaIdArgs),
    /// Read the PSA's active companies into customers and match Keepit accounts to them.
    ImportCompanies(PsaIdArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PsaIdArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// The connection's id (as `psa list` shows it).
    #[arg(long)]
    pub(crate) id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PsaKindArg {
    /// ConnectWise PSA (Manage).
    Connectwise,
    /// Autotask.
    Autotask,
    /// HaloPSA.
    Halopsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ClosePolicyArg {
    /// Close an untouched ticket when its alert resolves.
    Close,
    /// Only add a resolution note.
    Note,
}

#[derive(Debug, Args)]
pub(crate) struct PsaAddArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// A name for the connection.
    #[arg(long)]
    pub(crate) name: String,

    /// Which PSA.
    #[arg(long, value_enum)]
    pub(crate) kind: PsaKindArg,

    /// The API's base URL: ConnectWise with its codebase
    /// (`https://api-eu.myconnectwise.net/v4_6_release/apis/3.0/`), Halo the instance
    /// (`https://acme.halopsa.com`); leave out for Autotask to find the zone.
    #[arg(long, default_value = "")]
    pub(crate) base_url: String,

    /// ConnectWise: the company id people sign in with.
    #[arg(long)]
    pub(crate) company_id: Option<String>,

    /// ConnectWise: the API member's public key.
    #[arg(long)]
    pub(crate) public_key: Option<String>,

    /// ConnectWise: the API member's private key.
    #[arg(long, env = "KEEPIT_PSA_PRIVATE_KEY", hide_env_values = true)]
    pub(crate) private_key: Option<String>,

    /// ConnectWise: the integration's client id. Halo: the application's client id.
    #[arg(long, env = "KEEPIT_PSA_CLIENT_ID", hide_env_values = true)]
    pub(crate) client_id: Option<String>,

    /// Autotask: the API user's user name.
    #[arg(long)]
    pub(crate) username: Option<String>,

    /// Autotask: the API user's secret.
    #[arg(long, env = "KEEPIT_PSA_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,

    /// Autotask: the tracking identifier.
    #[arg(long, env = "KEEPIT_PSA_INTEGRATION_CODE", hide_env_values = true)]
    pub(crate) integration_code: Option<String>,

    /// Halo: the application's client secret.
    #[arg(long, env = "KEEPIT_PSA_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) client_secret: Option<String>,

    /// Halo: the tenant of a Halo-hosted instance.
    #[arg(long)]
    pub(crate) tenant: Option<String>,

    /// Board (ConnectWise), queue (Autotask) or ticket type (Halo) id for new tickets.
    #[arg(long)]
    pub(crate) board: Option<String>,

    /// Status id for new and reopened tickets.
    #[arg(long)]
    pub(crate) new_status: Option<String>,

    /// Status id that closes a ticket.
    #[arg(long)]
    pub(crate) closed_status: Option<String>,

    /// Priority id for warning alerts.
    #[arg(long)]
    pub(crate) priority_warning: Option<String>,

    /// Priority id for critical alerts.
    #[arg(long)]
    pub(crate) priority_critical: Option<String>,

    /// Company id for customers without a PSA id.
    #[arg(long)]
    pub(crate) catch_all_company: Option<String>,

    /// Days within which a closed ticket is reopened when its alert fires again (0: never).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=90))]
    pub(crate) reopen_days: u32,

    /// What a resolved alert does to its ticket.
    #[arg(long, value_enum, default_value_t = ClosePolicyArg::Close)]
    pub(crate) close_policy: ClosePolicyArg,

    /// At most one note per ticket for repeats in this many minutes.
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u32).range(5..=10_080))]
    pub(crate) note_interval: u32,

    /// Requests per hour the connection allows itself (default: the PSA's; Autotask's
    /// 10,000 an hour are shared with the MSP's other tools, so its default is 600).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) hourly_budget: Option<u32>,

    /// Store it switched off (no tickets until it is switched on through the API or the page).
    #[arg(long)]
    pub(crate) disabled: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertCommand {
    /// Record that someone is on it: no more reminders.
    Ack(AlertArgs),
    /// No notices about the alert until a time.
    Silence(AlertSilenceArgs),
    /// Lift a silence.
    Unsilence(AlertArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AlertArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// The alert's id.
    #[arg(long)]
    pub(crate) id: i64,

    /// Who does it, by email (default: the primary administrator).
    #[arg(long)]
    pub(crate) user: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AlertSilenceArgs {
    #[command(flatten)]
    pub(crate) alert: AlertArgs,

    /// Until when: an RFC 3339 time (2026-12-01T08:00:00Z) or a duration from now (4h,
    /// 2d).
    #[arg(long, value_parser = parse_until)]
    pub(crate) until: chrono::DateTime<chrono::Utc>,
}

fn parse_until(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let span = keepit_domain::parse_duration(text).map_err(|error| {
        format!("{error}; or give an RFC 3339 time such as 2026-12-01T08:00:00Z")
    })?;
    chrono::TimeDelta::from_std(span)
        .ok()
        .and_then(|span| chrono::Utc::now().checked_add_signed(span))
        .ok_or_else(|| format!("{text:?} reaches too far into the future"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user.
    Add(UserAddArgs),
    /// List the users: e-mail, role, whether they receive messages.
    List(DatabaseArgs),
    /// Change a user's role, message setting or dashboard password.
    Set(UserSetArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an API token for a user; the token is printed once, alone on the last line of stdout.
    Create(TokenCreateArgs),
    /// List API tokens (never their secrets): id, owner, label, created, last used, revoked.
    List(TokenListArgs),
    /// Revoke an API token: the next request made with it is refused.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// Database URL: sqlite://path?mode=rwc or postgres://user@host/db. Migrations run first.
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
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// Address and port to listen on.
    #[arg(long, env = "KEEPIT_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,

    /// Serve `/metrics` without a token, for Prometheus scrapers that cannot send one
    /// (the metrics hold counts and rule names, no customer names; keep the port off
    /// public networks all the same).
    #[arg(long, env = "KEEPIT_METRICS_PUBLIC", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) metrics_public: bool,

    /// Mark the dashboard's session cookie Secure: set it when browsers reach the server
    /// over HTTPS (a proxy that sends `X-Forwarded-Proto: https` gets it anyway).
    #[arg(long, env = "KEEPIT_COOKIE_SECURE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) cookie_secure: bool,

    /// How long a dashboard session lasts without a request: `8h`, `30m`, `2d`.
    #[arg(long, env = "KEEPIT_SESSION_IDLE", default_value = "8h", value_parser = parse_session_idle)]
    pub(crate) session_idle: std::time::Duration,
}

fn parse_session_idle(text: &str) -> Result<std::time::Duration, String> {
    let idle = keepit_domain::parse_duration(text).map_err(|error| error.to_string())?;
    if idle < std::time::Duration::from_secs(5 * 60)
        || idle > std::time::Duration::from_secs(30 * 86_400)
    {
        return Err("must be from 5m to 30d".to_owned());
    }
    Ok(idle)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// May read everything and change alerts, rules and integrations.
    Admin,
    /// May read everything and mark their own messages read.
    Viewer,
}

#[derive(Debug, Args)]
pub(crate) struct UserAddArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// Email address (the login the token is created for).
    #[arg(long)]
    pub(crate) email: String,

    /// Name for people.
    #[arg(long)]
    pub(crate) name: String,

    /// Role.
    #[arg(long, value_enum)]
    pub(crate) role: RoleArg,

    /// Make this admin the primary administrator, who receives messages by default.
    #[arg(long)]
    pub(crate) primary: bool,

    /// A file whose first line is the user's dashboard password (at least 12
    /// characters); without it the user signs in with API tokens only.
    #[arg(long)]
    pub(crate) password_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// Email of the user the token is for.
    #[arg(long)]
    pub(crate) user: String,

    /// A label to recognise the token by.
    #[arg(long, default_value = "cli")]
    pub(crate) label: String,
}

#[derive(Debug, Args)]
pub(crate) struct UserSetArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// Email of the user to change.
    #[arg(long)]
    pub(crate) email: String,

    /// New role (the last administrator cannot be made a viewer).
    #[arg(long, value_enum)]
    pub(crate) role: Option<RoleArg>,

    /// Whether the user receives messages (seed 000: the primary administrator does by
    /// default, others once opted in).
    #[arg(long, action = clap::ArgAction::Set)]
    pub(crate) send_messages: Option<bool>,

    /// A file whose first line is the user's new dashboard password; their browser
    /// sessions end.
    #[arg(long)]
    pub(crate) password_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TokenListArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// Only this user's tokens (by email).
    #[arg(long)]
    pub(crate) user: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TokenRevokeArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// The token's id, as `token list` shows it.
    #[arg(long)]
    pub(crate) id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
