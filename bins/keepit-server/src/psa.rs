//! `keepit-server psa ...`: PSA connections from the command line.

use anyhow::Context as _;
use chrono::Utc;
use keepit_psa::{Psa as _, PsaCredentials, PsaKind};
use keepit_store::{NewPsaConnection, PsaConnectionId, PsaSettings, Store};
use secrecy::SecretString;

use crate::cli::{ClosePolicyArg, DatabaseArgs, PsaAddArgs, PsaCommand, PsaIdArgs, PsaKindArg};
use crate::commands::open;
use crate::config::{master_key, usage};

pub(crate) async fn run(command: PsaCommand) -> anyhow::Result<()> {
    match command {
        PsaCommand::Add(args) => add(args).await,
        PsaCommand::List(args) => list(args).await,
        PsaCommand::Test(args) => test(args).await,
        PsaCommand::Remove(args) => remove(args).await,
        PsaCommand::ImportCompanies(args) => import(args).await,
    }
}

fn kind_of(arg: PsaKindArg) -> PsaKind {
    match arg {
        PsaKindArg::Connectwise => PsaKind::ConnectWise,
        PsaKindArg::Autotask => PsaKind::Autotask,
        PsaKindArg::Halopsa => PsaKind::Halo,
    }
}

/// A flag's value, or a usage error naming the flag (and its variable, for secrets).
fn required(flag: &str, value: &Option<String>) -> anyhow::Result<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| usage(format!("{flag} is required for this PSA")))
}

fn credentials(kind: PsaKind, args: &PsaAddArgs) -> anyhow::Result<PsaCredentials> {
    Ok(match kind {
        PsaKind::ConnectWise => PsaCredentials::ConnectWise {
            company_id: required("--company-id", &args.company_id)?,
            public_key: required("--public-key", &args.public_key)?,
            private_key: SecretString::from(required(
                "--private-key (or KEEPIT_PSA_PRIVATE_KEY)",
                &args.private_key,
            )?),
            client_id: SecretString::from(required(
                "--client-id (or KEEPIT_PSA_CLIENT_ID)",
                &args.client_id,
            )?),
        },
        PsaKind::Autotask => PsaCredentials::Autotask {
            username: required("--username", &args.username)?,
            secret: SecretString::from(required("--secret (or KEEPIT_PSA_SECRET)", &args.secret)?),
            integration_code: SecretString::from(required(
                "--integration-code (or KEEPIT_PSA_INTEGRATION_CODE)",
                &args.integration_code,
            )?),
        },
        PsaKind::Halo => PsaCredentials::Halo {
            client_id: required("--client-id (or KEEPIT_PSA_CLIENT_ID)", &args.client_id)?,
            client_secret: SecretString::from(required(
                "--client-secret (or KEEPIT_PSA_CLIENT_SECRET)",
                &args.client_secret,
            )?),
            tenant: args
                .tenant
                .as_deref()
                .map(str::trim)
                .filter(|tenant| !tenant.is_empty())
                .map(str::to_owned),
        },
    })
}

fn base_url(kind: PsaKind, text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return match kind {
            PsaKind::Autotask => Ok(String::new()),
            _ => Err(usage(format!(
                "--base-url is required for {}",
                kind.label()
            ))),
        };
    }
    match url::Url::parse(text) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(text.to_owned()),
        // Plain HTTP would send the credentials in the clear: only to this machine.
        Ok(url)
            if url.scheme() == "http"
                && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) =>
        {
            Ok(text.to_owned())
        }
        _ => Err(usage(format!(
            "--base-url {text:?} must be an https URL (plain http only for this machine)"
        ))),
    }
}

fn id(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

async fn add(args: PsaAddArgs) -> anyhow::Result<()> {
    let kind = kind_of(args.kind);
    let credentials = credentials(kind, &args)?;
    let base_url = base_url(kind, &args.base_url)?;
    let settings = PsaSettings {
        board: id(&args.board),
        new_status: id(&args.new_status),
        closed_status: id(&args.closed_status),
        priority_warning: id(&args.priority_warning),
        priority_critical: id(&args.priority_critical),
        catch_all_company: id(&args.catch_all_company),
        reopen_days: args.reopen_days,
        close_on_resolve: args.close_policy == ClosePolicyArg::Close,
        note_interval_minutes: args.note_interval,
        hourly_budget: args.hourly_budget,
    };
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        return Err(usage("--name cannot be empty"));
    }
    // Test before anything is stored: a connection that cannot sign in is refused.
    let credentials = credentials.to_json();
    let psa = keepit_alerts::tickets::client_for(
        kind.as_str(),
        &base_url,
        &credentials,
        settings.hourly_budget,
    )
    .map_err(usage)?;
    let reached = psa.test().await.with_context(|| {
        format!(
            "the {} connection test failed; nothing was stored",
            kind.label()
        )
    })?;
    let key = master_key()?;
    let store = open(&args.database.url()).await?;
    let record = store
        .create_psa_connection(
            &NewPsaConnection {
                name,
                kind: kind.as_str().to_owned(),
                base_url,
                credentials,
                settings,
                enabled: !args.disabled,
            },
            &key,
            Utc::now(),
        )
        .await
        .context("storing the PSA connection")?;
    println!("{reached}");
    println!(
        "PSA connection {} stored as id {}; its credentials are sealed with the master key.",
        record.name, record.id
    );
    println!(
        "Next: keepit-server psa import-companies --id {} (and choose the board and statuses on the PSA admin page).",
        record.id
    );
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn list(args: DatabaseArgs) -> anyhow::Result<()> {
    let store = open(&args.url()).await?;
    let connections = store
        .psa_connections()
        .await
        .context("listing PSA connections")?;
    println!(
        "{:<4} {:<24} {:<12} {:<9} {:<17} LAST ERROR",
        "ID", "NAME", "KIND", "STATE", "LAST IMPORT"
    );
    for connection in connections {
        println!(
            "{:<4} {:<24} {:<12} {:<9} {:<17} {}",
            connection.id,
            connection.name,
            connection.kind,
            if connection.enabled { "on" } else { "off" },
            connection.last_import_at.map_or_else(
                || "-".to_owned(),
                |at| at.format("%Y-%m-%d %H:%M").to_string()
            ),
            connection.last_error.as_deref().unwrap_or("-"),
        );
    }
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn connection(store: &Store, id: i64) -> anyhow::Result<keepit_store::PsaConnectionRecord> {
    store
        .psa_connection(PsaConnectionId(id))
        .await
        .map_err(|error| match error {
            keepit_store::Error::NotFound { .. } => usage(format!(
                "no PSA connection has the id {id}; see `keepit-server psa list`"
            )),
            other => anyhow::Error::new(other),
        })
}

async fn test(args: PsaIdArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
    let record = connection(&store, args.id).await?;
    let key = master_key()?;
    let psa = keepit_alerts::tickets::connect(&store, &key, &record)
        .await
        .map_err(anyhow::Error::msg)?;
    let outcome = psa.test().await;
    store
        .record_psa_outcome(
            record.id,
            outcome.as_ref().err().map(ToString::to_string).as_deref(),
            false,
            Utc::now(),
        )
        .await?;
    let reached = outcome.with_context(|| format!("testing {}", record.name))?;
    println!("{reached}");
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn remove(args: PsaIdArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
    let record = connection(&store, args.id).await?;
    store
        .delete_psa_connection(record.id)
        .await
        .context("deleting the PSA connection")?;
    println!(
        "PSA connection {} deleted; the tickets it opened stay in the PSA.",
        record.name
    );
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn import(args: PsaIdArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
    let record = connection(&store, args.id).await?;
    let key = master_key()?;
    let done = keepit_alerts::tickets::import_companies(&store, &key, &record, Utc::now())
        .await
        .with_context(|| format!("importing the companies of {}", record.name))?;
    println!(
        "{} active companies read: {} customers added, {} renamed, {} unchanged; {} Keepit accounts matched to them.",
        done.companies,
        done.report.inserted,
        done.report.updated,
        done.report.unchanged,
        done.report.relinked
    );
    store.close().await.context("closing the database")?;
    Ok(())
}
