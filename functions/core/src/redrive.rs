//! Redrive: take parked events out of the dead-letter queue and deliver them again through
//! the same code that failed the first time. A record is deleted only after its destination
//! took it; what fails again goes back with its attempt count raised.

use std::time::Duration;

use aws_sdk_sqs::types::Message;
use tokio::time::Instant;

use crate::aws::sdk_reason;
use crate::dead_letter::{DeadLetterError, DeadLetterQueue, DeadLetterRecord};
use crate::fan_out::{self, SnsEvent};
use crate::notification::Notification;
use crate::relay::{Destination, Relay};
use serde::Deserialize;

/// What one redrive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Delivered and deleted from the queue.
    pub delivered: u32,
    /// Failed again; back in the queue with more attempts.
    pub failed: u32,
    /// For another destination, or listed only (dry run); left in the queue untouched.
    pub left: u32,
    /// Not a flagger-relay record; left in the queue for a person to look at.
    pub unreadable: u32,
}

/// How long a received record stays hidden from other readers while this run works on it.
const VISIBILITY: Duration = Duration::from_secs(300);
/// Time each record's delivery may take, retries included.
const DELIVERY_BUDGET: Duration = Duration::from_secs(20);

/// Redrives every record for this relay's destination. With `dry_run`, lists them instead.
pub async fn redrive<D: Destination>(
    relay: &Relay<D>,
    queue: &DeadLetterQueue,
    dry_run: bool,
) -> Result<RedriveReport, DeadLetterError> {
    let messages = drain(queue).await?;
    let mut report = RedriveReport::default();
    let mut hand_back = Vec::new();
    for message in messages {
        let record = message.body().and_then(read_record);
        let notification = record.as_ref().and_then(|r| {
            let payload = r.payload.as_bytes();
            match r.source.as_str() {
                "sns" => fan_out::from_document(payload).ok(),
                _ => Notification::from_slice(payload).ok(),
            }
        });
        let (Some(record), Some(notification)) = (record, notification) else {
            report.unreadable += 1;
            hand_back.push(message);
            continue;
        };
        if record.destination != D::KIND || dry_run {
            if dry_run && record.destination == D::KIND {
                let classification = notification.classify();
                println!(
                    "would redrive {} ({} {}, {} attempts): {}",
                    notification.subject(),
                    record.failure_class,
                    record.last_attempt,
                    record.attempts,
                    classification.headline
                );
            }
            report.left += 1;
            hand_back.push(message);
            continue;
        }
        match relay
            .deliver(&notification, Instant::now() + DELIVERY_BUDGET)
            .await
        {
            Ok(_) => {
                delete(queue, &message).await?;
                report.delivered += 1;
            }
            Err(failure) => {
                let again = record.failed_again(&failure);
                queue.park(&again, Duration::from_secs(10)).await?;
                delete(queue, &message).await?;
                report.failed += 1;
            }
        }
    }
    for message in hand_back {
        release(queue, &message).await?;
    }
    Ok(report)
}

/// Either shape a record takes in the queue: the relay's own, or what Lambda's `OnFailure`
/// destination writes when it gives up on an SNS event (fan-out mode), read as the former.
fn read_record(body: &str) -> Option<DeadLetterRecord> {
    if let Ok(record) = serde_json::from_str::<DeadLetterRecord>(body) {
        return Some(record);
    }
    let failure: LambdaFailure = serde_json::from_str(body).ok()?;
    // The template names the functions `<stack>-slack` and `<stack>-teams`.
    let function = failure.request_context.function_arn.split(':').nth(6)?;
    let destination = function.rsplit('-').next()?;
    let message = failure
        .request_payload
        .records
        .into_iter()
        .next()?
        .sns
        .message;
    Some(DeadLetterRecord {
        schema: crate::dead_letter::SCHEMA.to_owned(),
        destination: destination.to_owned(),
        failure_class: "transient".to_owned(),
        reason: format!(
            "Lambda stopped retrying: {}",
            failure.request_context.condition
        ),
        attempts: failure.request_context.approximate_invoke_count,
        first_attempt: failure.timestamp.clone(),
        last_attempt: failure.timestamp,
        payload: message,
        source: "sns".to_owned(),
    })
}

/// Lambda's destination record for a failed asynchronous invocation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaFailure {
    #[serde(default)]
    timestamp: String,
    request_context: LambdaRequestContext,
    request_payload: SnsEvent,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaRequestContext {
    function_arn: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    approximate_invoke_count: u32,
}

/// Receives every visible record, hiding each for the length of the run so nothing is read
/// twice and records parked again during the run are not picked up by it.
async fn drain(queue: &DeadLetterQueue) -> Result<Vec<Message>, DeadLetterError> {
    let client = queue.client().await;
    let mut all = Vec::new();
    loop {
        let batch = client
            .receive_message()
            .queue_url(queue.queue_url())
            .max_number_of_messages(10)
            .visibility_timeout(VISIBILITY.as_secs() as i32)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|err| DeadLetterError(sdk_reason(&err)))?;
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(all);
        }
        all.extend(messages);
    }
}

async fn delete(queue: &DeadLetterQueue, message: &Message) -> Result<(), DeadLetterError> {
    let Some(receipt) = message.receipt_handle() else {
        return Ok(());
    };
    queue
        .client()
        .await
        .delete_message()
        .queue_url(queue.queue_url())
        .receipt_handle(receipt)
        .send()
        .await
        .map(drop)
        .map_err(|err| DeadLetterError(sdk_reason(&err)))
}

/// Makes a record this run did not handle visible again at once.
async fn release(queue: &DeadLetterQueue, message: &Message) -> Result<(), DeadLetterError> {
    let Some(receipt) = message.receipt_handle() else {
        return Ok(());
    };
    queue
        .client()
        .await
        .change_message_visibility()
        .queue_url(queue.queue_url())
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await
        .map(drop)
        .map_err(|err| DeadLetterError(sdk_reason(&err)))
}
