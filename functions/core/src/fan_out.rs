//! Fan-out mode: the Slack and Teams functions subscribed to the SNS function's topic. Lambda
//! delivers each publish as an SNS event whose message is the SNS function's JSON document,
//! which carries the original Flagger payload (or Alertmanager group).
//!
//! Failure semantics differ from a Function URL call: a transient failure is returned as an
//! error so that Lambda's asynchronous retries try again (and, after the last one, its
//! `OnFailure` destination parks the event); a permanent refusal, or a message that is not a
//! flagger-relay document, goes straight to the dead-letter queue and returns success, since
//! retrying it could only fail again.

use serde::Deserialize;

use crate::alertmanager::AlertGroup;
use crate::event::{CanaryEvent, EventError};
use crate::notification::Notification;

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

/// Reads a flagger-relay SNS document (`schema` 1): the Flagger event its fields are, or the
/// Alertmanager group under `alertmanager`. Anything else is refused, so that a stray publish
/// to the topic is parked, never relayed or retried.
pub fn from_document(message: &[u8]) -> Result<Notification, EventError> {
    let not_ours = || {
        EventError::Invalid("the SNS message is not a flagger-relay document (no `schema`)".into())
    };
    let shape: DocumentShape = serde_json::from_slice(message).map_err(|_| not_ours())?;
    match (shape.schema, shape.source.as_deref(), shape.alertmanager) {
        (Some(1), Some("alertmanager"), Some(group)) => serde_json::from_value::<AlertGroup>(group)
            .map(Notification::Alerts)
            .map_err(|err| EventError::Field {
                field: "alertmanager".into(),
                problem: err.to_string(),
            }),
        (Some(1), _, None) => CanaryEvent::from_slice(message).map(Notification::Canary),
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
        ] {
            assert!(
                from_document(message).is_err(),
                "{}",
                String::from_utf8_lossy(message)
            );
        }
    }
}
