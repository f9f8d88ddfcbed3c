//! The terminal: logging set-up, and a progress bar per sync pass.
//!
//! The bar is drawn by tracing-indicatif on stderr, and log lines go through its
//! writer, so they print above the bar instead of through it. It is shown only when
//! stderr is a terminal and logs are text; in a unit, a container or a pipe the output
//! stays plain log lines. `NO_COLOR` turns colour off in both.

use std::future::Future;
use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::Duration;

use keepit_client::KeepitClient;
use keepit_ingest::Progress;
use tracing_indicatif::IndicatifLayer;
use tracing_indicatif::filter::{IndicatifFilter, hide_indicatif_span_fields};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;
use tracing_indicatif::style::ProgressStyle;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::cli::LogFormat;

/// Whether passes draw a bar (set once by [`init_logging`]).
static BARS: OnceLock<bool> = OnceLock::new();

/// How often the bar reads the pass's counts.
const REDRAW: Duration = Duration::from_millis(150);

/// Sets up logging to stderr, with progress bars when stderr is a terminal and the
/// logs are text.
pub(crate) fn init_logging(format: LogFormat, no_color: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,keepit_ingest=info,keepit_alerts=info,keepit_sync=info",
        )
    });
    let terminal = std::io::stderr().is_terminal();
    let bars = terminal && format == LogFormat::Text;
    let _ = BARS.set(bars);
    let indicatif = bars.then(|| {
        IndicatifLayer::new()
            .with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()))
    });
    let writer = match &indicatif {
        Some(layer) => BoxMakeWriter::new(layer.get_stderr_writer()),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(terminal && !no_color);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    // The level filter applies to the log lines only: a bar shows whatever RUST_LOG
    // says.
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(indicatif.map(|layer| layer.with_filter(IndicatifFilter::new(false))))
        .try_init();
}

/// The bar's look once the pass knows how many accounts it covers.
fn counting() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} accounts, {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The bar's look while the account tree is walked.
fn walking() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} walking the account tree, {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// Runs one pass of `name` with a bar that shows accounts done of total and the
/// requests made, when bars are on. The bar is removed when the pass ends, so no
/// frame of it stays on the terminal.
pub(crate) async fn with_bar<T>(
    name: &str,
    progress: &Progress,
    client: &KeepitClient,
    pass: impl Future<Output = T>,
) -> T {
    if !BARS.get().copied().unwrap_or(false) {
        return pass.await;
    }
    let span = tracing::info_span!("pass", indicatif.pb_show = tracing::field::Empty);
    span.pb_set_style(&walking());
    span.pb_set_message(&format!("{name}: 0 requests"));
    span.pb_start();
    let redraw = AbortOnDrop({
        let (span, progress, client) = (span.clone(), progress.clone(), client.clone());
        let name = name.to_owned();
        let before = client.requests_sent();
        tokio::spawn(async move {
            let mut counted = false;
            let mut ticks = tokio::time::interval(REDRAW);
            loop {
                ticks.tick().await;
                let requests = client.requests_sent().saturating_sub(before);
                if let Some(total) = progress.accounts_total() {
                    if !counted {
                        span.pb_set_style(&counting());
                        span.pb_set_length(total);
                        counted = true;
                    }
                    span.pb_set_position(progress.accounts_done().min(total));
                }
                span.pb_set_message(&format!("{name}: {requests} requests"));
            }
        })
    });
    let result = pass.await;
    // Aborting the redraw drops its clone of the span; closing the span clears the bar.
    // (Were this future dropped mid-pass, the guard would do the same.)
    drop(redraw);
    drop(span);
    result
}

/// Aborts the redraw task when the pass ends, or when its future is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
