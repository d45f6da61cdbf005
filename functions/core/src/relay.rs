//! One invocation, in one direction: admit → parse → classify → filter → render → deliver →
//! one outcome, one status, one log line.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tokio::time::Instant;

use crate::classify::{Classification, classify};
use crate::config::RelaySettings;
use crate::contract::{Outcome, admit};
use crate::deliver::{AttemptError, DeliveryFailure, with_retries};
use crate::event::CanaryEvent;
use crate::redact::Redactor;

/// A place events go: Slack, Teams, SNS. Rendering is pure; sending is one attempt, which the
/// relay retries within the invocation's deadline.
pub trait Destination: Send + Sync + 'static {
    /// The destination's kind as callers and logs see it (`slack`); never its address.
    const KIND: &'static str;

    type Payload: Serialize + Send + Sync;

    fn render(&self, event: &CanaryEvent, classification: &Classification) -> Self::Payload;

    /// One attempt at delivering, which must not take longer than `timeout`.
    fn send(&self, payload: &Self::Payload, timeout: Duration) -> impl Future<Output = Result<(), AttemptError>> + Send;

    /// Values that must never appear in a response or a log line (webhook URLs, tokens).
    fn secrets(&self) -> Vec<String>;
}

pub struct Relay<D> {
    settings: RelaySettings,
    destination: D,
    redactor: Redactor,
}

impl<D: Destination> Relay<D> {
    pub fn new(settings: RelaySettings, destination: D) -> Self {
        let mut secrets = destination.secrets();
        secrets.extend(settings.token.iter().map(|token| token.expose().to_owned()));
        Relay { redactor: Redactor::new(secrets), settings, destination }
    }

    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    pub fn destination(&self) -> &D {
        &self.destination
    }

    /// Serves one request. Never fails: every way it can end is an [`Outcome`] with a status.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let deadline = self.deadline(&request, started);
        let (outcome, event) = self.process(&request, deadline).await;
        let outcome = self.redacted(outcome);
        self.log(&request, event.as_ref(), &outcome, started);
        outcome.into_response(D::KIND)
    }

    async fn process(&self, request: &Request, deadline: Instant) -> (Outcome, Option<CanaryEvent>) {
        let body = match admit(request, self.settings.token.as_ref()) {
            Ok(body) => body,
            Err(err) => return (Outcome::Refused(err), None),
        };
        let event = match CanaryEvent::from_slice(body) {
            Ok(event) => event,
            Err(err) => return (Outcome::Refused(err.into()), None),
        };
        let outcome = self.relay(&event, deadline).await;
        (outcome, Some(event))
    }

    /// Classify, filter, render and deliver one parsed event.
    pub async fn relay(&self, event: &CanaryEvent, deadline: Instant) -> Outcome {
        let classification = classify(event);
        let (stage, severity) = (classification.stage, classification.severity);
        if !self.settings.filter.passes(event, &classification) {
            return Outcome::Filtered { stage, severity };
        }
        let payload = self.destination.render(event, &classification);
        if self.settings.dry_run {
            let payload = serde_json::to_value(&payload).unwrap_or_default();
            return Outcome::DryRun { payload, stage, severity };
        }
        let sent = with_retries(&self.settings.retry, deadline, |timeout| self.destination.send(&payload, timeout)).await;
        match sent {
            Ok(delivered) => Outcome::Delivered { delivered, stage, severity },
            Err(failure) => Outcome::Failed(failure),
        }
    }

    /// The Lambda deadline less a margin, so the answer always leaves before Lambda stops the
    /// function; without a Lambda context (local runs), a fixed budget.
    fn deadline(&self, request: &Request, now: Instant) -> Instant {
        let remaining = request
            .lambda_context_ref()
            .map(|context| {
                let deadline_ms = context.deadline;
                let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
                Duration::from_millis(u64::try_from(u128::from(deadline_ms).saturating_sub(now_ms)).unwrap_or(0))
            })
            .filter(|remaining| !remaining.is_zero())
            .map(|remaining| remaining.saturating_sub(self.settings.deadline_margin))
            .unwrap_or(self.settings.default_budget);
        now + remaining
    }

    fn redacted(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Failed(failure) => Outcome::Failed(DeliveryFailure {
                reason: self.redactor.redact(&failure.reason),
                ..failure
            }),
            Outcome::DryRun { payload, stage, severity } => Outcome::DryRun { payload, stage, severity },
            other => other,
        }
    }

    fn log(&self, request: &Request, event: Option<&CanaryEvent>, outcome: &Outcome, started: Instant) {
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let canary = event.map(CanaryEvent::canary_ref).unwrap_or_default();
        let phase = event.map(|e| e.phase.as_str()).unwrap_or_default();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let status = outcome.status().as_u16();
        let label = outcome.label();
        let attempts = outcome.attempts();
        match outcome {
            Outcome::Delivered { stage, .. } | Outcome::Filtered { stage, .. } => tracing::info!(
                request_id, canary, phase, stage = stage.as_str(), outcome = label, status, attempts, latency_ms,
                "event {label}"
            ),
            Outcome::DryRun { payload, stage, .. } => tracing::info!(
                request_id, canary, phase, stage = stage.as_str(), outcome = label, status, latency_ms,
                payload = %payload, "event rendered (dry run)"
            ),
            Outcome::Refused(err) => tracing::warn!(
                request_id, outcome = label, status, latency_ms, error = %err, "request refused"
            ),
            Outcome::Failed(failure) => tracing::error!(
                request_id, canary, phase, outcome = label, status, attempts, latency_ms,
                error = %failure.reason, "delivery failed"
            ),
        }
    }
}

/// Runs the function until Lambda stops it. The relay is shared, never rebuilt per request.
pub async fn serve<D: Destination>(relay: Relay<D>) -> Result<(), lambda_http::Error> {
    let relay = Arc::new(relay);
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let relay = Arc::clone(&relay);
        async move { Ok::<_, std::convert::Infallible>(relay.handle(request).await) }
    }))
    .await
}
