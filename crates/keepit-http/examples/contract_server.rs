//! Serves the API over a fake Keepit fleet synced into a fresh store, for the OpenAPI
//! contract check (`.ci/contract`): the fake Keepit keeps answering, so the routes
//! that call Keepit answer as they would in production.
//!
//! Prints `<base URL> <admin token>` on one line, then serves until SIGINT.

#![allow(
    clippy::print_stdout,
    reason = "the address and token are this program's output"
)]

#[path = "../tests/it/support.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the test helpers are shared, not all are used here"
)]
mod support;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = support::App::start_with(true).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{} {}", listener.local_addr()?, app.admin);
    axum::serve(listener, app.router.clone())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
