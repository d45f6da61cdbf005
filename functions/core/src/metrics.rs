//! Delivery metrics as CloudWatch Embedded Metric Format: one JSON document per event, written
//! to stdout as its own log line, from which CloudWatch Logs extracts the metrics. No API call
//! and no permission beyond writing logs.
//!
//! This module is the one definition of what is measured: namespace, dimensions, metric names
//! and units. The emitter below and the stack's dashboard and alarms (generated from these
//! tables by the tests crate) read the same constants, so they cannot drift apart.
//!
//! Dimensions stay few (function, and function with outcome) to keep the number of metrics
//! bounded; everything else that describes the event (stage, severity, source, the
//! destination's answer) travels as a property: searchable in Logs Insights, never a metric.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::contract::{self, DeadLetter};
use crate::deliver::{FailureClass, http_status_in};

/// The CloudWatch namespace of every metric the functions emit.
pub const NAMESPACE: &str = "FlaggerRelay";

/// Which function emitted the event: its destination's kind.
pub const FUNCTION: &str = "Function";
/// How the event ended; see [`Outcome`].
pub const OUTCOME: &str = "Outcome";

/// Every metric is published once per function, and once per function and outcome.
pub const DIMENSION_SETS: [&[&str]; 2] = [&[FUNCTION], &[FUNCTION, OUTCOME]];

/// The values of the `Function` dimension: one per function the stack can deploy.
pub const FUNCTIONS: [&str; 4] = ["slack", "teams", "sns", "gate"];

/// The properties each document may carry besides dimensions and metrics: what Logs Insights
/// queries filter on. Never a secret, URL or token.
pub mod property {
    /// The Lambda request id, to find the invocation's other log lines.
    pub const REQUEST_ID: &str = "RequestId";
    /// `namespace/name` of the canary the event is about, when there is one.
    pub const CANARY: &str = "Canary";
    pub const STAGE: &str = "Stage";
    pub const SEVERITY: &str = "Severity";
    /// How the event arrived: `function-url`, `sns` (fan-out) or `alertmanager`.
    pub const SOURCE: &str = "Source";
    /// The status the function answered its caller with.
    pub const STATUS: &str = "Status";
    /// For failures: the HTTP status of the destination's last answer, when it gave one.
    pub const DESTINATION_STATUS: &str = "DestinationStatus";
    /// Why the event was not delivered (already free of secrets), for failures only.
    pub const REASON: &str = "Reason";

    pub const ALL: [&str; 8] = [
        REQUEST_ID,
        CANARY,
        STAGE,
        SEVERITY,
        SOURCE,
        STATUS,
        DESTINATION_STATUS,
        REASON,
    ];
}

/// CloudWatch units the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// What is measured per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// 1 per event: summed by outcome, it counts what happened.
    Events,
    /// Delivery attempts made for the event (0 when it was never sent).
    Attempts,
    /// From the first attempt to the destination's last answer, retries and their waits
    /// included. Only for events that were sent: a filtered event has no latency.
    DeliveryLatency,
    /// 1 when the event was parked in the dead-letter queue by this invocation.
    DeadLettered,
    /// Time slept between attempts because the destination said when to come back
    /// (`Retry-After`, honoured when longer than the backoff): the cost of being throttled.
    RetryAfterWaited,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::Events,
        Metric::Attempts,
        Metric::DeliveryLatency,
        Metric::DeadLettered,
        Metric::RetryAfterWaited,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Events => "Events",
            Metric::Attempts => "Attempts",
            Metric::DeliveryLatency => "DeliveryLatency",
            Metric::DeadLettered => "DeadLettered",
            Metric::RetryAfterWaited => "RetryAfterWaited",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Events | Metric::Attempts | Metric::DeadLettered => Unit::Count,
            Metric::DeliveryLatency | Metric::RetryAfterWaited => Unit::Milliseconds,
        }
    }
}

/// How one event ended, as the `Outcome` dimension names it.
///
/// The outcome says what the destination (or the function) made of the event; whether it was
/// parked is the separate `DeadLettered` metric. So a message Slack refused and that now waits
/// in the dead-letter queue counts as `rejected` with `DeadLettered` 1, and one Teams was too
/// busy to take as `unavailable` with `DeadLettered` 1. `dead-lettered` is the outcome only of
/// an event parked without any delivery attempt: a fan-out message the function could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The destination took it.
    Delivered,
    /// Noise control kept it back (severity, stage, chatter).
    Filtered,
    /// Already delivered once; this copy was not sent again.
    Duplicate,
    /// The destination refused it; sending it again would be refused again.
    Rejected,
    /// The destination did not take it within the deadline (timeouts, 5xx, throttling).
    Unavailable,
    /// The request was refused before anything was sent (method, size, token, body).
    Refused,
    /// Parked without a delivery attempt.
    DeadLettered,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Delivered,
        Outcome::Filtered,
        Outcome::Duplicate,
        Outcome::Rejected,
        Outcome::Unavailable,
        Outcome::Refused,
        Outcome::DeadLettered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Filtered => "filtered",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Unavailable => "unavailable",
            Outcome::Refused => "refused",
            Outcome::DeadLettered => "dead-lettered",
        }
    }

    /// Outcomes that mean an event did not get where it was going.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Rejected | Outcome::Unavailable | Outcome::Refused | Outcome::DeadLettered
        )
    }
}

/// Longest reason a document carries; the full one is in the dead-letter record.
const REASON_LIMIT: usize = 300;

/// What one invocation did with one event: everything a metrics document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetrics<'a> {
    /// The function's kind (`slack`): one of [`FUNCTIONS`].
    pub function: &'a str,
    pub outcome: Outcome,
    /// Events this document stands for: 1, or the refused requests of a minute that were only
    /// counted (a flood writes one document, not one per request).
    pub events: u64,
    pub attempts: u32,
    /// `None` when nothing was sent.
    pub delivery_latency: Option<Duration>,
    pub dead_lettered: bool,
    pub retry_after_waited: Duration,
    pub request_id: Option<&'a str>,
    pub canary: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub source: Option<&'a str>,
    pub status: u16,
    pub destination_status: Option<u16>,
    /// Only kept for failures: a delivered event needs no reason.
    pub reason: Option<Cow<'a, str>>,
}

impl<'a> EventMetrics<'a> {
    /// What the relay's outcome for one event says as metrics; the relay adds what it knows
    /// of the request (id, canary, source, and the stage of a failed event). `None` for a dry
    /// run, which is a local rehearsal, not an event handled.
    pub fn of(function: &'a str, outcome: &'a contract::Outcome) -> Option<Self> {
        let status = outcome.status().as_u16();
        let blank = EventMetrics {
            function,
            outcome: Outcome::Refused,
            events: 1,
            attempts: 0,
            delivery_latency: None,
            dead_lettered: false,
            retry_after_waited: Duration::ZERO,
            request_id: None,
            canary: None,
            stage: None,
            severity: None,
            source: None,
            status,
            destination_status: None,
            reason: None,
        };
        Some(match outcome {
            contract::Outcome::DryRun { .. } => return None,
            contract::Outcome::Delivered {
                delivered,
                stage,
                severity,
            } => EventMetrics {
                outcome: Outcome::Delivered,
                attempts: delivered.attempts,
                delivery_latency: Some(delivered.latency),
                retry_after_waited: delivered.retry_after_waited,
                stage: Some(stage.as_str()),
                severity: Some(severity.as_str()),
                ..blank
            },
            contract::Outcome::Filtered { stage, severity } => EventMetrics {
                outcome: Outcome::Filtered,
                stage: Some(stage.as_str()),
                severity: Some(severity.as_str()),
                ..blank
            },
            contract::Outcome::Duplicate {
                stage, severity, ..
            } => EventMetrics {
                outcome: Outcome::Duplicate,
                stage: Some(stage.as_str()),
                severity: Some(severity.as_str()),
                ..blank
            },
            contract::Outcome::Refused(err) => EventMetrics {
                outcome: Outcome::Refused,
                reason: Some(Cow::Owned(err.to_string())),
                ..blank
            },
            contract::Outcome::Failed {
                failure,
                dead_letter,
            } => {
                let parked = *dead_letter == DeadLetter::Parked;
                let outcome = match failure.class {
                    _ if failure.attempts == 0 && parked => Outcome::DeadLettered,
                    FailureClass::Permanent => Outcome::Rejected,
                    FailureClass::Transient => Outcome::Unavailable,
                };
                EventMetrics {
                    outcome,
                    attempts: failure.attempts,
                    delivery_latency: failure.latency(),
                    dead_lettered: parked,
                    retry_after_waited: failure.retry_after_waited,
                    destination_status: http_status_in(&failure.reason),
                    reason: Some(Cow::Borrowed(&failure.reason)),
                    ..blank
                }
            }
        })
    }
}

impl EventMetrics<'_> {
    /// The metric's value for this event (whole counts and milliseconds); `None` when it
    /// does not apply.
    pub fn value(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Events => Some(self.events),
            Metric::Attempts => Some(u64::from(self.attempts)),
            Metric::DeliveryLatency => self.delivery_latency.map(millis),
            Metric::DeadLettered => Some(u64::from(self.dead_lettered)),
            Metric::RetryAfterWaited => Some(millis(self.retry_after_waited)),
        }
    }

    /// The EMF document, timestamped `at`.
    pub fn document(&self, at: SystemTime) -> Value {
        let timestamp = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let timestamp = u64::try_from(timestamp).unwrap_or(u64::MAX);
        let mut document = Map::new();
        let mut definitions = Vec::new();
        for metric in Metric::ALL {
            if let Some(value) = self.value(metric) {
                definitions.push(json!({ "Name": metric.name(), "Unit": metric.unit().as_str() }));
                document.insert(metric.name().to_owned(), json!(value));
            }
        }
        document.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": DIMENSION_SETS,
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert(FUNCTION.to_owned(), json!(self.function));
        document.insert(OUTCOME.to_owned(), json!(self.outcome.as_str()));
        let reason = self
            .reason
            .as_deref()
            .filter(|_| self.outcome.is_failure())
            .map(|reason| crate::text::truncate(reason, REASON_LIMIT));
        let properties = [
            (property::REQUEST_ID, self.request_id.map(Value::from)),
            (property::CANARY, self.canary.map(Value::from)),
            (property::STAGE, self.stage.map(Value::from)),
            (property::SEVERITY, self.severity.map(Value::from)),
            (property::SOURCE, self.source.map(Value::from)),
            (property::STATUS, Some(Value::from(self.status))),
            (
                property::DESTINATION_STATUS,
                self.destination_status.map(Value::from),
            ),
            (property::REASON, reason.map(|r| Value::from(r.as_ref()))),
        ];
        for (name, value) in properties {
            if let Some(value) = value.filter(|v| v.as_str() != Some("")) {
                document.insert(name.to_owned(), value);
            }
        }
        Value::Object(document)
    }

    /// The document as one log line (no newline).
    pub fn line(&self, at: SystemTime) -> String {
        self.document(at).to_string()
    }
}

/// Where metrics lines go: stdout, where Lambda hands them to CloudWatch Logs as they are, or
/// a collection that tests read back.
#[derive(Debug, Clone, Default)]
pub enum MetricsSink {
    #[default]
    Stdout,
    Collect(Arc<Mutex<Vec<String>>>),
}

impl MetricsSink {
    /// A sink that keeps every line, and the handle to read them.
    pub fn collect() -> (MetricsSink, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (MetricsSink::Collect(Arc::clone(&lines)), lines)
    }

    /// Writes one line. A document must be a log event of its own, so the line is written
    /// whole under the stdout lock, never through the tracing subscriber, which would wrap it.
    /// Failing to write a metric never fails the invocation (`println!` would panic).
    pub fn write(&self, line: &str) {
        match self {
            MetricsSink::Stdout => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
            MetricsSink::Collect(lines) => lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(line.to_owned()),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered() -> EventMetrics<'static> {
        EventMetrics {
            events: 1,
            function: "slack",
            outcome: Outcome::Delivered,
            attempts: 2,
            delivery_latency: Some(Duration::from_millis(1250)),
            dead_lettered: false,
            retry_after_waited: Duration::from_secs(1),
            request_id: Some("req-1"),
            canary: Some("test/podinfo"),
            stage: Some("promoted"),
            severity: Some("info"),
            source: Some("function-url"),
            status: 200,
            destination_status: Some(200),
            reason: Some("ignored for a delivered event".into()),
        }
    }

    #[test]
    fn carries_the_values_dimensions_and_properties_at_the_top_level() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_300_959);
        let doc = delivered().document(at);
        assert_eq!(doc["_aws"]["Timestamp"], json!(1_764_000_300_959u64));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "FlaggerRelay"
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"], ["Function", "Outcome"]])
        );
        assert_eq!(doc["Function"], "slack");
        assert_eq!(doc["Outcome"], "delivered");
        assert_eq!(doc["Events"], json!(1));
        assert_eq!(doc["Attempts"], json!(2));
        assert_eq!(doc["DeliveryLatency"], json!(1250));
        assert_eq!(doc["DeadLettered"], json!(0));
        assert_eq!(doc["RetryAfterWaited"], json!(1000));
        assert_eq!(doc["Stage"], "promoted");
        assert_eq!(doc["Status"], 200);
        assert_eq!(doc["DestinationStatus"], 200);
        assert!(doc.get("Reason").is_none(), "{doc}");
    }

    #[test]
    fn declares_no_latency_for_an_event_that_was_never_sent() {
        let filtered = EventMetrics {
            events: 1,
            outcome: Outcome::Filtered,
            attempts: 0,
            delivery_latency: None,
            retry_after_waited: Duration::ZERO,
            destination_status: None,
            ..delivered()
        };
        let doc = filtered.document(SystemTime::now());
        assert!(doc.get("DeliveryLatency").is_none());
        let declared: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            ["Events", "Attempts", "DeadLettered", "RetryAfterWaited"]
        );
        assert!(doc.get("DestinationStatus").is_none());
    }

    #[test]
    fn keeps_a_bounded_reason_for_failures_only() {
        let long = "x".repeat(2000);
        let rejected = EventMetrics {
            events: 1,
            outcome: Outcome::Rejected,
            dead_lettered: true,
            status: 502,
            destination_status: Some(400),
            reason: Some(long.as_str().into()),
            ..delivered()
        };
        let doc = rejected.document(SystemTime::now());
        assert_eq!(doc["Outcome"], "rejected");
        assert_eq!(doc["DeadLettered"], json!(1));
        let reason = doc["Reason"].as_str().unwrap();
        assert!(reason.len() < 310 && reason.starts_with("xxx"), "{reason}");
    }

    #[test]
    fn leaves_out_properties_it_does_not_know() {
        let refused = EventMetrics {
            events: 1,
            outcome: Outcome::Refused,
            attempts: 0,
            delivery_latency: None,
            request_id: Some(""),
            canary: None,
            stage: None,
            severity: None,
            destination_status: None,
            status: 401,
            reason: Some("unauthorized".into()),
            ..delivered()
        };
        let doc = refused.document(SystemTime::now());
        for absent in [
            "RequestId",
            "Canary",
            "Stage",
            "Severity",
            "DestinationStatus",
        ] {
            assert!(doc.get(absent).is_none(), "{absent} in {doc}");
        }
        assert_eq!(doc["Reason"], "unauthorized");
    }

    fn failure(class: FailureClass, attempts: u32) -> crate::deliver::DeliveryFailure {
        let first = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        crate::deliver::DeliveryFailure {
            class,
            reason: "HTTP 429: slow down".into(),
            attempts,
            first_attempt: first,
            last_attempt: first + Duration::from_millis(2500),
            retry_after_waited: Duration::from_secs(2),
            maybe_delivered: false,
        }
    }

    #[test]
    fn sorts_the_relays_outcomes_into_metrics_outcomes() {
        use crate::classify::{Severity, Stage};
        use crate::contract::{Outcome as Relayed, RequestError};
        use crate::deliver::Delivered;

        let delivered = Relayed::Delivered {
            delivered: Delivered {
                attempts: 2,
                latency: Duration::from_millis(900),
                retry_after_waited: Duration::from_millis(500),
            },
            stage: Stage::Succeeded,
            severity: Severity::Info,
        };
        let m = EventMetrics::of("slack", &delivered).unwrap();
        assert_eq!(
            (
                m.outcome,
                m.attempts,
                m.delivery_latency,
                m.retry_after_waited
            ),
            (
                Outcome::Delivered,
                2,
                Some(Duration::from_millis(900)),
                Duration::from_millis(500)
            )
        );
        assert_eq!((m.stage, m.status), (Some("succeeded"), 200));

        let filtered = Relayed::Filtered {
            stage: Stage::Progress,
            severity: Severity::Info,
        };
        let m = EventMetrics::of("teams", &filtered).unwrap();
        assert_eq!(
            (m.outcome, m.attempts, m.delivery_latency),
            (Outcome::Filtered, 0, None)
        );

        let refused = Relayed::Refused(RequestError::Unauthorized);
        let m = EventMetrics::of("sns", &refused).unwrap();
        assert_eq!((m.outcome, m.status), (Outcome::Refused, 401));
        assert_eq!(m.reason.as_deref(), Some("unauthorized"));

        let cases = [
            (
                FailureClass::Permanent,
                1,
                DeadLetter::Parked,
                Outcome::Rejected,
                true,
            ),
            (
                FailureClass::Transient,
                5,
                DeadLetter::Parked,
                Outcome::Unavailable,
                true,
            ),
            (
                FailureClass::Transient,
                3,
                DeadLetter::LeftToRetry,
                Outcome::Unavailable,
                false,
            ),
            (
                FailureClass::Permanent,
                0,
                DeadLetter::Parked,
                Outcome::DeadLettered,
                true,
            ),
            (
                FailureClass::Permanent,
                0,
                DeadLetter::WriteFailed("x".into()),
                Outcome::Rejected,
                false,
            ),
            (
                FailureClass::Permanent,
                2,
                DeadLetter::NotConfigured,
                Outcome::Rejected,
                false,
            ),
        ];
        for (class, attempts, dead_letter, expected, parked) in cases {
            let failed = Relayed::Failed {
                failure: failure(class, attempts),
                dead_letter: dead_letter.clone(),
            };
            let m = EventMetrics::of("slack", &failed).unwrap();
            let what = format!("{class:?} after {attempts} attempts, {dead_letter:?}");
            assert_eq!((m.outcome, m.dead_lettered), (expected, parked), "{what}");
            assert_eq!(m.attempts, attempts, "{what}");
            let latency = (attempts > 0).then(|| Duration::from_millis(2500));
            assert_eq!(m.delivery_latency, latency, "{what}");
            assert_eq!(m.retry_after_waited, Duration::from_secs(2), "{what}");
            assert_eq!(m.destination_status, Some(429), "{what}");
            assert_eq!(m.reason.as_deref(), Some("HTTP 429: slow down"), "{what}");
        }

        let rehearsal = Relayed::DryRun {
            payload: Value::Null,
            stage: Stage::Succeeded,
            severity: Severity::Info,
        };
        assert_eq!(EventMetrics::of("slack", &rehearsal), None);
    }

    #[test]
    fn names_outcomes_and_metrics_once_each() {
        let mut outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        outcomes.sort_unstable();
        outcomes.dedup();
        assert_eq!(outcomes.len(), Outcome::ALL.len());
        let mut metrics: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        metrics.sort_unstable();
        metrics.dedup();
        assert_eq!(metrics.len(), Metric::ALL.len());
    }
}
