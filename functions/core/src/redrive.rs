//! Redrive: take parked events out of the dead-letter queue and deliver them again through
//! the same code that failed the first time. A record is deleted only after its destination
//! took it; what fails again goes back with its counts raised, until `REDRIVE_MAX_ATTEMPTS`
//! redrives have failed: then it stays parked as it is, reported as given up, so a poison
//! record neither restarts its retention nor keeps the alarm red forever.
//!
//! Records are taken a few at a time, each batch hidden from other readers for as long as
//! working through it can take (every step of a record is time-bounded), so that a concurrent
//! run never sees a record this run is working on. Records this run does not handle (another
//! destination's, unreadable, given up, or parked by this very run) stay hidden until the run
//! ends and are then released at once. One failed SQS call costs its record, never the run.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use serde::Deserialize;
use tokio::time::Instant;

use crate::aws::{sdk_reason, within};
use crate::config::{ConfigError, Env};
use crate::dead_letter::{DeadLetterError, DeadLetterQueue, DeadLetterRecord};
use crate::deliver::{DeliveryFailure, FailureClass};
use crate::fan_out::{self, SnsEvent};
use crate::notification::Notification;
use crate::relay::{Destination, Relay};

/// What one redrive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Delivered, and deleted from the queue unless counted in `delete_failed`.
    pub delivered: u32,
    /// Failed again; back in the queue with more attempts (or, if that write failed, as it was).
    pub failed: u32,
    /// Past `REDRIVE_MAX_ATTEMPTS` redrives: left in the queue untouched.
    pub given_up: u32,
    /// For another destination, or listed only (dry run); left in the queue untouched.
    pub left: u32,
    /// Not a flagger-relay record; left in the queue for a person to look at.
    pub unreadable: u32,
    /// Handled, but SQS would not delete the original: it comes back once its hiding ends,
    /// and a delivered one would be sent again.
    pub delete_failed: u32,
    /// Records of this destination marked `maybe_delivered` (an attempt got no verdict): they
    /// may already be in the channel, and sending them again may show them twice.
    pub maybe_delivered: u32,
}

impl fmt::Display for RedriveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} delivered, {} failed again (kept), {} given up after REDRIVE_MAX_ATTEMPTS (kept, untouched), {} left for other destinations or listed, {} unreadable (kept)",
            self.delivered, self.failed, self.given_up, self.left, self.unreadable
        )?;
        if self.maybe_delivered > 0 {
            write!(
                f,
                "; {} of them marked maybe_delivered (they may already have arrived, and show twice)",
                self.maybe_delivered
            )?;
        }
        if self.delete_failed > 0 {
            write!(
                f,
                "; {} could not be deleted after being handled and will come back",
                self.delete_failed
            )?;
        }
        Ok(())
    }
}

/// Why a run could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedriveError {
    #[error(transparent)]
    Queue(#[from] DeadLetterError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// How a run works. Every duration bounds one step of one record, which is what lets a batch
/// be hidden for exactly as long as it can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveOptions {
    /// List what would be sent; change nothing.
    pub dry_run: bool,
    /// `REDRIVE_MAX_ATTEMPTS`: failed redrives after which a record is given up.
    pub max_redrives: u32,
    /// Records taken per receive (1–10).
    pub batch: u32,
    /// Time one record's delivery may take, retries included.
    pub delivery_budget: Duration,
    /// Time writing a record back may take.
    pub park_timeout: Duration,
    /// Time one other SQS call (delete, change visibility) may take.
    pub call_timeout: Duration,
}

pub const DEFAULT_MAX_REDRIVES: u32 = 5;

impl Default for RedriveOptions {
    fn default() -> Self {
        RedriveOptions {
            dry_run: false,
            max_redrives: DEFAULT_MAX_REDRIVES,
            batch: 5,
            delivery_budget: Duration::from_secs(20),
            park_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(5),
        }
    }
}

/// Time kept on top of a batch's worst case before its records could reappear.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(30);
/// Time a delivery may overrun its budget (a last bookkeeping call) before it is cut off.
const DELIVERY_GRACE: Duration = Duration::from_secs(2);

impl RedriveOptions {
    /// `REDRIVE_MAX_ATTEMPTS` (a positive number, default 5).
    pub fn from_env(env: &impl Env, dry_run: bool) -> Result<Self, ConfigError> {
        let max_redrives =
            match env.var("REDRIVE_MAX_ATTEMPTS") {
                None => DEFAULT_MAX_REDRIVES,
                Some(raw) => raw.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or(
                    ConfigError::Invalid {
                        name: "REDRIVE_MAX_ATTEMPTS",
                        expected: "a positive number of redrives",
                    },
                )?,
            };
        Ok(RedriveOptions {
            dry_run,
            max_redrives,
            ..RedriveOptions::default()
        })
    }

    /// How long one record can take from the moment it is in hand until it is settled.
    fn per_record(&self) -> Duration {
        self.delivery_budget + DELIVERY_GRACE + self.park_timeout + self.call_timeout * 2
    }

    /// How long a received batch stays hidden: until the last of its records is settled.
    pub fn visibility(&self) -> Duration {
        self.per_record() * self.batch.clamp(1, 10) + VISIBILITY_MARGIN
    }
}

/// Redrives every record for this relay's destination, with `REDRIVE_MAX_ATTEMPTS` from the
/// process environment. With `dry_run`, lists them instead.
pub async fn redrive<D: Destination>(
    relay: &Relay<D>,
    queue: &DeadLetterQueue,
    dry_run: bool,
) -> Result<RedriveReport, RedriveError> {
    let options = RedriveOptions::from_env(&crate::config::ProcessEnv, dry_run)?;
    redrive_with(relay, queue, &options).await
}

/// What became of one record in this run.
enum Settled {
    Delivered,
    Failed,
    GivenUp,
    Left,
    Unreadable,
}

/// Redrives every record for this relay's destination as `options` say.
pub async fn redrive_with<D: Destination>(
    relay: &Relay<D>,
    queue: &DeadLetterQueue,
    options: &RedriveOptions,
) -> Result<RedriveReport, RedriveError> {
    let mut run = Run {
        queue,
        options,
        report: RedriveReport::default(),
        seen: HashSet::new(),
        parked: HashSet::new(),
        held: HashMap::new(),
    };
    let outcome = run.work(relay).await;
    run.release().await;
    outcome?;
    Ok(run.report)
}

struct Run<'a> {
    queue: &'a DeadLetterQueue,
    options: &'a RedriveOptions,
    report: RedriveReport,
    /// Message ids received in this run.
    seen: HashSet<String>,
    /// Message ids this run wrote (records that failed again): left for the next run.
    parked: HashSet<String>,
    /// Messages kept hidden until the run ends, by id, with their latest receipt.
    held: HashMap<String, Message>,
}

impl Run<'_> {
    async fn work<D: Destination>(&mut self, relay: &Relay<D>) -> Result<(), DeadLetterError> {
        loop {
            let batch = self.receive().await?;
            if batch.is_empty() {
                return Ok(());
            }
            for message in batch {
                let id = message.message_id().unwrap_or_default().to_owned();
                let again = !self.seen.insert(id.clone());
                if again || self.parked.contains(&id) {
                    // Written by this run, or back in view after its hiding ran out (a record
                    // held, or one whose delete failed): out of sight until the run ends.
                    if again {
                        self.hide(&message).await;
                    }
                    self.held.insert(id, message);
                    continue;
                }
                match self.settle(relay, &message).await {
                    Settled::Delivered => self.report.delivered += 1,
                    Settled::Failed => self.report.failed += 1,
                    Settled::GivenUp => self.report.given_up += 1,
                    Settled::Left => self.report.left += 1,
                    Settled::Unreadable => self.report.unreadable += 1,
                }
            }
        }
    }

    async fn settle<D: Destination>(&mut self, relay: &Relay<D>, message: &Message) -> Settled {
        let record = message.body().and_then(read_record);
        let readable = record.and_then(|record| {
            let payload = record.payload_bytes().ok()?;
            let notification = match record.source.as_str() {
                "sns" => fan_out::from_document(&payload).ok(),
                _ => Notification::from_slice(&payload).ok(),
            }?;
            Some((record, notification))
        });
        let Some((record, notification)) = readable else {
            self.hold(message);
            return Settled::Unreadable;
        };
        if record.destination != D::KIND {
            self.hold(message);
            return Settled::Left;
        }
        if record.maybe_delivered {
            self.report.maybe_delivered += 1;
        }
        let given_up = record.redrives >= self.options.max_redrives;
        if self.options.dry_run {
            let classification = notification.classify();
            println!(
                "{} {} ({} {}, {} attempts, {} redrives): {}",
                if given_up {
                    "given up on"
                } else {
                    "would redrive"
                },
                notification.subject(),
                record.failure_class,
                record.last_attempt,
                record.attempts,
                record.redrives,
                classification.headline
            );
            self.hold(message);
            return if given_up {
                Settled::GivenUp
            } else {
                Settled::Left
            };
        }
        if given_up {
            self.hold(message);
            return Settled::GivenUp;
        }
        let budget = self.options.delivery_budget;
        let delivery = tokio::time::timeout(
            budget + DELIVERY_GRACE,
            relay.deliver(&notification, Instant::now() + budget),
        )
        .await;
        let failure = match delivery {
            Ok(Ok(_)) => {
                self.delete(message).await;
                return Settled::Delivered;
            }
            Ok(Err(failure)) => failure,
            Err(_) => {
                let now = std::time::SystemTime::now();
                DeliveryFailure {
                    class: FailureClass::Transient,
                    reason: format!("the delivery outlived its {} s budget", budget.as_secs()),
                    attempts: 1,
                    first_attempt: now,
                    last_attempt: now,
                    maybe_delivered: true,
                    retry_after_waited: Duration::ZERO,
                }
            }
        };
        let again = match record.failed_again(&failure) {
            Ok(again) => again,
            Err(_) => {
                self.hold(message);
                return Settled::Unreadable;
            }
        };
        match self.queue.send(&again, self.options.park_timeout).await {
            Ok(id) => {
                self.parked.insert(id);
                self.delete(message).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "a record that failed again could not be written back; it stays as it was");
                self.hold(message);
            }
        }
        Settled::Failed
    }

    fn hold(&mut self, message: &Message) {
        let id = message.message_id().unwrap_or_default().to_owned();
        self.held.insert(id, message.clone());
    }

    /// Receives the next batch, hidden for as long as working through it can take.
    async fn receive(&self) -> Result<Vec<Message>, DeadLetterError> {
        let visibility = i32::try_from(self.options.visibility().as_secs()).unwrap_or(i32::MAX);
        let batch = self
            .queue
            .client()
            .await
            .receive_message()
            .queue_url(self.queue.queue_url())
            .max_number_of_messages(self.options.batch.clamp(1, 10) as i32)
            .visibility_timeout(visibility)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|err| DeadLetterError(sdk_reason(&err)))?;
        Ok(batch.messages.unwrap_or_default())
    }

    /// Deletes a settled record. A failure is counted and the run goes on: the record comes
    /// back once its hiding ends, and is kept out of sight until this run is over.
    async fn delete(&mut self, message: &Message) {
        let Some(receipt) = message.receipt_handle() else {
            return;
        };
        let call = self
            .queue
            .client()
            .await
            .delete_message()
            .queue_url(self.queue.queue_url())
            .receipt_handle(receipt)
            .send();
        let Err(failed) = within(self.options.call_timeout, call).await else {
            return;
        };
        tracing::warn!(
            message_id = message.message_id().unwrap_or_default(),
            error = %failed,
            "a handled record could not be deleted; it will come back"
        );
        self.report.delete_failed += 1;
        self.hold(message);
    }

    /// Hides a held record again, for as long as a batch can take.
    async fn hide(&self, message: &Message) {
        let seconds = i32::try_from(self.options.visibility().as_secs()).unwrap_or(i32::MAX);
        self.change_visibility(message, seconds).await;
    }

    /// Makes every record this run held visible again at once, for the next run.
    async fn release(&mut self) {
        let held: Vec<Message> = self.held.drain().map(|(_, message)| message).collect();
        for message in held {
            self.change_visibility(&message, 0).await;
        }
    }

    async fn change_visibility(&self, message: &Message, seconds: i32) {
        let Some(receipt) = message.receipt_handle() else {
            return;
        };
        let call = self
            .queue
            .client()
            .await
            .change_message_visibility()
            .queue_url(self.queue.queue_url())
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send();
        let Err(failed) = within(self.options.call_timeout, call).await else {
            return;
        };
        tracing::warn!(
            message_id = message.message_id().unwrap_or_default(),
            error = %failed,
            "could not change a record's visibility; it reappears when its hiding ends"
        );
    }
}

/// Either shape a record takes in the queue: the relay's own (`v1` or `v2`), or what Lambda's
/// `OnFailure` destination writes when it gives up on an SNS event (fan-out mode), read as the
/// former. Lambda's record names only the function; the template names the functions
/// `<stack>-slack` and `<stack>-teams`, and that suffix becomes the record's destination.
fn read_record(body: &str) -> Option<DeadLetterRecord> {
    if let Ok(record) = serde_json::from_str::<DeadLetterRecord>(body) {
        return record.is_known_schema().then_some(record);
    }
    let failure: LambdaFailure = serde_json::from_str(body).ok()?;
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let function = failure.request_context.function_arn.split(':').nth(6)?;
    let destination = ["slack", "teams"]
        .into_iter()
        .find(|kind| function.rsplit('-').next() == Some(*kind))?;
    let message = failure
        .request_payload
        .records
        .into_iter()
        .next()?
        .sns
        .message;
    let failure_now = DeliveryFailure::refused(format!(
        "Lambda stopped retrying: {}",
        failure.request_context.condition
    ));
    let mut record =
        DeadLetterRecord::with_payload(destination, "sns", message.as_bytes(), &failure_now);
    record.failure_class = "transient".to_owned();
    record.attempts = failure.request_context.approximate_invoke_count;
    record.first_attempt = failure.timestamp.clone();
    record.last_attempt = failure.timestamp;
    Some(record)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap as Map;

    #[test]
    fn reads_the_attempts_cap() {
        let env: Map<&str, &str> = Map::new();
        assert_eq!(
            RedriveOptions::from_env(&env, false).unwrap().max_redrives,
            5
        );
        let env: Map<&str, &str> = [("REDRIVE_MAX_ATTEMPTS", "2")].into();
        assert_eq!(
            RedriveOptions::from_env(&env, false).unwrap().max_redrives,
            2
        );
        for bad in ["0", "-1", "many"] {
            let env: Map<&str, &str> = [("REDRIVE_MAX_ATTEMPTS", bad)].into();
            assert!(RedriveOptions::from_env(&env, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_batch_stays_hidden_until_its_last_record_is_settled() {
        let options = RedriveOptions::default();
        let worst = (options.delivery_budget
            + DELIVERY_GRACE
            + options.park_timeout
            + options.call_timeout * 2)
            * options.batch;
        assert!(options.visibility() > worst);
        // SQS hides a message for at most 12 hours.
        assert!(options.visibility() < Duration::from_secs(12 * 3600));
    }

    #[test]
    fn routes_a_lambda_failure_by_the_function_it_names() {
        let record = |arn: &str| {
            let body = serde_json::json!({
                "timestamp": "2025-11-24T16:07:01.002Z",
                "requestContext": {"functionArn": arn, "condition": "RetriesExhausted", "approximateInvokeCount": 3},
                "requestPayload": {"Records": [{"Sns": {"Message": "{\"schema\":1}"}}]}
            });
            read_record(&body.to_string())
        };
        let teams =
            record("arn:aws:lambda:us-east-1:123456789012:function:relay-teams:$LATEST").unwrap();
        assert_eq!(
            (teams.destination.as_str(), teams.source.as_str()),
            ("teams", "sns")
        );
        assert_eq!(teams.payload_bytes().unwrap(), b"{\"schema\":1}");
        assert!(record("arn:aws:lambda:us-east-1:123456789012:function:relay-other").is_none());
    }

    #[test]
    fn a_record_of_an_unknown_schema_is_not_read() {
        let v9 = r#"{"schema":"flagger-relay.dead-letter/v9","destination":"slack","failure_class":"transient","reason":"","attempts":1,"first_attempt":"","last_attempt":"","payload":"e30="}"#;
        assert!(read_record(v9).is_none());
    }
}
