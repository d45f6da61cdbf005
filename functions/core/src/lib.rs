//! What every flagger-relay function shares: the Flagger event model and its classification,
//! noise control, the HTTP contract with the caller, and deadline-bounded delivery.
//! Destinations (Slack, Teams, SNS) live in their own crates and plug in through
//! [`relay::Destination`].

// What comes in: a request at the Function URL (or an SNS record in fan-out mode), admitted
// by the HTTP contract and parsed into one of the payloads Flagger and Alertmanager send.
pub mod alertmanager;
pub mod contract;
pub mod event;
pub mod fan_out;
pub mod notification;

// What it means, and how it is said: classification, noise control and the presentation
// every destination renders.
pub mod classify;
pub mod filter;
pub mod log_sampling;
pub mod present;
pub mod template;
pub mod text;

// What goes out: one relay per invocation, delivery with its verdicts and retries, and what
// happens to an event its destination did not take.
pub mod dead_letter;
pub mod dedup;
pub mod deliver;
pub mod metrics;
pub mod redrive;
pub mod relay;

// Configuration and the AWS edges it needs: settings read once at cold start, secrets from
// their stores, the state tables, and what is never shown.
pub mod aws;
pub mod config;
pub mod redact;
pub mod secrets;
pub mod table;

pub use classify::{Classification, Severity, Stage, classify};
pub use event::CanaryEvent;
pub use notification::Notification;
pub use present::Presentation;
pub use relay::{Destination, Relay, serve};

/// A function's life after configuration: serve Lambda invocations, or, run by hand as
/// `<binary> redrive [--dry-run]`, redrive the dead-letter queue once and exit.
pub async fn run<D: Destination>(relay: Relay<D>) -> Result<(), lambda_http::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => serve(relay).await,
        Some("redrive") => {
            let dry_run = args.iter().any(|arg| arg == "--dry-run");
            let queue = relay
                .dead_letter_queue()
                .ok_or("DEAD_LETTER_QUEUE_URL is not set")?;
            let report = redrive::redrive(&relay, queue, dry_run).await?;
            println!("{}: {report}", D::KIND);
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown command {other:?}: run without arguments, or `redrive [--dry-run]`"
        )
        .into()),
    }
}

/// Logs as Lambda expects: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`. Call once, from `main`.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// The process environment with every `*_SECRET_ARN` reference among the relay's and the
/// destination's secret settings, and every `*_PARAMETER` among the destination's template
/// settings, fetched from its store, read once at cold start; a reference that cannot be read
/// ends the cold start with one log line.
pub async fn environment(
    function: &str,
    secrets: &[secrets::SecretSetting],
    parameters: &[secrets::ParameterSetting],
) -> secrets::ResolvedEnv<'static, config::ProcessEnv> {
    static PROCESS: config::ProcessEnv = config::ProcessEnv;
    secrets::resolve(&PROCESS, secrets, parameters)
        .await
        .unwrap_or_else(|err| exit_on_config_error(function, &err))
}

/// Ends a cold start that cannot succeed with one clear log line instead of failing every
/// request that follows.
pub fn exit_on_config_error(function: &str, err: &dyn std::fmt::Display) -> ! {
    tracing::error!(function, error = %err, "invalid configuration; the function cannot start");
    std::process::exit(1)
}
