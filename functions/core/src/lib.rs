//! What every flagger-relay function shares: the Flagger event model and its classification,
//! noise control, the HTTP contract with the caller, and deadline-bounded delivery.
//! Destinations (Slack, Teams, SNS) live in their own crates and plug in through
//! [`relay::Destination`].

pub mod classify;
pub mod config;
pub mod contract;
pub mod dead_letter;
pub mod deliver;
pub mod event;
pub mod filter;
pub mod redact;
pub mod relay;
pub mod text;

pub use classify::{Classification, Severity, Stage, classify};
pub use event::CanaryEvent;
pub use relay::{Destination, Relay, serve};

/// Logs as Lambda expects: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`. Call once, from `main`.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// Ends a cold start that cannot succeed with one clear log line instead of failing every
/// request that follows.
pub fn exit_on_config_error(function: &str, err: &dyn std::fmt::Display) -> ! {
    tracing::error!(function, error = %err, "invalid configuration; the function cannot start");
    std::process::exit(1)
}
