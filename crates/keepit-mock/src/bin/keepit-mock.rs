//! `keepit-mock serve`: a generated Keepit fleet behind a fake Keepit API, in its own
//! process, for pointing `keepit-sync` (or any other client) at a realistic Keepit
//! without an account. It prints where it listens, the parent account's GUID and
//! the credentials it accepts, one `key=value` per line, then serves until Ctrl-C
//! or SIGTERM.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool talks on its streams.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use clap::{Parser, Subcommand};
use keepit_mock::{Faults, Fleet, FleetSpec, MockKeepit};
use secrecy::ExposeSecret as _;

#[derive(Parser)]
#[command(
    name = "keepit-mock",
    version,
    about = "A fake Keepit API over a generated MSP fleet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a generated fleet until interrupted.
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    /// Customer accounts under the parent account.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    accounts: u32,
    /// Seed of the generator: the same seed gives the same fleet.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    latency_ms: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Connectors per account, as MIN-MAX.
    #[arg(long, default_value = "2-6", value_parser = connector_range)]
    connectors_per_account: (usize, usize),
    /// Days of job history that end now.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    days: u32,
}

fn connector_range(text: &str) -> Result<(usize, usize), String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not MIN-MAX, for example 2-6"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<usize>()
            .map_err(|_| format!("{part:?} is not a whole number"))
    };
    let (low, high) = (number(low)?, number(high)?);
    if low == 0 || low > high || high > 100 {
        return Err(format!(
            "{text:?} must be MIN-MAX with 1 <= MIN <= MAX <= 100"
        ));
    }
    Ok((low, high))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve(serve) = cli.command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(serve))
}

async fn run(serve: Serve) -> ExitCode {
    let listener = match TcpListener::bind(serve.listen) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", serve.listen);
            return ExitCode::from(64);
        }
    };
    let spec = FleetSpec {
        seed: serve.seed,
        accounts: serve.accounts as usize,
        connectors_per_account: serve.connectors_per_account,
        days_of_history: serve.days,
        // The fleet's history ends now, so that a sync sees fresh and stale backups as
        // they would be today.
        now: Utc::now(),
        ..FleetSpec::default()
    };
    let fleet = match Fleet::generate(&spec) {
        Ok(fleet) => fleet,
        Err(error) => {
            eprintln!("error: cannot generate the fleet: {error}");
            return ExitCode::from(64);
        }
    };
    let connectors = fleet.ground_truth().connectors.len();
    let mut faults = Faults::default();
    if serve.latency_ms > 0 {
        faults = faults.with_latency(Duration::from_millis(serve.latency_ms));
    }
    let mock = MockKeepit::builder()
        .listener(listener)
        .faults(faults)
        .start()
        .await;
    let served = mock.serve_fleet(fleet).await;
    let credentials = mock.credentials();
    println!("base_url={}", mock.uri());
    println!("parent_account_guid={}", served.parent());
    println!("username={}", credentials.username());
    println!("password={}", credentials.password().expose_secret());
    eprintln!(
        "serving {} accounts and {connectors} connectors (seed {}, {} ms latency); stop with Ctrl-C",
        serve.accounts, serve.seed, serve.latency_ms
    );
    eprintln!(
        "try: keepit-sync run --base-url {} --account-guid {} --username {} (password on stdin or KEEPIT_PASSWORD)",
        mock.uri(),
        served.parent(),
        credentials.username()
    );
    wait_for_stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
