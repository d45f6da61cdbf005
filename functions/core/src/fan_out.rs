//! Fan-out mode: the Slack and Teams functions subscribed to the SNS function's topic. Lambda
//! delivers each publish as an SNS event whose message is the SNS function's JSON document,
//! which carries the original Flagger payload (or Alertmanager group).
//!
//! Failure semantics differ from a Function URL call: a transient failure is returned as an
//! error so that Lambda's asynchronous retries try again (and, after the last one, its
//! `OnFailure` destination parks the event); a permanent refusal, or a message that is not a
//! flagger-relay document, goes straight to the dead-letter queue and returns success, since
//! retrying it could only fail again.

use serde::{Deserialize, Serialize};

use crate::alertmanager::AlertGroup;
use crate::classify::{Severity, Stage};
use crate::event::{CanaryEvent, EventError};
use crate::notification::Notification;
use crate::present::Link;

// The SNS function's document: written by the SNS function, read back here by the functions
// subscribed to its topic, so its shape is defined once, for both sides. `SCHEMA.md` in the
// SNS function documents it for every other subscriber.

/// Version of the [`EventDocument`] layout. Adding a field keeps it; renaming, removing or
/// changing the meaning of one bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The `default` message: a Flagger event's document or an Alertmanager group's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Document {
    Event(EventDocument),
    Alerts(AlertsDocument),
}

/// The `default` message for an Alertmanager notification: the payload unchanged under
/// `alertmanager`, with the same derived fields as an event's document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsDocument {
    pub schema: u32,
    /// Always [`SOURCE_ALERTMANAGER`]; a Flagger event's document has `name` and `metadata` instead.
    pub source: &'static str,
    /// The canary, when the alerts carry `name` and `namespace` labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub summary: String,
    pub stage: Stage,
    pub severity: Severity,
    /// The webhook payload as Alertmanager sent it (version 4).
    pub alertmanager: AlertGroup,
    /// The links the deployment configured (`LINKS`), filled from the group; absent without.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Set when alerts or annotation texts had to be left out to fit SNS's limit.
    pub truncated: bool,
}

/// The `default` message: the event as Flagger sent it, plus what a machine would otherwise
/// have to work out. A public contract, documented with an example in `SCHEMA.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventDocument {
    pub schema: u32,
    /// `name`, `namespace`, `phase`, `checksum` (when Flagger sent one) and `metadata`,
    /// unchanged.
    #[serde(flatten)]
    pub event: CanaryEvent,
    /// `metadata.timestamp` as RFC 3339 UTC with milliseconds; `null` when there is none.
    pub time: Option<String>,
    pub summary: String,
    pub stage: Stage,
    pub severity: Severity,
    /// What the classifier read out of the message (weights, metric, hook, reason …), as
    /// [`crate::classify::Details`] serializes it.
    pub details: serde_json::Value,
    /// The links the deployment configured (`LINKS`), filled from the event; absent without.
    /// Added under schema 1: a new field, which consumers ignore until they read it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Set when a field had to be shortened (or user metadata left out) to fit SNS's limit.
    pub truncated: bool,
}

/// `source` of an Alertmanager group's document.
pub const SOURCE_ALERTMANAGER: &str = "alertmanager";

/// `{"Records":[{"Sns":{"Message": …}}]}`, as Lambda delivers a topic subscription. Only the
/// fields the relay reads are declared: Lambda's SNS records name some fields differently from
/// the SNS envelope SQS and HTTPS subscribers get (`SigningCertUrl`/`SigningCertURL`), and
/// none of those matter here.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SnsEventRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SnsEventRecord {
    #[serde(rename = "Sns")]
    pub sns: SnsMessage,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SnsMessage {
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "MessageId", default)]
    pub message_id: String,
    #[serde(rename = "TopicArn", default)]
    pub topic_arn: String,
}

/// The parts of an SNS function document that say what it carries.
#[derive(Deserialize)]
struct DocumentShape {
    schema: Option<u32>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    alertmanager: Option<serde_json::Value>,
}

/// Reads a flagger-relay SNS document ([`SCHEMA_VERSION`]): the Flagger event its fields are, or the
/// Alertmanager group under `alertmanager`. Anything else is refused, so that a stray publish
/// to the topic is parked, never relayed or retried.
pub fn from_document(message: &[u8]) -> Result<Notification, EventError> {
    let not_ours = || {
        EventError::Invalid("the SNS message is not a flagger-relay document (no `schema`)".into())
    };
    let shape: DocumentShape = serde_json::from_slice(message).map_err(|_| not_ours())?;
    match (shape.schema, shape.source.as_deref(), shape.alertmanager) {
        (Some(SCHEMA_VERSION), Some(SOURCE_ALERTMANAGER), Some(group)) => {
            serde_json::from_value::<AlertGroup>(group)
                .map(Notification::Alerts)
                .map_err(|err| EventError::Field {
                    field: "alertmanager".into(),
                    problem: err.to_string(),
                })
        }
        (Some(SCHEMA_VERSION), None, None) => {
            CanaryEvent::from_slice(message).map(Notification::Canary)
        }
        // Documents of other sources share the topic (the gate's decisions): they are for
        // other subscribers, and relaying one as a canary event would post nonsense.
        (Some(SCHEMA_VERSION), Some(source), _) => Err(EventError::Invalid(format!(
            "the SNS message is a {} document, not an event to relay",
            crate::text::truncate(source, 40)
        ))),
        (Some(other), _, _) => Err(EventError::Invalid(format!(
            "flagger-relay document schema {other} is not supported"
        ))),
        (None, _, _) => Err(not_ours()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_event_document() {
        let document = br#"{"schema":1,"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1"},"time":"1970-01-01T00:00:00.001Z","summary":"s","stage":"progress","severity":"info","details":{"canaryWeight":10},"truncated":false}"#;
        let Notification::Canary(event) = from_document(document).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(
            event.event_message(),
            Some("Advance podinfo.test canary weight 10")
        );
        assert!(
            event.metadata.user.is_empty(),
            "derived fields are not metadata"
        );
    }

    #[test]
    fn reads_an_alertmanager_document() {
        let document = br#"{"schema":1,"source":"alertmanager","summary":"s","stage":"failed","severity":"error","truncated":false,"alertmanager":{"version":"4","groupKey":"k","status":"firing","alerts":[]}}"#;
        assert!(matches!(
            from_document(document),
            Ok(Notification::Alerts(_))
        ));
    }

    #[test]
    fn refuses_what_is_not_a_flagger_relay_document() {
        for message in [
            &b"hello"[..],
            br#"{"name":"podinfo","namespace":"test"}"#,
            br#"{"schema":2,"name":"a","namespace":"b"}"#,
            br#"{"schema":1,"source":"gate","eventType":"decision","name":"a","namespace":"b","metadata":{}}"#,
        ] {
            assert!(
                from_document(message).is_err(),
                "{}",
                String::from_utf8_lossy(message)
            );
        }
    }
}
