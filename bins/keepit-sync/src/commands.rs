//! One function per subcommand.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use keepit_alerts::AlertPass;
use keepit_client::KeepitClient;
use keepit_ingest::{Integration, Shutdown, SyncConfig, SyncReport, sync_once};
use keepit_store::{Backend, KeepitCredentials, NewIntegration, Store, StoreConfig, SyncOutcome};

use crate::cli::{
    Cli, Command, CustomersCommand, DaemonArgs, ImportArgs, KeepitArgs, LimitArgs, OutputFormat,
    RunArgs, StatusArgs,
};
use crate::config::{AdHocKeepit, check_database_url, master_key, notifiers, public_url, usage};
use crate::report;

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let output = cli.output;
    match cli.command {
        Command::Run(args) => run_once(args, output).await,
        Command::Daemon(args) => daemon(args, output).await,
        Command::TestConnection(args) => test_connection(args, output).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => crate::demo::run(args, output).await,
        Command::Customers {
            command: CustomersCommand::Import(args),
        } => import(args, output).await,
        Command::Status(args) => status(&args, output).await,
    }
}

/// The end-of-pass hook: alerts and notifications, and PSA tickets when a PSA
/// connection is stored (the master key unseals its credentials; it is read only then,
/// so a run without PSA connections never creates a key file).
async fn alert_pass(store: &Store) -> anyhow::Result<AlertPass> {
    let pass = AlertPass::new(notifiers()?);
    let connections = store
        .psa_connections()
        .await
        .context("could not read the PSA connections")?;
    if connections.iter().all(|connection| !connection.enabled) {
        return Ok(pass);
    }
    let key = master_key().context("PSA connections are stored, but the master key that unseals their credentials cannot be read")?;
    Ok(pass.with_psa(keepit_alerts::PsaSupport::new(
        std::sync::Arc::new(key),
        public_url(),
    )))
}

pub(crate) async fn open_store(url: &str) -> anyhow::Result<Store> {
    check_database_url(url)?;
    // The default database of a state directory: the directory is made on first use.
    if let Some(dir) = crate::config::state_dir()
        && url == StoreConfig::default_url_in(dir)
    {
        crate::config::create_private_dir(dir)?;
    }
    Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .context("could not open the database")
}

/// A client for a connection given only on the command line, for `test-connection`
/// (stored integrations, and ad-hoc runs, go through `keepit_ingest`'s builder).
fn unstored_client(
    region: Option<&str>,
    base_url: Option<&str>,
    credentials: keepit_client::Credentials,
    account: Option<keepit_domain::AccountId>,
    concurrency: usize,
) -> anyhow::Result<KeepitClient> {
    let mut builder = KeepitClient::builder()
        .credentials(credentials)
        .max_concurrency(concurrency.max(1));
    builder = match (base_url, region) {
        (Some(url), _) => builder.base_url(url),
        (None, Some(region)) => builder.region(region),
        (None, None) => return Err(usage("a Keepit region or base URL is required")),
    };
    if let Some(account) = account {
        builder = builder.account(account);
    }
    builder.build().map_err(|error| usage(error.to_string()))
}

/// The integrations a pass covers: the ad-hoc one from the flags, or every enabled one stored.
async fn integrations(
    store: &Store,
    keepit: &KeepitArgs,
    limits: &LimitArgs,
) -> anyhow::Result<Vec<(String, Integration)>> {
    let now = Utc::now();
    if keepit.any_given() {
        let ad_hoc = AdHocKeepit::from_args(keepit)?;
        let account = ad_hoc
            .account
            .clone()
            .ok_or_else(|| usage("--account-guid (or KEEPIT_ACCOUNT_GUID) is required to sync: it names the MSP's parent account"))?;
        // Credentials given on the command line are stored only with --save; an
        // integration without stored credentials is skipped by plain runs and the
        // daemon, so an ad-hoc run leaves nothing that fails later.
        let to_store = if keepit.save {
            ad_hoc_credentials(keepit)?
        } else {
            KeepitCredentials::default()
        };
        let record = match store.integration_by_parent(&account).await? {
            Some(record) => {
                if keepit.save {
                    store
                        .set_integration_credentials(record.id, &to_store, &master_key()?, now)
                        .await?;
                }
                record
            }
            None => {
                let new = NewIntegration {
                    name: format!("Keepit {account}"),
                    region: ad_hoc.region.clone(),
                    base_url: ad_hoc.base_url.clone(),
                    parent_account: account.clone(),
                    credentials: to_store,
                    enabled: true,
                    settings: ad_hoc.settings()?,
                };
                store.create_integration(&new, &master_key()?, now).await?
            }
        };
        if keepit.save {
            tracing::info!(integration = %record.name, "credentials stored, sealed with the master key");
        }
        // The flags say where Keepit is and how hard to ask it, for this run.
        let mut target = record.clone();
        target.region.clone_from(&ad_hoc.region);
        target.base_url.clone_from(&ad_hoc.base_url);
        target.settings = ad_hoc.settings()?;
        let client = keepit_ingest::client_with_credentials(
            &target,
            ad_hoc.credentials,
            &limits.client_limits(),
        )
        .map_err(|error| usage(error.to_string()))?;
        return Ok(vec![(
            record.name.clone(),
            Integration {
                id: record.id,
                parent: account,
                client,
            },
        )]);
    }
    let key = master_key()?;
    crate::config::check_master_key(store, &key).await?;
    let (found, left_out) = enabled_integrations(store, &key, limits).await?;
    if found.is_empty() && left_out > 0 {
        return Err(anyhow::anyhow!(
            "no enabled integration can be used: their stored credentials are missing or do not decrypt with this master key"
        ));
    }
    if found.is_empty() {
        return Err(usage(
            "nothing to sync: no enabled integration is stored; pass --region (or --base-url), --account-guid and credentials, or add an integration through the HTTP API",
        ));
    }
    Ok(found)
}

/// The store's form of the credentials given as flags, for `--save`.
fn ad_hoc_credentials(keepit: &KeepitArgs) -> anyhow::Result<KeepitCredentials> {
    let password = match (&keepit.password, &keepit.password_file) {
        (Some(password), _) => Some(secrecy::SecretString::from(password.clone())),
        (None, Some(path)) => Some(crate::config::read_secret_file(path)?),
        (None, None) => None,
    };
    Ok(KeepitCredentials {
        username: keepit.username.clone(),
        password,
        api_token_login: keepit.api_token_login.clone(),
        api_token_password: keepit
            .api_token_password
            .clone()
            .map(secrecy::SecretString::from),
    })
}

/// Every enabled integration, read again now: one that cannot be used (its
/// credentials do not decrypt, or are incomplete) is reported and left out.
async fn enabled_integrations(
    store: &Store,
    key: &keepit_store::secrets::MasterKey,
    limits: &LimitArgs,
) -> anyhow::Result<(Vec<(String, Integration)>, usize)> {
    let mut found = Vec::new();
    let mut left_out = 0;
    for record in store
        .integrations()
        .await?
        .into_iter()
        .filter(|record| record.enabled)
    {
        // Read and decrypted once per integration and pass.
        let stored = store
            .integration_credentials(record.id, key)
            .await
            .with_context(|| format!("credentials of integration {}", record.name));
        if let Ok(credentials) = &stored
            && credentials.username.is_none()
            && credentials.api_token_login.is_none()
        {
            // Made by an ad-hoc run without --save: synced only with the flags.
            tracing::debug!(integration = %record.name, "no stored credentials; synced only by runs given Keepit flags");
            continue;
        }
        let client = stored.and_then(|stored| {
            Ok(keepit_ingest::client_for_integration(
                &record,
                stored,
                &limits.client_limits(),
            )?)
        });
        match client {
            Ok(client) => found.push((
                record.name.clone(),
                Integration {
                    id: record.id,
                    parent: record.parent_account.clone(),
                    client,
                },
            )),
            Err(error) => {
                left_out += 1;
                tracing::error!(
                    integration = %record.name,
                    error = %format!("{error:#}"),
                    "integration left out of this pass"
                );
            }
        }
    }
    Ok((found, left_out))
}

/// What a pass does when another process is syncing an integration already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenHeld {
    /// Stop with the error (`run`: the operator asked for this pass and gets told).
    Fail,
    /// Help that pass on PostgreSQL, skip the integration on SQLite (`daemon`).
    HelpOrSkip,
}

async fn pass(
    store: &Store,
    integrations: &[(String, Integration)],
    hook: &AlertPass,
    config: &SyncConfig,
    shutdown: &Shutdown,
    when_held: WhenHeld,
) -> anyhow::Result<Vec<SyncReport>> {
    let mut reports = Vec::new();
    for (name, integration) in integrations {
        // A fresh count per integration, for the bar.
        let config = &SyncConfig {
            progress: keepit_ingest::Progress::default(),
            ..config.clone()
        };
        let result = crate::progress::with_bar(
            name,
            &config.progress,
            &integration.client,
            sync_once(store, integration, config, hook, shutdown),
        )
        .await;
        match result {
            Ok(report) => {
                tracing::info!(integration = %name, outcome = report.outcome.as_str(), accounts = report.accounts, requests = report.requests, "sync pass finished");
                reports.push(report);
            }
            Err(keepit_ingest::Error::ShutDown) => break,
            Err(error @ keepit_ingest::Error::LeaseHeld { .. })
                if when_held == WhenHeld::HelpOrSkip =>
            {
                if store.backend() == Backend::Postgres {
                    tracing::info!(integration = %name, reason = %error, "another worker leads this pass; helping with its accounts");
                    help(store, name, integration, hook, config, shutdown).await;
                } else {
                    tracing::warn!(
                        integration = %name,
                        reason = %error,
                        "skipped: on SQLite one keepit-sync process syncs at a time; stop the other one, or move to PostgreSQL to run several workers"
                    );
                }
            }
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!("integration {name}")));
            }
        }
    }
    Ok(reports)
}

/// Whether a pass of this integration started less than an interval ago, by this
/// worker or another: several daemons on one database keep one schedule that way. (The
/// poll period is allowed for, so a daemon's own schedule never skips its next pass.)
async fn ran_lately(store: &Store, integration: &Integration, interval: Duration) -> bool {
    let Ok(Some(started)) = store.last_sync_run_start(integration.id).await else {
        return false;
    };
    let since = (Utc::now() - started).to_std().unwrap_or(Duration::ZERO);
    let ran = since + SYNC_REQUEST_POLL < interval;
    if ran {
        tracing::debug!(
            integration = integration.id.0,
            seconds_ago = since.as_secs(),
            "a pass started lately (another worker's); this one only helps"
        );
    }
    ran
}

/// Syncs accounts of the open pass of an integration another worker leads, if any.
async fn help(
    store: &Store,
    name: &str,
    integration: &Integration,
    hook: &AlertPass,
    config: &SyncConfig,
    shutdown: &Shutdown,
) {
    match keepit_ingest::help_pass(store, integration, config, hook, shutdown).await {
        Ok(Some(report)) => tracing::info!(
            integration = %name,
            run = report.run.0,
            accounts = report.accounts,
            accounts_failed = report.accounts_failed,
            requests = report.requests,
            duration_ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
            "helped another worker's pass"
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!(
            integration = %name,
            error = %format!("{:#}", anyhow::Error::new(error)),
            "could not help another worker's pass"
        ),
    }
}

pub(crate) fn exit_code(outcome: SyncOutcome) -> ExitCode {
    match outcome {
        SyncOutcome::Ok => ExitCode::SUCCESS,
        SyncOutcome::Partial => ExitCode::from(2),
        SyncOutcome::Failed | SyncOutcome::Running | SyncOutcome::Abandoned => ExitCode::FAILURE,
    }
}

fn sync_config(limits: &LimitArgs) -> SyncConfig {
    SyncConfig {
        account_deadline: limits.account_deadline,
        lease_ttl: chrono::TimeDelta::from_std(limits.lease_ttl)
            .unwrap_or(chrono::TimeDelta::minutes(2)),
        retention: keepit_store::RetentionConfig {
            audit_events: chrono::TimeDelta::from_std(limits.audit_retention)
                .unwrap_or(chrono::TimeDelta::days(400)),
        },
        ..SyncConfig::default()
    }
}

/// A shutdown requested by SIGTERM or Ctrl-C: the accounts in hand finish and commit,
/// no new account starts, and the run is recorded as interrupted.
fn shutdown_on_signal() -> Shutdown {
    let (signal, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: the accounts in hand finish and commit first");
        signal.request();
    });
    shutdown
}

async fn run_once(args: RunArgs, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.database.url()).await?;
    let integrations = integrations(&store, &args.keepit, &args.limits).await?;
    let hook = alert_pass(&store).await?;
    let started = std::time::Instant::now();
    let shutdown = shutdown_on_signal();
    let reports = pass(
        &store,
        &integrations,
        &hook,
        &sync_config(&args.limits),
        &shutdown,
        WhenHeld::Fail,
    )
    .await?;
    let outcome = report::print_run(&reports, integrations.len(), started.elapsed(), output);
    Ok(exit_code(outcome))
}

/// How often the daemon looks for "sync now" requests between passes.
const SYNC_REQUEST_POLL: Duration = Duration::from_secs(2);

async fn daemon(args: DaemonArgs, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.database.url()).await?;
    // Integrations given by flags are fixed; stored ones are read again at every pass,
    // so one created, changed or disabled through the API counts from the next pass.
    let fixed = if args.keepit.any_given() {
        Some(integrations(&store, &args.keepit, &args.limits).await?)
    } else {
        None
    };
    let key = match fixed {
        Some(_) => None,
        None => {
            let key = master_key()?;
            crate::config::check_master_key(&store, &key).await?;
            Some(std::sync::Arc::new(key))
        }
    };
    // With the key at hand, PSA connections added later through the API or the pages
    // count from the next pass, without a restart.
    let hook = match &key {
        Some(key) => AlertPass::new(notifiers()?)
            .with_psa(keepit_alerts::PsaSupport::new(key.clone(), public_url())),
        None => alert_pass(&store).await?,
    };
    let config = sync_config(&args.limits);
    let mut shutdown = shutdown_on_signal();
    tracing::info!(
        interval_secs = args.interval.as_secs(),
        "daemon started; a sync now request is picked up within {} s",
        SYNC_REQUEST_POLL.as_secs()
    );
    let mut next_full = tokio::time::Instant::now();
    let mut said_empty = false;
    // The integrations of the latest pass, for helping other workers in between.
    let mut known: Vec<(String, Integration)> = Vec::new();
    loop {
        if shutdown.is_requested() {
            break;
        }
        let requested = match fixed {
            Some(_) => Vec::new(),
            None => store.take_sync_requests().await.unwrap_or_else(|error| {
                tracing::warn!(error = %error, "could not read sync requests; trying again");
                Vec::new()
            }),
        };
        let started = tokio::time::Instant::now();
        let full = started >= next_full;
        if full || !requested.is_empty() {
            if full {
                next_full = started + args.interval;
            }
            let available = match (&fixed, &key) {
                (Some(fixed), _) => fixed.clone(),
                (None, Some(key)) => enabled_integrations(&store, key, &args.limits)
                    .await
                    .map(|(found, _)| found)
                    .unwrap_or_else(|error| {
                        tracing::error!(error = %format!("{error:#}"), "could not read the integrations");
                        Vec::new()
                    }),
                (None, None) => Vec::new(),
            };
            known.clone_from(&available);
            let mut selected: Vec<(String, Integration)> = Vec::new();
            for (name, integration) in available {
                // Asked for by "sync now", or due and not run lately by another worker.
                let wanted = requested.contains(&integration.id)
                    || (full && !ran_lately(&store, &integration, args.interval).await);
                if wanted {
                    selected.push((name, integration));
                }
            }
            if selected.is_empty() {
                if full && !said_empty {
                    tracing::info!(
                        "no enabled integration to sync yet; the daemon keeps running and picks one up at its next pass"
                    );
                    said_empty = true;
                }
            } else {
                said_empty = false;
                if !full {
                    tracing::info!(integrations = selected.len(), "sync now requested");
                }
                match pass(
                    &store,
                    &selected,
                    &hook,
                    &config,
                    &shutdown,
                    WhenHeld::HelpOrSkip,
                )
                .await
                {
                    Ok(reports) => {
                        report::print_run(&reports, selected.len(), started.elapsed(), output);
                    }
                    Err(error) => {
                        tracing::error!(error = %format!("{error:#}"), "sync pass failed");
                    }
                }
            }
        }
        // Between passes, a worker on PostgreSQL joins any pass another worker leads.
        if store.backend() == Backend::Postgres {
            for (name, integration) in &known {
                if shutdown.is_requested() {
                    break;
                }
                help(&store, name, integration, &hook, &config, &shutdown).await;
            }
        }
        let wait = next_full
            .saturating_duration_since(tokio::time::Instant::now())
            .min(SYNC_REQUEST_POLL);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.requested() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn test_connection(args: KeepitArgs, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let ad_hoc = AdHocKeepit::from_args(&args)?;
    let client = unstored_client(
        ad_hoc.region.as_deref(),
        ad_hoc.base_url.as_deref(),
        ad_hoc.credentials,
        ad_hoc.account,
        ad_hoc.concurrency,
    )?;
    let report = client
        .test_connection()
        .await
        .context("connection test failed")?;
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({ "ok": true, "account": report.account.to_string(), "customer_accounts": report.customer_accounts })
        ),
        OutputFormat::Table => {
            println!("Connected to Keepit.");
            println!("Parent account:           {}", report.account);
            println!("Customer accounts visible: {}", report.customer_accounts);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(args: ImportArgs, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.database.url()).await?;
    let file = std::fs::File::open(&args.csv)
        .map_err(|error| usage(format!("cannot read {}: {error}", args.csv.display())))?;
    let report = store
        .import_customers_csv(std::io::BufReader::new(file), Utc::now())
        .await
        .context("import failed")?;
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "relinked": report.relinked,
                "errors": report.errors.iter().map(|error| serde_json::json!({"line": error.line, "error": error.message})).collect::<Vec<_>>(),
            })
        ),
        OutputFormat::Table => {
            println!(
                "Imported customers: {} new, {} updated, {} unchanged.",
                report.inserted, report.updated, report.unchanged
            );
            if report.relinked > 0 {
                println!(
                    "{} Keepit account(s) that had matched no customer now match an imported one and were linked to it.",
                    report.relinked
                );
            }
            for error in &report.errors {
                println!("  line {}: {}", error.line, error.message);
            }
            if !report.errors.is_empty() {
                println!(
                    "{} row(s) were not imported; fix them and import again (imports are idempotent).",
                    report.errors.len()
                );
            }
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn status(args: &StatusArgs, output: OutputFormat) -> anyhow::Result<ExitCode> {
    // Reading never creates: a mistyped path is an error, not a new empty database.
    if let Some(path) = sqlite_file(&args.database.url())
        && !std::path::Path::new(&path).exists()
    {
        return Err(usage(format!(
            "there is no database at {path}; point --database-url (or DATABASE_URL) at the one keepit-sync writes"
        )));
    }
    let store = open_store(&args.database.url()).await?;
    let now = Utc::now();
    let last_success = store
        .integrations()
        .await?
        .iter()
        .filter(|integration| integration.enabled)
        .filter(|integration| {
            matches!(
                integration.last_sync_outcome,
                Some(SyncOutcome::Ok | SyncOutcome::Partial)
            )
        })
        .filter_map(|integration| integration.last_sync_at)
        .max();
    let stale_after =
        chrono::TimeDelta::from_std(args.stale_after).unwrap_or(chrono::TimeDelta::minutes(30));
    let state = match last_success {
        None => "never_synced",
        Some(at) if now - at > stale_after => "stale",
        Some(_) => "fresh",
    };
    let freshness = report::Freshness {
        database: StoreConfig::new(args.database.url()).redacted_url(),
        last_success,
        state,
    };
    let filter = report::StatusFilter {
        customer: args.customer.clone(),
        severity: args.severity.clone(),
        state: args.state.clone(),
        since: args
            .since
            .and_then(|since| chrono::TimeDelta::from_std(since).ok()),
    };
    report::print_status(&store, now, &filter, &freshness, output).await?;
    match state {
        "fresh" => Ok(ExitCode::SUCCESS),
        "never_synced" => {
            eprintln!(
                "WARNING: no sync has ever succeeded into {}: \"no open alerts\" means nothing here. Run keepit-sync run (or check the daemon).",
                freshness.database
            );
            Ok(ExitCode::FAILURE)
        }
        _ => {
            eprintln!(
                "WARNING: the last successful sync into {} finished more than {} ago: these alerts may be out of date. Check the sync daemon.",
                freshness.database,
                humantime::format_duration(args.stale_after)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The file of a SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`); `None` for
/// other databases and in-memory ones.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_owned())
}
