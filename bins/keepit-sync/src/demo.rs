//! `keepit-sync demo`: the only code that links the fake Keepit (`keepit-mock`), behind
//! the `demo` feature (on by default). A production build leaves it out with
//! `--no-default-features`; `keepit-mock serve` offers the same fleet as its own process.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use keepit_alerts::{AlertPass, Notifiers};
use keepit_client::{KeepitClient, RetryPolicy};
use keepit_ingest::{Clock, Integration, Shutdown, SyncConfig, sync_once};
use keepit_mock::{Fleet, FleetSpec, MockKeepit};
use keepit_store::{KeepitCredentials, NewIntegration};

use crate::cli::{DemoArgs, OutputFormat};
use crate::commands::{exit_code, open_store};
use crate::config::master_key;
use crate::report;

/// `keepit-sync demo`: a generated fleet behind a fake Keepit in this process, synced
/// into the demo database.
pub(crate) async fn run(args: DemoArgs, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.database_url).await?;
    let now = Utc::now();
    let spec = FleetSpec {
        seed: args.seed,
        accounts: args.accounts as usize,
        now,
        ..FleetSpec::default()
    };
    let fleet = Fleet::generate(&spec).context("could not generate the demo fleet")?;
    let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
    let parent = served.parent();
    let credentials = keepit_client::Credentials::UserPassword {
        username: mock.credentials().username().to_owned(),
        password: mock.credentials().password().clone(),
    };
    let client = KeepitClient::builder()
        .base_url(mock.uri())
        .credentials(credentials)
        .max_concurrency(8)
        .retry(RetryPolicy::default())
        .build()
        .context("could not build the demo client")?;
    let record = match store.integration_by_parent(&parent).await? {
        Some(record) => record,
        None => {
            let new = NewIntegration {
                name: "Demo MSP (generated)".into(),
                region: None,
                base_url: Some(mock.uri()),
                parent_account: parent.clone(),
                // The fake's throwaway credentials, sealed with the master key like any
                // others, so the server over the same state can use the integration.
                credentials: KeepitCredentials {
                    username: Some(mock.credentials().username().to_owned()),
                    password: Some(mock.credentials().password().clone()),
                    api_token_login: None,
                    api_token_password: None,
                },
                // Enabled, because alerts watch only the connectors of enabled
                // integrations. Its base URL is the fake Keepit that ends with the
                // demo, so a later sync over the demo database reports it unreachable.
                enabled: true,
                settings: keepit_store::IntegrationSettings::default(),
            };
            store.create_integration(&new, &master_key()?, now).await?
        }
    };
    let integration = Integration {
        id: record.id,
        parent,
        client,
    };
    let clock_source = served.clone();
    let config = SyncConfig {
        clock: Clock::from_fn(move || clock_source.now()),
        ..SyncConfig::default()
    };
    let hook = AlertPass::new(Notifiers::default());
    let started = std::time::Instant::now();
    let report = crate::progress::with_bar(
        "demo",
        &config.progress,
        &integration.client,
        sync_once(&store, &integration, &config, &hook, &Shutdown::never()),
    )
    .await
    .context("the demo sync failed")?;
    report::print_demo(
        &store,
        &report,
        started.elapsed(),
        &args.database_url,
        output,
    )
    .await?;
    Ok(exit_code(report.outcome))
}
