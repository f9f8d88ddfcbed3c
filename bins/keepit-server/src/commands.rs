//! What each subcommand does.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;
use keepit_domain::MessagePreference;
use keepit_http::AppState;
use keepit_store::{ApiTokenId, NewUser, Role, Store, StoreConfig, UserChange, UserRecord};
use secrecy::ExposeSecret as _;

use crate::cli::{
    AlertArgs, AlertCommand, Cli, Command, DatabaseArgs, RoleArg, ServeArgs, TokenCommand,
    TokenCreateArgs, TokenListArgs, TokenRevokeArgs, UserAddArgs, UserCommand, UserSetArgs,
};
use crate::config::{UsageError, check_database_url, master_key, usage};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::User {
            command: UserCommand::Add(args),
        } => user_add(args).await,
        Command::User {
            command: UserCommand::List(args),
        } => user_list(args).await,
        Command::User {
            command: UserCommand::Set(args),
        } => user_set(args).await,
        Command::Token {
            command: TokenCommand::Create(args),
        } => token_create(args).await,
        Command::Token {
            command: TokenCommand::List(args),
        } => token_list(args).await,
        Command::Token {
            command: TokenCommand::Revoke(args),
        } => token_revoke(args).await,
        Command::Alert { command } => alert(command).await,
        Command::Psa { command } => crate::psa::run(command).await,
    }
}

pub(crate) async fn open(url: &str) -> anyhow::Result<Store> {
    check_database_url(url)?;
    // The default database of a state directory: the directory is made on first use.
    if let Some(dir) = crate::config::state_dir()
        && url == StoreConfig::default_url_in(dir)
    {
        crate::config::create_private_dir(dir)?;
    }
    Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .context("opening the database")
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
    let master_key = match master_key() {
        Ok(key) => {
            // A key that does not open what is stored would fail every integration
            // and PSA call later; say so now.
            crate::config::check_master_key(&store, &key).await?;
            Some(Arc::new(key))
        }
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
    state.build = keepit_http::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("KEEPIT_COMMIT").to_owned(),
    };
    state.web = keepit_http::WebConfig::new(args.cookie_secure, args.session_idle);
    if state.metrics_public {
        tracing::info!("/metrics answers without a token (--metrics-public)");
    }
    let app = keepit_http::router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %args.listen, "serving the keepit-watch API");
    // The peer address feeds the dashboard's per-address sign-in limit.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
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
    let role = role_of(args.role);
    if args.primary && role != Role::Admin {
        return Err(usage("--primary needs --role admin"));
    }
    if !args.email.contains('@') {
        return Err(usage(format!(
            "--email {:?} is not an email address",
            args.email
        )));
    }
    let password = args
        .password_file
        .as_deref()
        .map(crate::config::password_from_file)
        .transpose()?;
    let store = open(&args.database.url()).await?;
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
    if let Some(password) = &password {
        store
            .set_user_password(user.id, password, Utc::now())
            .await
            .with_context(|| format!("setting the password of {}", args.email))?;
    }
    println!(
        "added {} {} ({}){}{}",
        user.role.as_str(),
        user.email,
        user.name,
        if user.primary_admin {
            ", primary administrator"
        } else {
            ""
        },
        if password.is_some() {
            ", may sign in to the dashboard"
        } else {
            ""
        }
    );
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn token_create(args: TokenCreateArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
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

fn role_of(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Admin => Role::Admin,
        RoleArg::Viewer => Role::Viewer,
    }
}

/// Whether a user receives messages, as seed 000 decides it.
fn receives_messages(user: &UserRecord) -> bool {
    match user.message_preference {
        MessagePreference::OptedIn => true,
        MessagePreference::OptedOut => false,
        MessagePreference::Default => user.primary_admin,
    }
}

async fn user_by_email(store: &Store, email: &str) -> anyhow::Result<UserRecord> {
    store
        .user_by_email(email)
        .await
        .context("looking up the user")?
        .ok_or_else(|| usage(format!("no user with email {email}")))
}

async fn user_list(args: DatabaseArgs) -> anyhow::Result<()> {
    let store = open(&args.url()).await?;
    println!(
        "{:<6} {:<32} {:<7} {:<9} NAME",
        "ID", "EMAIL", "ROLE", "MESSAGES"
    );
    for user in store.users().await.context("listing users")? {
        println!(
            "{:<6} {:<32} {:<7} {:<9} {}{}",
            user.id.0,
            user.email,
            user.role.as_str(),
            if receives_messages(&user) {
                "yes"
            } else {
                "no"
            },
            user.name,
            if user.primary_admin {
                " (primary administrator)"
            } else {
                ""
            }
        );
    }
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn user_set(args: UserSetArgs) -> anyhow::Result<()> {
    if args.role.is_none() && args.send_messages.is_none() && args.password_file.is_none() {
        return Err(usage(
            "nothing to change: give --role, --send-messages and/or --password-file",
        ));
    }
    let password = args
        .password_file
        .as_deref()
        .map(crate::config::password_from_file)
        .transpose()?;
    let store = open(&args.database.url()).await?;
    let user = user_by_email(&store, &args.email).await?;
    if let Some(password) = &password {
        store
            .set_user_password(user.id, password, Utc::now())
            .await
            .with_context(|| format!("setting the password of {}", args.email))?;
        println!(
            "{}: password set; their dashboard sessions ended",
            user.email
        );
    }
    if args.role.is_none() && args.send_messages.is_none() {
        store.close().await.context("closing the database")?;
        return Ok(());
    }
    let change = UserChange {
        name: None,
        role: args.role.map(role_of),
        message_preference: args.send_messages.map(|on| {
            if on {
                MessagePreference::OptedIn
            } else {
                MessagePreference::OptedOut
            }
        }),
    };
    let user = store
        .update_user(user.id, &change, Utc::now())
        .await
        .with_context(|| format!("changing user {}", args.email))?;
    println!(
        "{}: {}, {} messages",
        user.email,
        user.role.as_str(),
        if receives_messages(&user) {
            "receives"
        } else {
            "does not receive"
        }
    );
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn token_list(args: TokenListArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
    let users = store.users().await.context("listing users")?;
    let tokens = match &args.user {
        Some(email) => {
            let user = user_by_email(&store, email).await?;
            store.api_tokens(user.id).await
        }
        None => store.all_api_tokens().await,
    }
    .context("listing tokens")?;
    let stamp = |at: Option<chrono::DateTime<Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    println!(
        "{:<6} {:<32} {:<20} {:<16} {:<16} REVOKED",
        "ID", "USER", "LABEL", "CREATED", "LAST USED"
    );
    for token in tokens {
        let owner = users
            .iter()
            .find(|user| user.id == token.user)
            .map_or("?", |user| user.email.as_str());
        println!(
            "{:<6} {:<32} {:<20} {:<16} {:<16} {}",
            token.id.0,
            owner,
            token.label,
            stamp(Some(token.created_at)),
            stamp(token.last_used_at),
            stamp(token.revoked_at)
        );
    }
    store.close().await.context("closing the database")?;
    Ok(())
}

async fn token_revoke(args: TokenRevokeArgs) -> anyhow::Result<()> {
    let store = open(&args.database.url()).await?;
    if !store
        .revoke_api_token(ApiTokenId(args.id), Utc::now())
        .await
        .context("revoking the token")?
    {
        return Err(usage(format!(
            "no token {} that is not already revoked; `keepit-server token list` shows them",
            args.id
        )));
    }
    println!(
        "revoked token {}; requests made with it are refused from now on",
        args.id
    );
    store.close().await.context("closing the database")?;
    Ok(())
}

/// The user an alert command acts as: the one named, else the primary administrator.
async fn acting_user(store: &Store, args: &AlertArgs) -> anyhow::Result<UserRecord> {
    match &args.user {
        Some(email) => user_by_email(store, email).await,
        None => store
            .users()
            .await
            .context("listing users")?
            .into_iter()
            .find(|user| user.primary_admin)
            .ok_or_else(|| usage("no primary administrator; name the user with --user")),
    }
}

async fn alert(command: AlertCommand) -> anyhow::Result<()> {
    let (args, until, verb) = match &command {
        AlertCommand::Ack(args) => (args, None, "acknowledged"),
        AlertCommand::Silence(silence) => (&silence.alert, Some(silence.until), "silenced"),
        AlertCommand::Unsilence(args) => (args, None, "unsilenced"),
    };
    let store = open(&args.database.url()).await?;
    let user = acting_user(&store, args).await?;
    let id = keepit_domain::AlertId(args.id);
    let now = Utc::now();
    let alert = store.alert(id).await.map_err(|error| match error {
        keepit_store::Error::NotFound { .. } => usage(format!(
            "no alert {}; `keepit-sync status` lists them",
            args.id
        )),
        other => anyhow::Error::new(other).context("reading the alert"),
    })?;
    if !alert.state.is_open() {
        return Err(usage(format!("alert {} is resolved", args.id)));
    }
    let alert = match command {
        AlertCommand::Ack(_) => store.acknowledge_alert(id, user.id, now).await,
        AlertCommand::Silence(_) => {
            let until = until.unwrap_or(now);
            if until <= now {
                return Err(usage("--until must be in the future"));
            }
            store
                .silence_alert(id, Some(until), Some(user.id), now)
                .await
        }
        AlertCommand::Unsilence(_) => store.silence_alert(id, None, Some(user.id), now).await,
    }
    .context("changing the alert")?;
    println!(
        "alert {} {verb} by {}{}",
        alert.id.0,
        user.email,
        alert
            .silenced_until
            .filter(|_| verb == "silenced")
            .map(|until| format!(" until {}", until.to_rfc3339()))
            .unwrap_or_default()
    );
    store.close().await.context("closing the database")?;
    Ok(())
}
