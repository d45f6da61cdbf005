//! The dead-letter queue: where an event goes when its destination would not take it, so that
//! nothing Flagger sent is lost. Flagger does not retry event webhooks by default; without
//! this, a failed delivery exists only as a line in Flagger's log.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::aws::sdk_reason;
use tokio::sync::OnceCell;

use crate::deliver::{DeliveryFailure, FailureClass};

/// One parked event. The schema is a public contract: operators read these records and the
/// redrive command replays them.
///
/// `v2` carries the body base64-encoded (`payload_encoding: base64`): any body the functions
/// accept then fits the queue byte for byte, whatever it contains. Escaped as JSON text (`v1`),
/// a body of quotes and backslashes doubled in size, and characters SQS refuses (U+FFFE, U+FFFF)
/// could not be sent at all. `v1` records are still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// `flagger-relay.dead-letter/v2` (or `/v1`, written before base64).
    pub schema: String,
    /// Which kind of destination refused it (`slack`, `teams`, `sns`); never its address.
    /// Redrive routes the record by this field.
    pub destination: String,
    /// `permanent` (the destination refused it) or `transient` (it was unavailable).
    pub failure_class: String,
    pub reason: String,
    /// Delivery attempts so far, across the original invocation and every redrive.
    pub attempts: u32,
    /// Redrive runs that tried it and failed; past `REDRIVE_MAX_ATTEMPTS` it is left alone.
    #[serde(default)]
    pub redrives: u32,
    /// RFC 3339.
    pub first_attempt: String,
    pub last_attempt: String,
    /// The request body exactly as it arrived (for `source: sns`, the SNS message: the SNS
    /// function's document carrying the original payload), encoded as `payload_encoding` says.
    pub payload: String,
    /// `base64`, or `text` (the body itself, as `v1` records have it).
    #[serde(default)]
    pub payload_encoding: PayloadEncoding,
    /// How it arrived: `function-url` or `sns` (fan-out).
    #[serde(default = "function_url")]
    pub source: String,
    /// An attempt was sent and got no verdict (it timed out, or the answer was cut off): the
    /// destination may have taken the event, and redriving it may show it twice.
    #[serde(default)]
    pub maybe_delivered: bool,
}

/// How a record holds its payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadEncoding {
    /// The body as JSON text: `v1` records.
    #[default]
    Text,
    Base64,
}

fn function_url() -> String {
    "function-url".to_owned()
}

pub const SCHEMA: &str = "flagger-relay.dead-letter/v2";
/// The schema of records written before the payload was base64-encoded.
pub const SCHEMA_V1: &str = "flagger-relay.dead-letter/v1";

/// A record whose payload cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the record's payload is not valid {0}")]
pub struct PayloadError(&'static str);

impl DeadLetterRecord {
    pub fn new(destination: &str, source: &str, payload: &str, failure: &DeliveryFailure) -> Self {
        DeadLetterRecord::with_payload(destination, source, payload.as_bytes(), failure)
    }

    /// A record of `payload` exactly as received, whatever its bytes.
    pub fn with_payload(
        destination: &str,
        source: &str,
        payload: &[u8],
        failure: &DeliveryFailure,
    ) -> Self {
        DeadLetterRecord {
            schema: SCHEMA.to_owned(),
            destination: destination.to_owned(),
            failure_class: failure.class.as_str().to_owned(),
            reason: failure.reason.clone(),
            attempts: failure.attempts,
            redrives: 0,
            first_attempt: rfc3339(failure.first_attempt),
            last_attempt: rfc3339(failure.last_attempt),
            payload: aws_smithy_types::base64::encode(payload),
            payload_encoding: PayloadEncoding::Base64,
            source: source.to_owned(),
            maybe_delivered: failure.maybe_delivered,
        }
    }

    /// Whether this is a record of a schema this version reads.
    pub fn is_known_schema(&self) -> bool {
        self.schema == SCHEMA || self.schema == SCHEMA_V1
    }

    /// The payload, byte for byte as it was received.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, PayloadError> {
        match self.payload_encoding {
            PayloadEncoding::Text => Ok(self.payload.clone().into_bytes()),
            PayloadEncoding::Base64 => {
                aws_smithy_types::base64::decode(&self.payload).map_err(|_| PayloadError("base64"))
            }
        }
    }

    /// The record after a redrive that failed again: one more redrive, more attempts, the
    /// latest reason; written in the current schema.
    pub fn failed_again(&self, failure: &DeliveryFailure) -> Result<Self, PayloadError> {
        let payload = self.payload_bytes()?;
        Ok(DeadLetterRecord {
            schema: SCHEMA.to_owned(),
            failure_class: failure.class.as_str().to_owned(),
            reason: failure.reason.clone(),
            attempts: self.attempts + failure.attempts,
            redrives: self.redrives + 1,
            last_attempt: rfc3339(failure.last_attempt),
            payload: aws_smithy_types::base64::encode(payload),
            payload_encoding: PayloadEncoding::Base64,
            maybe_delivered: self.maybe_delivered || failure.maybe_delivered,
            ..self.clone()
        })
    }

    pub fn class(&self) -> FailureClass {
        if self.failure_class == "permanent" {
            FailureClass::Permanent
        } else {
            FailureClass::Transient
        }
    }
}

fn rfc3339(at: SystemTime) -> String {
    let millis = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    crate::event::Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
        .to_rfc3339()
        .unwrap_or_default()
}

/// Why a record could not be parked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dead-letter queue write failed: {0}")]
pub struct DeadLetterError(pub String);

/// An SQS queue (`DEAD_LETTER_QUEUE_URL`). The SQS client is built on first use: it is needed
/// only when a delivery fails, so it costs nothing at cold start.
pub struct DeadLetterQueue {
    queue_url: String,
    config: Option<aws_config::SdkConfig>,
    client: OnceCell<aws_sdk_sqs::Client>,
}

impl DeadLetterQueue {
    /// A queue whose client takes its configuration from the environment when first needed.
    pub fn new(queue_url: String) -> Self {
        DeadLetterQueue {
            queue_url,
            config: None,
            client: OnceCell::new(),
        }
    }

    /// A queue reached with the given SDK configuration (a local endpoint in tests).
    pub fn with_config(queue_url: String, config: aws_config::SdkConfig) -> Self {
        DeadLetterQueue {
            queue_url,
            config: Some(config),
            client: OnceCell::new(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub async fn client(&self) -> &aws_sdk_sqs::Client {
        self.client
            .get_or_init(|| async {
                let config = crate::aws::sdk_config(self.config.as_ref()).await;
                aws_sdk_sqs::Client::new(&config)
            })
            .await
    }

    /// Parks one record, within `timeout`.
    pub async fn park(
        &self,
        record: &DeadLetterRecord,
        timeout: Duration,
    ) -> Result<(), DeadLetterError> {
        self.send(record, timeout).await.map(drop)
    }

    /// Parks one record, within `timeout`, and answers the id SQS gave its message.
    pub async fn send(
        &self,
        record: &DeadLetterRecord,
        timeout: Duration,
    ) -> Result<String, DeadLetterError> {
        let body = serde_json::to_string(record).map_err(|err| DeadLetterError(err.to_string()))?;
        let send = self
            .client()
            .await
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send();
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(sent)) => Ok(sent.message_id.unwrap_or_default()),
            Ok(Err(err)) => Err(DeadLetterError(sdk_reason(&err))),
            Err(_) => Err(DeadLetterError(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> DeliveryFailure {
        DeliveryFailure::refused("HTTP 400: invalid_payload".to_owned())
    }

    #[test]
    fn keeps_any_payload_byte_for_byte() {
        let body: Vec<u8> = (0..=255u8).chain(*b"\"\\\x01\xef\xbf\xbf").collect();
        let record = DeadLetterRecord::with_payload("slack", "function-url", &body, &failure());
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.is_ascii(), "nothing SQS could refuse: {json}");
        let back: DeadLetterRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.payload_bytes().unwrap(), body);
        assert_eq!(back.schema, SCHEMA);
    }

    #[test]
    fn reads_a_v1_record() {
        let v1 = r#"{"schema":"flagger-relay.dead-letter/v1","destination":"slack","failure_class":"transient","reason":"HTTP 503","attempts":5,"first_attempt":"2025-11-24T16:05:00.959Z","last_attempt":"2025-11-24T16:05:07.412Z","payload":"{\"name\":\"podinfo\",\"namespace\":\"test\"}"}"#;
        let record: DeadLetterRecord = serde_json::from_str(v1).unwrap();
        assert!(record.is_known_schema());
        assert_eq!(
            record.payload_bytes().unwrap(),
            br#"{"name":"podinfo","namespace":"test"}"#
        );
        assert_eq!(
            (record.source.as_str(), record.redrives),
            ("function-url", 0)
        );
        let again = record.failed_again(&failure()).unwrap();
        assert_eq!((again.schema.as_str(), again.redrives), (SCHEMA, 1));
        assert_eq!(again.payload_bytes(), record.payload_bytes());
        assert_eq!(again.attempts, 5);
    }
}
