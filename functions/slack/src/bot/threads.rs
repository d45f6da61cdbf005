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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use tokio::time::Instant;

use flagger_relay_core::classify::Iteration;
pub use flagger_relay_core::table::TableError;
use flagger_relay_core::table::{self, AttributeValue, Expression, Item, Table, Update, n, s};
use flagger_relay_core::{Severity, Stage};

use super::rollout::RolloutState;
use super::web_api::Posted;

/// The partition key.
pub const KEY: &str = "rollout";

/// A table that does not answer promptly is treated as unreachable: the event is posted
/// without a thread rather than late.
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

pub struct ThreadStore {
    table: Table,
}

impl ThreadStore {
    /// A store whose client takes its configuration from the environment when first used,
    /// so that a cold start makes no AWS call.
    pub fn new(table: String) -> Self {
        ThreadStore {
            table: Table::new(table, OPERATION_TIMEOUT),
        }
    }

    /// A store reached with the given SDK configuration (a local endpoint in tests).
    pub fn with_config(table: String, config: SdkConfig) -> Self {
        ThreadStore {
            table: Table::with_config(table, OPERATION_TIMEOUT, config),
        }
    }

    pub fn table(&self) -> &str {
        self.table.name()
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
        let created = table::number(&item, "created_ms");
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
        let item = claimed_item(key, state, claim, lease_until, expires_at);
        let absent = Expression::new(|p| {
            format!(
                "attribute_not_exists({}) OR {} < {}",
                p.name(KEY),
                p.name("expires_at"),
                p.value(n(now_secs()))
            )
        });
        self.table.put(item, absent, until).await
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
        let item = claimed_item(key, state, claim, lease_until, expires_at);
        let seen = Expression::new(|p| match stale {
            Stale::Thread(ts) => p.equals("ts", s(ts)),
            Stale::Rollout(opened_at) => p.equals("opened_at", n(opened_at)),
        });
        self.table.put(item, seen, until).await
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
            let number = |name: &str| table::number(&item, name);
            Some(Pointer {
                current: table::text(&item, "current")?.to_owned(),
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
    async fn read(&self, key: &str, until: Instant) -> Result<Option<Item>, TableError> {
        let item = self.table.get(KEY, key, until).await?;
        Ok(item.filter(|item| !expired(item, now_secs())))
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
        self.table
            .update(operation, KEY, key, update, condition, until)
            .await
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
fn expired(item: &Item, now_secs: i64) -> bool {
    table::number(item, "expires_at").is_some_and(|expires_at| expires_at < now_secs)
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

/// A new rollout item whose parent `claim` is about to post.
fn claimed_item(
    key: &str,
    state: &RolloutState,
    claim: &str,
    lease_until: i64,
    expires_at: i64,
) -> Item {
    let mut item: Item = state_attributes(state)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    item.insert(KEY.to_owned(), s(key));
    item.insert("claim".to_owned(), s(claim));
    item.insert("lease_until".to_owned(), n(lease_until));
    item.insert("expires_at".to_owned(), n(expires_at));
    item.insert("created_ms".to_owned(), n(now_ms()));
    item
}

fn entry(item: &Item) -> Option<Entry> {
    let text = |name: &str| table::text(item, name).map(str::to_owned);
    let number = |name: &str| table::number(item, name);
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
        let mut item: Item = state_attributes(&state())
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
        let item = |expires_at: i64| Item::from([("expires_at".to_owned(), n(expires_at))]);
        assert!(expired(&item(99), 100));
        assert!(!expired(&item(100), 100));
        assert!(!expired(&Item::new(), 100), "no TTL, no expiry");
    }
}
