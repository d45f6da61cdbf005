//! The dead-letter queue: where an event goes when its destination would not take it, so that
//! nothing Flagger sent is lost. Flagger does not retry event webhooks by default; without
//! this, a failed delivery exists only as a line in Flagger's log.

use std::time::{Duration, SystemTime};

use crate::aws::sdk_reason;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::deliver::{DeliveryFailure, FailureClass};

/// One parked event. The schema is a public contract: operators read these records and the
/// redrive command replays them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// `flagger-relay.dead-letter/v1`.
    pub schema: String,
    /// Which kind of destination refused it (`slack`, `teams`, `sns`); never its address.
    pub destination: String,
    /// `permanent` (the destination refused it) or `transient` (it was unavailable).
    pub failure_class: String,
    pub reason: String,
    /// Delivery attempts so far, across the original invocation and every redrive.
    pub attempts: u32,
    /// RFC 3339.
    pub first_attempt: String,
    pub last_attempt: String,
    /// The request body exactly as it arrived (for `source: sns`, the SNS message: the SNS
    /// function's document carrying the original payload).
    pub payload: String,
    /// How it arrived: `function-url` or `sns` (fan-out).
    #[serde(default = "function_url")]
    pub source: String,
}

fn function_url() -> String {
    "function-url".to_owned()
}

pub const SCHEMA: &str = "flagger-relay.dead-letter/v1";

impl DeadLetterRecord {
    pub fn new(destination: &str, source: &str, payload: &str, failure: &DeliveryFailure) -> Self {
        DeadLetterRecord {
            schema: SCHEMA.to_owned(),
            destination: destination.to_owned(),
            failure_class: failure.class.as_str().to_owned(),
            reason: failure.reason.clone(),
            attempts: failure.attempts,
            first_attempt: rfc3339(failure.first_attempt),
            last_attempt: rfc3339(failure.last_attempt),
            payload: payload.to_owned(),
            source: source.to_owned(),
        }
    }

    /// The record after another failed delivery: more attempts, the latest reason.
    pub fn failed_again(&self, failure: &DeliveryFailure) -> Self {
        DeadLetterRecord {
            failure_class: failure.class.as_str().to_owned(),
            reason: failure.reason.clone(),
            attempts: self.attempts + failure.attempts,
            last_attempt: rfc3339(failure.last_attempt),
            ..self.clone()
        }
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
                let config = match &self.config {
                    Some(config) => config.clone(),
                    None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
                };
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
        let body = serde_json::to_string(record).map_err(|err| DeadLetterError(err.to_string()))?;
        let send = self
            .client()
            .await
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send();
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(DeadLetterError(sdk_reason(&err))),
            Err(_) => Err(DeadLetterError(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        }
    }
}
