//! One invocation, in one direction: admit → parse → classify → filter → render → deliver →
//! one outcome, one status, one log line.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tokio::time::Instant;

use crate::classify::{Classification, Severity};
use crate::config::RelaySettings;
use crate::contract::{DeadLetter, Outcome, admit};
use crate::dead_letter::{DeadLetterQueue, DeadLetterRecord};
use crate::dedup::{Claim, Dedup};
use crate::deliver::{Delivered, DeliveryFailure, FailureClass, RetryPolicy};
use crate::fan_out::{self, SnsEvent};
use crate::log_sampling::{LogSampler, Sample, Suppressed};
use crate::metrics::{EventMetrics, MetricsSink};
use crate::notification::Notification;
use crate::present::{Mention, Presentation};
use crate::redact::Redactor;
pub use crate::template::RenderError;

/// A place events go: Slack, Teams, SNS. A destination is two things: how a message looks
/// there, and how it gets there.
pub trait Destination: Send + Sync + 'static {
    /// The destination's kind as callers and logs see it (`slack`); never its address.
    const KIND: &'static str;

    /// What is sent, and what a dry run shows.
    type Payload: Serialize + Send + Sync;

    /// How a message looks here. Pure. Fails only where the deployment words the message
    /// itself (a template), and then for this event alone: it is a permanent failure.
    fn render(&self, message: &Presentation<'_>) -> Result<Self::Payload, RenderError>;

    /// Who a message of this severity notifies here (`SLACK_MENTIONS`); no one by default.
    fn mentions(&self, _severity: Severity) -> &[Mention] {
        &[]
    }

    /// Gets one message to the destination before `deadline`. Every call it makes is retried
    /// on its own with `retry`, so that a retry never repeats a call that went through; for a
    /// webhook that is one POST of the rendered payload ([`crate::deliver::post_json`]).
    fn deliver(
        &self,
        message: &Presentation<'_>,
        retry: &RetryPolicy,
        deadline: Instant,
    ) -> impl Future<Output = Result<Delivered, DeliveryFailure>> + Send;

    /// Values that must never appear in a response or a log line (webhook URLs, tokens).
    fn secrets(&self) -> Vec<String>;
}

/// How a notification reached the function; it decides what a transient failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A Function URL request: the caller gets the status, the relay keeps what failed.
    FunctionUrl,
    /// An SNS subscription (fan-out): Lambda retries what failed transiently.
    Sns,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::FunctionUrl => "function-url",
            Source::Sns => "sns",
        }
    }
}

pub struct Relay<D> {
    settings: RelaySettings,
    destination: D,
    redactor: Redactor,
    dead_letters: Option<DeadLetterQueue>,
    dedup: Option<Dedup>,
    /// Refused requests are logged sampled: a flood must not become a log bill.
    refusals: LogSampler,
    metrics: MetricsSink,
}

/// Time the dead-letter write may take out of the margin kept back from the Lambda deadline;
/// the rest is for answering.
const ANSWER_TIME: Duration = Duration::from_millis(300);

impl<D: Destination> Relay<D> {
    pub fn new(settings: RelaySettings, destination: D) -> Self {
        let mut secrets = destination.secrets();
        secrets.extend(settings.token.iter().map(|token| token.expose().to_owned()));
        let dead_letters = settings
            .dead_letter_queue_url
            .clone()
            .map(DeadLetterQueue::new);
        let dedup = settings.dedup_table.clone().map(Dedup::new);
        Relay {
            redactor: Redactor::new(secrets),
            settings,
            destination,
            dead_letters,
            dedup,
            refusals: LogSampler::default(),
            metrics: MetricsSink::default(),
        }
    }

    /// Samples the log of refused requests this way instead of the default (a few per minute).
    pub fn with_refusal_sampling(mut self, sampler: LogSampler) -> Self {
        self.refusals = sampler;
        self
    }

    /// Keeps Flagger's retries from posting twice with this table instead of the one named by
    /// the settings.
    pub fn with_dedup(mut self, dedup: Dedup) -> Self {
        self.dedup = Some(dedup);
        self
    }

    /// Writes the metrics lines here instead of stdout.
    pub fn with_metrics_sink(mut self, sink: MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// Parks failed events in this queue instead of the one named by the settings.
    pub fn with_dead_letter_queue(mut self, queue: DeadLetterQueue) -> Self {
        self.dead_letters = Some(queue);
        self
    }

    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    pub fn destination(&self) -> &D {
        &self.destination
    }

    pub fn into_destination(self) -> D {
        self.destination
    }

    pub fn dead_letter_queue(&self) -> Option<&DeadLetterQueue> {
        self.dead_letters.as_ref()
    }

    /// Serves one request. Never fails: every way it can end is an [`Outcome`] with a status.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        // A flood that stopped still owes its count line; any later request writes it.
        if let Some(suppressed) = self.refusals.flush(started.into_std()) {
            self.log_suppressed(suppressed);
        }
        let deadline = self.deadline(&request, started);
        let (outcome, event) = self.process(&request, deadline).await;
        self.log(
            &request,
            event.as_ref(),
            Source::FunctionUrl,
            &outcome,
            started,
        );
        outcome.into_response(D::KIND)
    }

    async fn process(
        &self,
        request: &Request,
        deadline: Instant,
    ) -> (Outcome, Option<Notification>) {
        let body = match admit(request, self.settings.token.as_ref()) {
            Ok(body) => body,
            Err(err) => return (Outcome::Refused(err), None),
        };
        let notification = match Notification::from_slice(body) {
            Ok(notification) => notification,
            Err(err) => return (Outcome::Refused(err.into()), None),
        };
        let outcome = self
            .relay(&notification, body, Source::FunctionUrl, deadline)
            .await;
        (outcome, Some(notification))
    }

    /// Serves one invocation of either kind: a Function URL request, or (fan-out mode) an SNS
    /// event. An `Err` goes back to Lambda, which retries an asynchronous invocation; it is
    /// returned only for an SNS event that failed transiently or could not be parked.
    pub async fn invoke(&self, request: Request) -> Result<Response<Body>, lambda_http::Error> {
        match request.request_context_ref() {
            Some(lambda_http::request::RequestContext::PassThrough) => {
                self.handle_sns(request).await
            }
            _ => Ok(self.handle(request).await),
        }
    }

    async fn handle_sns(&self, request: Request) -> Result<Response<Body>, lambda_http::Error> {
        let started = Instant::now();
        let deadline = self.deadline(&request, started);
        let body = request.body().as_ref();
        let records = match serde_json::from_slice::<SnsEvent>(body) {
            Ok(event) => event.records,
            Err(err) => {
                // Not an SNS event: nothing in this deployment sends one; park it, never retry.
                let failure = DeliveryFailure::refused(format!("not an SNS event: {err}"));
                let outcome = self.settle_sns(&request, body, failure, started).await?;
                return Ok(outcome.into_response(D::KIND));
            }
        };
        let mut last = Outcome::Filtered {
            stage: crate::Stage::Unknown,
            severity: crate::Severity::Info,
        };
        for record in records {
            let message = record.sns.message.as_bytes();
            let notification = match fan_out::from_document(message) {
                Ok(notification) => notification,
                Err(err) => {
                    let failure = DeliveryFailure::refused(err.to_string());
                    last = self.settle_sns(&request, message, failure, started).await?;
                    continue;
                }
            };
            let outcome = self
                .relay(&notification, message, Source::Sns, deadline)
                .await;
            self.log(
                &request,
                Some(&notification),
                Source::Sns,
                &outcome,
                started,
            );
            if let Outcome::Failed {
                failure,
                dead_letter: DeadLetter::LeftToRetry | DeadLetter::WriteFailed(_),
            } = &outcome
            {
                return Err(format!(
                    "{} delivery failed; left to Lambda to retry: {}",
                    D::KIND,
                    failure.reason
                )
                .into());
            }
            last = outcome;
        }
        Ok(last.into_response(D::KIND))
    }

    /// Parks an SNS message the relay cannot use; an `Err` only if parking failed too.
    async fn settle_sns(
        &self,
        request: &Request,
        raw: &[u8],
        failure: DeliveryFailure,
        started: Instant,
    ) -> Result<Outcome, lambda_http::Error> {
        let dead_letter = self.park(raw, &failure, Source::Sns).await;
        let outcome = Outcome::Failed {
            failure,
            dead_letter,
        };
        self.log(request, None, Source::Sns, &outcome, started);
        match &outcome {
            Outcome::Failed {
                dead_letter: DeadLetter::WriteFailed(reason),
                ..
            } => Err(format!("an unusable SNS message could not be parked: {reason}").into()),
            _ => Ok(outcome),
        }
    }

    /// Classify, filter, render and deliver one parsed event; park it if it cannot be
    /// delivered. `raw` is the body as received, kept byte for byte in the dead-letter record.
    pub async fn relay(
        &self,
        notification: &Notification,
        raw: &[u8],
        source: Source,
        deadline: Instant,
    ) -> Outcome {
        let classification = notification.classify();
        let (stage, severity) = (classification.stage, classification.severity);
        if !self.settings.filter.passes(notification, &classification) {
            return Outcome::Filtered { stage, severity };
        }
        let message = self.present(notification, &classification);
        let mut ticket = None;
        let sent = if self.settings.dry_run {
            match self.destination.render(&message) {
                Ok(payload) => {
                    let payload = serde_json::to_value(&payload).unwrap_or_default();
                    return Outcome::DryRun {
                        payload,
                        stage,
                        severity,
                    };
                }
                Err(err) => Err(DeliveryFailure::from(err)),
            }
        } else {
            ticket = match &self.dedup {
                None => None,
                Some(dedup) => match dedup.claim(D::KIND, raw, deadline).await {
                    Claim::Won(ticket) => Some((dedup, ticket)),
                    Claim::Duplicate => {
                        return Outcome::Duplicate {
                            stage,
                            severity,
                            parked: None,
                        };
                    }
                    Claim::Parked { status } => {
                        return Outcome::Duplicate {
                            stage,
                            severity,
                            parked: Some(
                                lambda_http::http::StatusCode::from_u16(status)
                                    .unwrap_or(lambda_http::http::StatusCode::SERVICE_UNAVAILABLE),
                            ),
                        };
                    }
                    Claim::Skipped(reason) => {
                        // Never a gate on delivery: at worst, Flagger's retry is posted twice.
                        tracing::warn!(table = dedup.table(), reason = %self.redactor.redact(&reason), "dedup skipped; delivering");
                        None
                    }
                },
            };
            self.deliver_message(&message, deadline).await
        };
        let outcome = match sent {
            Ok(delivered) => Outcome::Delivered {
                delivered,
                stage,
                severity,
            },
            Err(failure) if source == Source::Sns && failure.class == FailureClass::Transient => {
                Outcome::Failed {
                    failure,
                    dead_letter: DeadLetter::LeftToRetry,
                }
            }
            Err(failure) => {
                let dead_letter = self.park(raw, &failure, source).await;
                Outcome::Failed {
                    failure,
                    dead_letter,
                }
            }
        };
        // Delivered: later copies are duplicates. Parked: later copies get the same answer,
        // and redrive sends it. Neither (left to Lambda, or lost to the log): the next copy
        // is sent.
        if let Some((dedup, ticket)) = &ticket {
            match &outcome {
                Outcome::Delivered { .. } => dedup.delivered(ticket).await,
                Outcome::Failed {
                    dead_letter: DeadLetter::Parked,
                    ..
                } => dedup.parked(ticket, outcome.status().as_u16()).await,
                _ => dedup.release(ticket).await,
            }
        }
        outcome
    }

    /// Renders and delivers without filtering or parking: for events already accepted once,
    /// such as those redriven from the dead-letter queue.
    pub async fn deliver(
        &self,
        notification: &Notification,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let classification = notification.classify();
        let message = self.present(notification, &classification);
        self.deliver_message(&message, deadline).await
    }

    /// The one place a notification becomes a presentation: with the links the deployment
    /// configured, filled from this event, and whoever the destination mentions at its
    /// severity.
    fn present<'n>(
        &self,
        notification: &'n Notification,
        classification: &'n Classification,
    ) -> Presentation<'n> {
        Presentation::new(notification, classification)
            .with_links(self.settings.links.resolve(notification, classification))
            .with_mentions(self.destination.mentions(classification.severity).to_vec())
    }

    /// The one place a destination's failure is redacted before anyone reads it.
    async fn deliver_message(
        &self,
        message: &Presentation<'_>,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        self.destination
            .deliver(message, &self.settings.retry, deadline)
            .await
            .map_err(|failure| DeliveryFailure {
                reason: self.redactor.redact(&failure.reason),
                ..failure
            })
    }

    async fn park(&self, raw: &[u8], failure: &DeliveryFailure, source: Source) -> DeadLetter {
        let payload = String::from_utf8_lossy(raw);
        let Some(queue) = &self.dead_letters else {
            tracing::error!(payload = %payload, "undeliverable event (no DEAD_LETTER_QUEUE_URL is set)");
            return DeadLetter::NotConfigured;
        };
        let record = DeadLetterRecord::new(D::KIND, source.as_str(), &payload, failure);
        let timeout = self.settings.deadline_margin.saturating_sub(ANSWER_TIME);
        match queue.park(&record, timeout).await {
            Ok(()) => DeadLetter::Parked,
            Err(err) => {
                let reason = self.redactor.redact(&err.0);
                tracing::error!(payload = %payload, error = %reason, "undeliverable event could not be dead-lettered");
                DeadLetter::WriteFailed(reason)
            }
        }
    }

    /// When the answer must be on its way: the sooner of the Lambda deadline and the moment
    /// the caller stops waiting (`FLAGGER_TIMEOUT` after the Function URL received the request,
    /// a cold start included), less a margin for parking a failure and answering. A caller
    /// that has (nearly) given up already is not waited for: the event then gets the Lambda
    /// budget to be delivered or parked. Without a Lambda context (local runs), a fixed budget.
    fn deadline(&self, request: &Request, now: Instant) -> Instant {
        let margin = self.settings.deadline_margin;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let lambda = request
            .lambda_context_ref()
            .map(|context| {
                Duration::from_millis(
                    u64::try_from(u128::from(context.deadline).saturating_sub(now_ms)).unwrap_or(0),
                )
            })
            .filter(|remaining| !remaining.is_zero())
            .map(|remaining| remaining.saturating_sub(margin));
        let caller = arrived_at_ms(request)
            .map(|arrived| {
                let waited = Duration::from_millis(
                    u64::try_from(now_ms.saturating_sub(arrived)).unwrap_or(u64::MAX),
                );
                self.settings
                    .caller_timeout
                    .saturating_sub(waited)
                    .saturating_sub(margin)
            })
            .filter(|left| *left >= self.settings.retry.min_attempt_time);
        let remaining = match (lambda, caller) {
            (Some(lambda), Some(caller)) => lambda.min(caller),
            (Some(lambda), None) => lambda,
            (None, Some(caller)) => caller.min(self.settings.default_budget),
            (None, None) => self.settings.default_budget,
        };
        now + remaining
    }

    /// The invocation's log line for one event, and beside it the event's metrics line.
    fn log(
        &self,
        request: &Request,
        notification: Option<&Notification>,
        arrived: Source,
        outcome: &Outcome,
        started: Instant,
    ) {
        let request_id = request
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        let canary = notification
            .and_then(Notification::canary_ref)
            .unwrap_or_default();
        // A refused request beyond the first few of the minute is only counted: no log line,
        // no metrics line; the count line carries both.
        let sample = match outcome {
            Outcome::Refused(_) => Some(self.refusals.refused(started.into_std())),
            _ => None,
        };
        if sample != Some(Sample::Counted) {
            self.write_metrics(&request_id, &canary, notification, arrived, outcome);
        }
        let phase = notification.map(Notification::phase).unwrap_or_default();
        let source = notification.map(Notification::source).unwrap_or_default();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let status = outcome.status().as_u16();
        let label = outcome.label();
        let attempts = outcome.attempts();
        match outcome {
            Outcome::Delivered { stage, .. }
            | Outcome::Filtered { stage, .. }
            | Outcome::Duplicate { stage, .. } => tracing::info!(
                request_id,
                source,
                canary,
                phase,
                stage = stage.as_str(),
                outcome = label,
                status,
                attempts,
                latency_ms,
                "event {label}"
            ),
            Outcome::DryRun { payload, stage, .. } => tracing::info!(
                request_id, source, canary, phase, stage = stage.as_str(), outcome = label, status, latency_ms,
                payload = %payload, "event rendered (dry run)"
            ),
            Outcome::Refused(err) => {
                if let Some(Sample::Full { suppressed }) = sample {
                    if let Some(suppressed) = suppressed {
                        self.log_suppressed(suppressed);
                    }
                    tracing::warn!(
                        request_id, outcome = label, status, latency_ms, error = %err, "request refused"
                    )
                }
            }
            Outcome::Failed {
                failure,
                dead_letter,
            } => tracing::error!(
                request_id, source, canary, phase, outcome = label, status, attempts, latency_ms,
                error = %failure.reason, dead_lettered = *dead_letter == DeadLetter::Parked,
                maybe_delivered = failure.maybe_delivered, "delivery failed"
            ),
        }
    }

    /// The one log line, and the one metrics document, a window of refusals that were only
    /// counted ends with.
    fn log_suppressed(&self, suppressed: Suppressed) {
        tracing::warn!(
            outcome = "refused",
            refused_not_logged = suppressed.count,
            window_s = suppressed.window.as_secs(),
            "{} more refused requests in the last {} s were not logged one by one",
            suppressed.count,
            suppressed.window.as_secs()
        );
        let counted = Outcome::Refused(crate::contract::RequestError::Unauthorized);
        if let Some(mut metrics) = EventMetrics::of(D::KIND, &counted) {
            metrics.events = suppressed.count;
            metrics.reason = Some(std::borrow::Cow::Borrowed(
                "refused requests counted, not logged one by one",
            ));
            self.metrics.write(&metrics.line(SystemTime::now()));
        }
    }

    /// One EMF document per event: the metrics CloudWatch extracts from the log.
    fn write_metrics(
        &self,
        request_id: &str,
        canary: &str,
        notification: Option<&Notification>,
        arrived: Source,
        outcome: &Outcome,
    ) {
        let Some(mut metrics) = EventMetrics::of(D::KIND, outcome) else {
            return;
        };
        // Outcomes of failed deliveries carry no classification; the event says it again.
        let classification = match metrics.stage {
            None => notification.map(Notification::classify),
            Some(_) => None,
        };
        if let Some(classification) = &classification {
            metrics.stage = Some(classification.stage.as_str());
            metrics.severity = Some(classification.severity.as_str());
        }
        metrics.request_id = Some(request_id);
        metrics.canary = Some(canary);
        metrics.source = Some(match (arrived, notification.map(Notification::source)) {
            (Source::Sns, _) => Source::Sns.as_str(),
            (Source::FunctionUrl, Some(sender @ "alertmanager")) => sender,
            (Source::FunctionUrl, _) => Source::FunctionUrl.as_str(),
        });
        self.metrics.write(&metrics.line(SystemTime::now()));
    }
}

/// When the Function URL received the request (epoch ms), as its request context says; `None`
/// for an SNS event, which nobody waits for.
fn arrived_at_ms(request: &Request) -> Option<u128> {
    match request.request_context_ref()? {
        lambda_http::request::RequestContext::ApiGatewayV2(context) => {
            u128::try_from(context.time_epoch).ok().filter(|ms| *ms > 0)
        }
        _ => None,
    }
}

/// Runs the function until Lambda stops it. The relay is shared, never rebuilt per request.
/// `run_concurrent` serves `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once on Lambda Managed
/// Instances (one long-poll loop per slot, all sharing this relay and its connection pool) and
/// falls back to one at a time, like `run`, everywhere else.
pub async fn serve<D: Destination>(relay: Relay<D>) -> Result<(), lambda_http::Error> {
    let relay = Arc::new(relay);
    lambda_http::run_concurrent(lambda_http::service_fn(move |request: Request| {
        let relay = Arc::clone(&relay);
        async move { relay.invoke(request).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    //! The pipeline's decisions, with a destination that records what reaches it: who gets in,
    //! what is parsed, what is filtered, and which status each ending answers with. The real
    //! destinations are tested against real local servers in the `tests` crate.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use lambda_http::http::{self, StatusCode};
    use serde_json::Value;

    use super::*;
    use crate::deliver::DeliveryFailure;

    /// Records every message it is asked to deliver, and answers with `answer`.
    struct Recorder {
        delivered: Mutex<Vec<String>>,
        answer: Result<Delivered, FailureClass>,
    }

    impl Recorder {
        fn answering(answer: Result<Delivered, FailureClass>) -> Self {
            Recorder {
                delivered: Mutex::new(Vec::new()),
                answer,
            }
        }

        fn titles(&self) -> Vec<String> {
            self.delivered.lock().map(|d| d.clone()).unwrap_or_default()
        }
    }

    impl Destination for Recorder {
        const KIND: &'static str = "recorder";
        type Payload = String;

        fn render(&self, message: &Presentation<'_>) -> Result<String, RenderError> {
            if message.title.contains("unrenderable") {
                return Err(RenderError::new("RECORDER_TEMPLATE", "no such key"));
            }
            Ok(message.title.clone())
        }

        async fn deliver(
            &self,
            message: &Presentation<'_>,
            _retry: &RetryPolicy,
            _deadline: Instant,
        ) -> Result<Delivered, DeliveryFailure> {
            let payload = self.render(message)?;
            if let Ok(mut delivered) = self.delivered.lock() {
                delivered.push(payload);
            }
            self.answer.map_err(|class| DeliveryFailure {
                class,
                ..DeliveryFailure::refused(
                    "recorder said no to https://hooks.example/secret".into(),
                )
            })
        }

        fn secrets(&self) -> Vec<String> {
            vec!["https://hooks.example/secret".to_owned()]
        }
    }

    const TOKEN: &str = "relay-token-0123456789";
    /// A function serving without a token, on purpose.
    const OPEN: (&str, &str) = ("ALLOW_UNAUTHENTICATED", "true");
    const ADVANCE: &str = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1763996400137"}}"#;
    const PROGRESS: &str = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"Starting canary analysis for podinfo.test","eventType":"Normal","timestamp":"1763996400137"}}"#;

    fn relay(
        settings: &[(&str, &str)],
        answer: Result<Delivered, FailureClass>,
    ) -> Relay<Recorder> {
        let env: HashMap<&str, &str> = settings.iter().copied().collect();
        let settings = RelaySettings::from_env(&env).expect("valid settings");
        Relay::new(settings, Recorder::answering(answer))
    }

    fn delivered() -> Result<Delivered, FailureClass> {
        Ok(Delivered::first_time())
    }

    fn post(token: Option<&str>, body: &str) -> Request {
        let mut request = http::Request::builder()
            .method("POST")
            .uri("https://relay.example/")
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::from(body)).expect("a request")
    }

    async fn answer(relay: &Relay<Recorder>, request: Request) -> (StatusCode, Value) {
        let response = relay.handle(request).await;
        let status = response.status();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        (status, body)
    }

    #[tokio::test]
    async fn a_request_without_the_token_is_refused_and_nothing_is_delivered() {
        let relay = relay(&[("RELAY_TOKEN", TOKEN)], delivered());
        let (status, body) = answer(&relay, post(None, ADVANCE)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthorized");
        let wrong = format!("{TOKEN}x");
        let (status, _) = answer(&relay, post(Some(&wrong), ADVANCE)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(relay.destination().titles().is_empty());
    }

    #[tokio::test]
    async fn an_event_with_the_token_is_delivered_once_and_answered_200() {
        let relay = relay(&[("RELAY_TOKEN", TOKEN)], delivered());
        let (status, body) = answer(&relay, post(Some(TOKEN), ADVANCE)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "delivered");
        assert_eq!(
            relay.destination().titles(),
            ["podinfo.test: canary weight 10%"]
        );
    }

    #[tokio::test]
    async fn a_body_that_is_no_event_is_a_400_naming_the_problem() {
        let relay = relay(&[OPEN], delivered());
        let (status, body) = answer(&relay, post(None, r#"{"name":"x"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("namespace")),
            "{body}"
        );
        assert!(relay.destination().titles().is_empty());
    }

    #[tokio::test]
    async fn a_filtered_stage_is_answered_200_and_not_delivered() {
        let relay = relay(&[OPEN, ("EXCLUDE_STAGES", "analysis-started")], delivered());
        let (status, body) = answer(&relay, post(None, PROGRESS)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "filtered");
        assert!(relay.destination().titles().is_empty());
    }

    #[tokio::test]
    async fn a_dry_run_answers_the_rendering_and_delivers_nothing() {
        let relay = relay(&[OPEN, ("DRY_RUN", "1")], delivered());
        let (status, body) = answer(&relay, post(None, ADVANCE)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["payload"], "podinfo.test: canary weight 10%", "{body}");
        assert!(relay.destination().titles().is_empty());
    }

    #[tokio::test]
    async fn an_event_its_template_cannot_render_is_a_502_naming_the_setting() {
        let unrenderable = ADVANCE.replace("\"name\":\"podinfo\"", "\"name\":\"unrenderable\"");
        for settings in [&[OPEN][..], &[OPEN, ("DRY_RUN", "1")][..]] {
            let relay = relay(settings, delivered());
            let (status, body) = answer(&relay, post(None, &unrenderable)).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
            assert_eq!(body["status"], "rejected");
            let error = body["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("RECORDER_TEMPLATE could not render this event: no such key"),
                "{body}"
            );
            assert!(relay.destination().titles().is_empty());
        }
    }

    #[tokio::test]
    async fn every_event_but_a_rehearsal_leaves_one_metrics_line() {
        let cases = [
            (
                &[OPEN][..],
                None,
                ADVANCE,
                Some(("delivered", "function-url")),
            ),
            (
                &[OPEN, ("EXCLUDE_STAGES", "analysis-started")][..],
                None,
                PROGRESS,
                Some(("filtered", "function-url")),
            ),
            (
                &[("RELAY_TOKEN", TOKEN)][..],
                None,
                ADVANCE,
                Some(("refused", "function-url")),
            ),
            (
                &[OPEN][..],
                Some(FailureClass::Permanent),
                ADVANCE,
                Some(("rejected", "function-url")),
            ),
            (&[OPEN, ("DRY_RUN", "1")][..], None, ADVANCE, None),
        ];
        for (settings, failure, body, expected) in cases {
            let verdict = failure.map_or_else(delivered, Err);
            let (sink, lines) = MetricsSink::collect();
            let relay = relay(settings, verdict).with_metrics_sink(sink);
            answer(&relay, post(None, body)).await;
            let lines = lines.lock().map(|l| l.clone()).unwrap_or_default();
            let Some((outcome, source)) = expected else {
                assert!(lines.is_empty(), "{lines:?}");
                continue;
            };
            assert_eq!(lines.len(), 1, "{lines:?}");
            let document: Value = serde_json::from_str(&lines[0]).expect("a JSON line");
            assert_eq!(document["Function"], "recorder");
            assert_eq!(document["Outcome"], outcome, "{document}");
            assert_eq!(document["Events"], 1);
            assert_eq!(document["Source"], source, "{document}");
            if outcome == "rejected" {
                assert_eq!(document["Stage"], "progress", "{document}");
                assert_eq!(document["Canary"], "test/podinfo", "{document}");
                let reason = document["Reason"].as_str().unwrap_or_default();
                assert!(reason.contains("recorder said no"), "{document}");
                assert!(!lines[0].contains("hooks.example/secret"), "{document}");
            }
        }
    }

    #[tokio::test]
    async fn every_message_carries_the_configured_links_filled_from_its_event() {
        let relay = relay(
            &[
                OPEN,
                (
                    "LINKS",
                    "Dashboard=https://g.example/d?ns={namespace}&c={name};Revision=https://g.example/r/{checksum}",
                ),
            ],
            delivered(),
        );
        let notification = Notification::from_slice(ADVANCE.as_bytes()).expect("an event");
        let classification = notification.classify();
        let message = relay.present(&notification, &classification);
        assert_eq!(
            message.links,
            [crate::present::Link {
                label: "Dashboard".into(),
                url: "https://g.example/d?ns=test&c=podinfo".into()
            }],
            "the event has no checksum: no half-filled revision link"
        );
        assert!(message.mentions.is_empty());
    }

    #[tokio::test]
    async fn a_refusal_is_502_and_unavailability_503_with_the_secret_redacted() {
        for (class, expected) in [
            (FailureClass::Permanent, StatusCode::BAD_GATEWAY),
            (FailureClass::Transient, StatusCode::SERVICE_UNAVAILABLE),
        ] {
            let relay = relay(&[OPEN], Err(class));
            let (status, body) = answer(&relay, post(None, ADVANCE)).await;
            assert_eq!(status, expected, "{body}");
            assert_eq!(relay.destination().titles().len(), 1);
            assert!(!body.to_string().contains("hooks.example/secret"), "{body}");
        }
    }
}
