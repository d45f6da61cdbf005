//! Where each rollout's thread lives between invocations: one DynamoDB table (`THREADS_TABLE`),
//! partition key `rollout` (S), nothing else. Lambda keeps no memory between cold starts, and
//! concurrent invocations share none, so every decision that must be unique (who posts the
//! parent) is a conditional write here.
//!
//! A rollout item: `rollout` (the rollout key), `ts` and `channel` (the parent message; absent
//! while it is being posted), `claim` and `lease_until` (only while an invocation is posting
//! the parent), the summary state (`opened_at`, `updated_at`, `events`, `stage`, `severity`,
//! `headline`, `latest`, `canary_weight`, `primary_weight`, `iteration`) and `expires_at`
//! (epoch seconds, the table's TTL attribute).
//!
//! A pointer item per canary: `rollout` = `namespace/name`, `current` = the key of the canary's
//! current rollout, `opened_at` (when it became current), `expires_at`. For Flagger versions
//! that send no checksum it is how events find their rollout; with checksums it tells a revert
//! (back to a revision seen before) from a late event of that revision.
//!
//! An item past its `expires_at` is treated as absent: DynamoDB deletes expired items only
//! eventually, sometimes days later, and a thread two weeks old is not continued.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use flagger_relay_core::aws::sdk_reason;
use flagger_relay_core::classify::Iteration;
use flagger_relay_core::{Severity, Stage};

use super::rollout::RolloutState;
use super::web_api::Posted;

/// The partition key.
pub const KEY: &str = "rollout";

/// A table that does not answer promptly is treated as unreachable: the event is posted
/// without a thread rather than late.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);

/// A rollout as the table has it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The parent is posted: replies go in its thread.
    Open { parent: Posted, state: RolloutState },
    /// No parent yet: an invocation holds the claim to post it until `lease_until` (epoch ms),
    /// or none does (`claim` is `None`: the last one failed to post and let go).
    Claimed {
        claim: Option<String>,
        lease_until: i64,
        state: RolloutState,
    },
}

impl Entry {
    /// The summary state the item holds.
    pub fn state(&self) -> &RolloutState {
        match self {
            Entry::Open { state, .. } | Entry::Claimed { state, .. } => state,
        }
    }
}

/// The table could not be used. The event is then posted without a thread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DynamoDB {operation} failed: {reason}")]
pub struct TableError {
    pub operation: &'static str,
    pub reason: String,
}

pub struct ThreadStore {
    table: String,
    config: Option<SdkConfig>,
    client: OnceCell<Client>,
}

impl ThreadStore {
    /// A store whose client takes its configuration from the environment when first used,
    /// so that a cold start makes no AWS call.
    pub fn new(table: String) -> Self {
        ThreadStore {
            table,
            config: None,
            client: OnceCell::new(),
        }
    }

    /// A store reached with the given SDK configuration (a local endpoint in tests).
    pub fn with_config(table: String, config: SdkConfig) -> Self {
        ThreadStore {
            table,
            config: Some(config),
            client: OnceCell::new(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let sdk = match &self.config {
                    Some(config) => config.clone(),
                    None => aws_config::load_defaults(BehaviorVersion::latest()).await,
                };
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build();
                let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .timeout_config(timeouts)
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(2)
                            .with_initial_backoff(Duration::from_millis(50)),
                    )
                    .build();
                Client::from_conf(config)
            })
            .await
    }

    /// The rollout `key`, read consistently: a parent posted a moment ago must be seen.
    pub async fn get(&self, key: &str, until: Instant) -> Result<Option<Entry>, TableError> {
        Ok(self.get_dated(key, until).await?.map(|(entry, _)| entry))
    }

    /// [`ThreadStore::get`], with when the item was created (epoch ms by the bot's clock;
    /// `None` for items written before that was kept).
    pub async fn get_dated(
        &self,
        key: &str,
        until: Instant,
    ) -> Result<Option<(Entry, Option<i64>)>, TableError> {
        let Some(item) = self.read(key, until).await? else {
            return Ok(None);
        };
        let created = item
            .get("created_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok());
        entry(&item)
            .map(|entry| Some((entry, created)))
            .ok_or_else(|| TableError {
                operation: "GetItem",
                reason: format!("item {key:?} is not a rollout"),
            })
    }

    /// Claims the right to post the parent of a rollout nobody has seen yet. `false`: someone
    /// else got there first.
    pub async fn claim(
        &self,
        key: &str,
        state: &RolloutState,
        claim: &str,
        lease_until: i64,
        expires_at: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut item: HashMap<String, AttributeValue> = state_attributes(state)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        item.insert(KEY.to_owned(), s(key));
        item.insert("claim".to_owned(), s(claim));
        item.insert("lease_until".to_owned(), n(lease_until));
        item.insert("expires_at".to_owned(), n(expires_at));
        item.insert("created_ms".to_owned(), n(now_ms()));
        let call = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key) OR #expires_at < :now")
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#expires_at", "expires_at")
            .expression_attribute_values(":now", n(now_secs()))
            .send();
        match bounded("PutItem", until, call).await? {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(failed("PutItem", &err)),
        }
    }

    /// Takes over the claim of a rollout whose parent was never posted: the claim `seen` was
    /// let go (`None`) or its lease ran out. `false`: someone else took it, or posted.
    pub async fn take_over(
        &self,
        key: &str,
        seen: Option<&str>,
        state: &RolloutState,
        claim: &str,
        lease_until: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        for (name, value) in state_attributes(state) {
            update.set(name, value);
        }
        update.set("claim", s(claim));
        update.set("lease_until", n(lease_until));
        let condition = match seen {
            Some(seen) => format!(
                "attribute_exists({}) AND attribute_not_exists({}) AND {} = {}",
                update.name(KEY),
                update.name("ts"),
                update.name("claim"),
                update.value(s(seen))
            ),
            None => format!(
                "attribute_exists({}) AND attribute_not_exists({}) AND attribute_not_exists({})",
                update.name(KEY),
                update.name("ts"),
                update.name("claim")
            ),
        };
        self.update("take over", key, update, condition, until)
            .await
    }

    /// Records the posted parent and lets go of the claim. `false`: the claim was no longer
    /// ours (its lease ran out and another invocation took it).
    ///
    /// Tried again until `until` while the table fails: a parent whose `ts` is not recorded
    /// keeps the rollout's claim until its lease ends, and the event after that posts a second
    /// parent.
    pub async fn opened(
        &self,
        key: &str,
        claim: &str,
        parent: &Posted,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut pause = RECORD_RETRY_PAUSE;
        let mut retried = false;
        loop {
            let mut update = Update::default();
            update.set("ts", s(&parent.ts));
            update.set("channel", s(&parent.channel));
            update.remove("claim");
            update.remove("lease_until");
            let condition = format!("{} = {}", update.name("claim"), update.value(s(claim)));
            match self
                .update("record the parent", key, update, condition, until)
                .await
            {
                // A retry may find its own earlier write done: the answer was what got lost.
                Ok(false) if retried => {
                    let recorded = matches!(
                        self.get(key, until).await,
                        Ok(Some(Entry::Open { parent: ref p, .. })) if p.ts == parent.ts
                    );
                    return Ok(recorded);
                }
                Err(err) if Instant::now() + pause < until => {
                    tracing::warn!(rollout = %key, error = %err, "recording the rollout's parent failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    retried = true;
                }
                other => return other,
            }
        }
    }

    /// Replaces the rollout's item by a claim on a new parent: its thread can no longer be used
    /// (`Stale::Thread`, the parent `ts` seen), or it belongs to an earlier rollout of the same
    /// revision (`Stale::Rollout`, the `opened_at` seen: a revert). `false`: another event
    /// replaced it first.
    #[allow(clippy::too_many_arguments)]
    pub async fn replace(
        &self,
        key: &str,
        stale: Stale<'_>,
        state: &RolloutState,
        claim: &str,
        lease_until: i64,
        expires_at: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut item: HashMap<String, AttributeValue> = state_attributes(state)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        item.insert(KEY.to_owned(), s(key));
        item.insert("claim".to_owned(), s(claim));
        item.insert("lease_until".to_owned(), n(lease_until));
        item.insert("expires_at".to_owned(), n(expires_at));
        item.insert("created_ms".to_owned(), n(now_ms()));
        let (condition, seen) = match stale {
            Stale::Thread(ts) => ("#seen = :seen", ("ts", s(ts))),
            Stale::Rollout(opened_at) => ("#seen = :seen", ("opened_at", n(opened_at))),
        };
        let call = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#seen", seen.0)
            .expression_attribute_values(":seen", seen.1)
            .send();
        match bounded("PutItem", until, call).await? {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(failed("PutItem", &err)),
        }
    }

    /// Lets go of a claim after the parent could not be posted, so the next event of the
    /// rollout posts it instead of waiting for the lease to run out.
    pub async fn release(
        &self,
        key: &str,
        claim: &str,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        update.remove("claim");
        update.remove("lease_until");
        let condition = format!(
            "attribute_not_exists({}) AND {} = {}",
            update.name("ts"),
            update.name("claim"),
            update.value(s(claim))
        );
        self.update("release the claim", key, update, condition, until)
            .await
    }

    /// Replaces the summary state `previous` with `next`. `false`: another event changed it in
    /// the meantime; read again and fold once more.
    pub async fn record(
        &self,
        key: &str,
        previous: &RolloutState,
        next: &RolloutState,
        expires_at: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        for (name, value) in state_attributes(next) {
            update.set(name, value);
        }
        update.set("expires_at", n(expires_at));
        let condition = format!(
            "attribute_exists({}) AND {} = {} AND {} = {}",
            update.name("ts"),
            update.name("updated_at"),
            update.value(n(previous.updated_at)),
            update.name("events"),
            update.value(n(i64::from(previous.events))),
        );
        self.update("record the stage", key, update, condition, until)
            .await
    }

    /// The key of a checksum-less canary's current rollout, from its pointer item.
    pub async fn current(
        &self,
        canary: &str,
        until: Instant,
    ) -> Result<Option<String>, TableError> {
        Ok(self.pointer(canary, until).await?.map(|p| p.current))
    }

    /// The canary's pointer item.
    pub async fn pointer(
        &self,
        canary: &str,
        until: Instant,
    ) -> Result<Option<Pointer>, TableError> {
        let item = self.read(canary, until).await?;
        Ok(item.and_then(|item| {
            let number = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
            };
            Some(Pointer {
                current: item.get("current").and_then(|v| v.as_s().ok()).cloned()?,
                since: number("opened_at").unwrap_or(0),
                switched_ms: number("switched_ms"),
                previous_switched_ms: number("previous_switched_ms"),
            })
        }))
    }

    /// Moves a canary's pointer to the revision `rollout`, current from `at` (epoch ms), if it
    /// still is as `seen` (absent, or pointing elsewhere since `seen.since`). `false`: another
    /// event moved it first; read it again.
    pub async fn switch(
        &self,
        canary: &str,
        rollout: &str,
        at: i64,
        seen: Option<&Pointer>,
        expires_at: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        update.set("current", s(rollout));
        update.set("opened_at", n(at));
        update.set("expires_at", n(expires_at));
        update.set("switched_ms", n(now_ms()));
        let condition = match seen {
            Some(seen) => {
                if let Some(switched) = seen.switched_ms {
                    update.set("previous_switched_ms", n(switched));
                }
                format!(
                    "{} = {} AND {} = {}",
                    update.name("current"),
                    update.value(s(&seen.current)),
                    update.name("opened_at"),
                    update.value(n(seen.since))
                )
            }
            None => format!(
                "attribute_not_exists({}) OR {} < {}",
                update.name(KEY),
                update.name("expires_at"),
                update.value(n(now_secs()))
            ),
        };
        self.update(
            "switch the canary's revision",
            canary,
            update,
            condition,
            until,
        )
        .await
    }

    /// One item, read consistently: a write a moment ago by another invocation must be seen.
    async fn read(
        &self,
        key: &str,
        until: Instant,
    ) -> Result<Option<HashMap<String, AttributeValue>>, TableError> {
        let call = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .consistent_read(true)
            .send();
        let output = bounded("GetItem", until, call)
            .await?
            .map_err(|err| failed("GetItem", &err))?;
        Ok(output.item.filter(|item| !expired(item, now_secs())))
    }

    /// Points a checksum-less canary at the rollout `rollout` opened at `opened_at`. With
    /// `newer`, it replaces a pointer to an older rollout (a new revision was detected);
    /// without, it only creates a missing pointer. `false`: the pointer stays as it was.
    pub async fn point(
        &self,
        canary: &str,
        rollout: &str,
        opened_at: i64,
        expires_at: i64,
        newer: bool,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        update.set("current", s(rollout));
        update.set("opened_at", n(opened_at));
        update.set("expires_at", n(expires_at));
        let condition = if newer {
            format!(
                "attribute_not_exists({}) OR {} < {}",
                update.name("opened_at"),
                update.name("opened_at"),
                update.value(n(opened_at))
            )
        } else {
            format!(
                "attribute_not_exists({}) OR {} < {}",
                update.name(KEY),
                update.name("expires_at"),
                update.value(n(now_secs()))
            )
        };
        self.update(
            "point the canary at its rollout",
            canary,
            update,
            condition,
            until,
        )
        .await
    }

    async fn update(
        &self,
        operation: &'static str,
        key: &str,
        update: Update,
        condition: String,
        until: Instant,
    ) -> Result<bool, TableError> {
        let call = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression(update.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values((!update.values.is_empty()).then_some(update.values))
            .send();
        match bounded(operation, until, call).await? {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(failed(operation, &err)),
        }
    }
}

/// An UpdateItem expression with every name and value behind a placeholder: DynamoDB reserves
/// hundreds of words, and attribute names are safest never spelled in an expression.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    fn name(&mut self, name: &str) -> String {
        let placeholder = format!(
            "#{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn set(&mut self, name: &str, value: AttributeValue) {
        let clause = format!("{} = {}", self.name(name), self.value(value));
        self.set.push(clause);
    }

    fn remove(&mut self, name: &str) {
        let name = self.name(name);
        self.remove.push(name);
    }

    fn expression(&self) -> String {
        let mut parts = Vec::with_capacity(2);
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }
}

/// A canary's pointer item: its current rollout; since when, by the events' own time (epoch
/// ms); when the bot switched to it and when to the rollout before it (epoch ms, the bot's
/// clock). An item of the current revision created before that previous switch belongs to an
/// earlier rollout of the same revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub current: String,
    pub since: i64,
    pub switched_ms: Option<i64>,
    pub previous_switched_ms: Option<i64>,
}

/// What an item to replace is recognised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale<'a> {
    /// The thread of this parent `ts` can no longer be used.
    Thread(&'a str),
    /// The rollout opened at this time (epoch ms) is not the revision's current one.
    Rollout(i64),
}

/// Time between tries at recording a parent.
const RECORD_RETRY_PAUSE: Duration = Duration::from_millis(100);

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn now_secs() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// Past its TTL: DynamoDB has not deleted it yet, but it no longer exists for the bot.
fn expired(item: &HashMap<String, AttributeValue>, now_secs: i64) -> bool {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|expires_at| expires_at < now_secs)
}

async fn bounded<F: std::future::Future>(
    operation: &'static str,
    until: Instant,
    call: F,
) -> Result<F::Output, TableError> {
    tokio::time::timeout_at(until, call)
        .await
        .map_err(|_| TableError {
            operation,
            reason: "no answer in time".to_owned(),
        })
}

fn failed<E, R>(
    operation: &'static str,
    err: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> TableError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    TableError {
        operation,
        reason: sdk_reason(err),
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn optional_n(value: Option<u32>) -> AttributeValue {
    value.map_or(AttributeValue::Null(true), |value| n(i64::from(value)))
}

fn state_attributes(state: &RolloutState) -> Vec<(&'static str, AttributeValue)> {
    vec![
        ("opened_at", n(state.opened_at)),
        ("updated_at", n(state.updated_at)),
        ("events", n(i64::from(state.events))),
        ("stage", s(state.stage.as_str())),
        ("severity", s(state.severity.as_str())),
        ("headline", s(&state.headline)),
        ("latest", s(&state.latest)),
        ("canary_weight", optional_n(state.canary_weight)),
        ("primary_weight", optional_n(state.primary_weight)),
        (
            "iteration",
            state.iteration.map_or(AttributeValue::Null(true), |i| {
                s(&format!("{}/{}", i.current, i.total))
            }),
        ),
        (
            "cause",
            state.cause.as_deref().map_or(AttributeValue::Null(true), s),
        ),
    ]
}

fn entry(item: &HashMap<String, AttributeValue>) -> Option<Entry> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let small = |name: &str| number(name).and_then(|v| u32::try_from(v).ok());
    let iteration = text("iteration").and_then(|raw| {
        let (current, total) = raw.split_once('/')?;
        Some(Iteration {
            current: current.parse().ok()?,
            total: total.parse().ok()?,
        })
    });
    let state = RolloutState {
        opened_at: number("opened_at")?,
        updated_at: number("updated_at")?,
        events: small("events")?,
        stage: Stage::parse(&text("stage")?)?,
        severity: Severity::parse(&text("severity")?)?,
        headline: text("headline")?,
        latest: text("latest")?,
        canary_weight: small("canary_weight"),
        primary_weight: small("primary_weight"),
        iteration,
        // Items written before the cause was kept have none.
        cause: text("cause"),
    };
    match (text("ts"), text("channel")) {
        (Some(ts), Some(channel)) => Some(Entry::Open {
            parent: Posted { channel, ts },
            state,
        }),
        _ => Some(Entry::Claimed {
            claim: text("claim"),
            lease_until: number("lease_until").unwrap_or(0),
            state,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> RolloutState {
        RolloutState {
            opened_at: 1,
            updated_at: 2,
            events: 3,
            stage: Stage::Progress,
            severity: Severity::Info,
            headline: "canary weight 30%".into(),
            latest: "canary weight 30%".into(),
            canary_weight: Some(30),
            primary_weight: None,
            iteration: Some(Iteration {
                current: 2,
                total: 10,
            }),
            cause: Some("halted: success rate 69.17% < 99%".into()),
        }
    }

    #[test]
    fn reads_back_what_it_writes() {
        let mut item: HashMap<String, AttributeValue> = state_attributes(&state())
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        item.insert("claim".into(), s("c1"));
        item.insert("lease_until".into(), n(99));
        assert_eq!(
            entry(&item),
            Some(Entry::Claimed {
                claim: Some("c1".into()),
                lease_until: 99,
                state: state()
            })
        );
        item.insert("ts".into(), s("1764000000.000100"));
        item.insert("channel".into(), s("C0RELAY"));
        let parent = Posted {
            channel: "C0RELAY".into(),
            ts: "1764000000.000100".into(),
        };
        assert_eq!(
            entry(&item),
            Some(Entry::Open {
                parent,
                state: state()
            })
        );
    }

    #[test]
    fn an_item_past_its_ttl_is_expired() {
        let item = |expires_at: i64| HashMap::from([("expires_at".to_owned(), n(expires_at))]);
        assert!(expired(&item(99), 100));
        assert!(!expired(&item(100), 100));
        assert!(!expired(&HashMap::new(), 100), "no TTL, no expiry");
    }

    #[test]
    fn puts_every_name_and_value_behind_a_placeholder() {
        let mut update = Update::default();
        update.set("ts", s("1.2"));
        update.remove("lease_until");
        assert_eq!(update.expression(), "SET #ts = :v0 REMOVE #lease_until");
        assert_eq!(
            update.names.get("#lease_until").map(String::as_str),
            Some("lease_until")
        );
    }
}
