//! What each subcommand does.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;
use keepit_domain::MessagePreference;
use keepit_http::AppState;
use keepit_store::{NewUser, Role, Store, StoreConfig};
use secrecy::ExposeSecret as _;

use crate::cli::{
    Cli, Command, RoleArg, ServeArgs, TokenCommand, TokenCreateArgs, UserAddArgs, UserCommand,
};
use crate::config::{UsageError, check_database_url, master_key, usage};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::User {
            command: UserCommand::Add(args),
        } => user_add(args).await,
        Command::Token {
            command: TokenCommand::Create(args),
        } => token_create(args).await,
    }
}

async fn open(url: &str) -> anyhow::Result<Store> {
    check_database_url(url)?;
    Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .context("opening the database")
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open(&args.database.database_url).await?;
    let master_key = match master_key() {
        Ok(key) => Some(Arc::new(key)),
        // A key that is given but unreadable is a mistake to fix, not a reason to run
        // without one.
        Err(error) if error.is::<UsageError>() => return Err(error),
        Err(error) => {
            // Reading data needs no key; only integrations and skipped items do.
            tracing::warn!(error = %format!("{error:#}"), "no master key: creating and testing integrations and fetching skipped items will answer 503");
            None
        }
    };
    let mut state = AppState::new(store.clone(), master_key);
    state.metrics_public = args.metrics_public;
    if state.metrics_public {
        tracing::info!("/metrics answers without a token (--metrics-public)");
    }
    let app = keepit_http::router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %args.listen, "serving the keepit-watch API");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    store.close().await.context("closing the database")?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn user_add(args: UserAddArgs) -> anyhow::Result<()> {
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Viewer => Role::Viewer,
    };
    if args.primary && role != Role::Admin {
        return Err(usage("--primary needs --role admin"));
    }
    if !args.email.contains('@') {
        return Err(usage(format!(
            "--email {:?} is not an email address",
            args.email
        )));
    }
    let store = open(&args.database.database_url).await?;
    let user = store
        .create_user(
            &NewUser {
                email: args.email.clone(),
                name: args.name.clone(),
                role,
                primary_admin: args.primary,
                message_preference: MessagePreference::Default,
            },
            Utc::now(),
        )
        .await
        .with_context(|| format!("adding user {}", args.email))?;
    println!(
        "added {} {} ({}){}",
        user.role.as_str(),
        user.email,
        user.name,
        if user.primary_admin {
            ", primary administrator"
        } else {
            ""
        }
    );
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn token_create(args: TokenCreateArgs) -> anyhow::Result<()> {
    let store = open(&args.database.database_url).await?;
    let user = store
        .user_by_email(&args.user)
        .await
        .context("looking up the user")?
        .ok_or_else(|| {
            usage(format!(
                "no user with email {}; add one with `keepit-server user add`",
                args.user
            ))
        })?;
    let (_record, token) = store
        .create_api_token(user.id, &args.label, Utc::now())
        .await
        .context("creating the token")?;
    eprintln!(
        "API token {:?} for {}; it is shown only now, store it safely. Use it as `Authorization: Bearer <token>`.",
        args.label, user.email
    );
    println!("{}", token.expose_secret());
    store.close().await.context("closing the database")?;
    Ok(())
}
