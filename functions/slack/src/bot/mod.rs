//! Bot mode: Slack's Web API with a bot token, one thread per rollout.
//!
//! A rollout's first event posts a parent message, a summary of the rollout; every later event
//! is a reply in its thread, and the parent is edited in place to the latest stage. The
//! outcome (succeeded, failed) is also broadcast to the channel. Which message is a rollout's
//! parent is kept in DynamoDB ([`threads`]), since Lambda remembers nothing between
//! invocations.
//!
//! One event, as a state machine over the rollout's item:
//!
//! ```text
//!   no item ──PutItem if absent──▶ claimed by us ──post parent──▶ UpdateItem ts ──▶ open
//!      │            │ lost                 │ post failed: release the claim (event fails)
//!      │            ▼                      ▼
//!      │      claimed by another ──poll ≤ 2 s──▶ open ──▶ reply in thread, record, chat.update
//!      │            │ claim released / lease over: take it over (conditional UpdateItem)
//!      │            │ still no parent after 2 s: plain message
//!   table unreachable ───────────────────────────────▶ plain message, warning logged
//! ```
//!
//! Each Web API call is retried on its own within the invocation's deadline, so a retry never
//! repeats a call that already went through. The event counts as delivered once its own
//! message (parent, reply or plain) is posted; recording the stage and updating the parent
//! afterwards are best effort, logged when they fail, and put right by the next event.

pub mod rollout;
pub mod summary;
pub mod threads;
pub mod web_api;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use tokio::time::Instant;

use flagger_relay_core::config::{ConfigError, Env, SecretUrl, flag, tls_roots};
use flagger_relay_core::deliver::{
    Delivered, DeliveryFailure, RetryPolicy, http_client, with_retries,
};
use flagger_relay_core::present::Mention;
use flagger_relay_core::redact::Redactor;
use flagger_relay_core::relay::RenderError;
use flagger_relay_core::{Classification, Destination, Notification, Presentation, Severity};

use crate::{Shaping, SlackPayload, render, shaping};
use rollout::{RolloutRef, RolloutState, Step, event_time, rollout_ref, unversioned_key};
use threads::{Entry, Stale, TableError, ThreadStore};
use web_api::{BotToken, Method, Posted, WebApi};

/// Slack's Web API; `SLACK_API_URL` points elsewhere (a local stand-in in tests).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// The table's TTL: a thread is continued for two weeks after its rollout's last event.
const THREAD_LIFETIME_SECS: i64 = 14 * 24 * 3600;
/// How long an event waits for another invocation to post its rollout's parent before it is
/// posted on its own instead.
const PARENT_WAIT: Duration = Duration::from_secs(2);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Time the table may take before the event is posted; the rest of the deadline is Slack's.
const TABLE_BUDGET: Duration = Duration::from_secs(4);
const SLACK_RESERVE: Duration = Duration::from_secs(1);
/// Time the bookkeeping after a post (record the parent, the stage) may take.
const BOOKKEEPING_BUDGET: Duration = Duration::from_secs(3);
/// Kept back from a parent's post for recording where it is: a parent that is posted but not
/// recorded leaves its rollout claimed, and the next event after the lease posts a second one.
const RECORD_RESERVE: Duration = Duration::from_millis(1500);
/// A claim outlives its invocation's deadline by this much, so that no one takes it over
/// while the parent may still be on its way.
const LEASE_GRACE: Duration = Duration::from_secs(5);
/// Conditional writes lost to concurrent events before giving up on one step.
const MAX_ROUNDS: usize = 20;

/// Posts to one channel with a bot token, threading rollouts when `THREADS_TABLE` is set.
pub struct SlackBot {
    api: WebApi,
    token: BotToken,
    channel: String,
    threads: Option<ThreadStore>,
    redactor: Redactor,
    shaping: Shaping,
}

/// One event's own message, as it goes in a thread or on its own: the presentation, and what
/// `SLACK_TEMPLATE` made of it when there is a template.
struct EventMessage<'a, 'n> {
    message: &'a Presentation<'n>,
    templated: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl fmt::Debug for SlackBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackBot")
            .field("channel", &self.channel)
            .field(
                "threads_table",
                &self.threads.as_ref().map(ThreadStore::table),
            )
            .finish_non_exhaustive()
    }
}

/// What to do with one event, decided from the table.
enum Plan {
    /// This invocation holds the claim: post the parent.
    Parent(Opening),
    /// The parent exists: reply in its thread, then bring the parent up to date.
    Reply {
        key: String,
        parent: Posted,
        state: RolloutState,
    },
    /// No thread to post in.
    Plain { key: String, reason: String },
}

impl SlackBot {
    /// Bot mode's settings: `SLACK_BOT_TOKEN` (or `SLACK_BOT_TOKEN_SECRET_ARN`, resolved before
    /// this is called), `SLACK_CHANNEL_ID`, optional `SLACK_API_URL` and `THREADS_TABLE`.
    /// `None` when no bot token is set: the function then uses the incoming webhook.
    pub fn from_env(env: &impl Env) -> Result<Option<SlackBot>, ConfigError> {
        let Some(raw) = env.var("SLACK_BOT_TOKEN") else {
            return Ok(None);
        };
        let token = BotToken::parse("SLACK_BOT_TOKEN", &raw)?;
        // chat.update needs the channel's ID; a name would do for posting only.
        let channel = match env.var("SLACK_CHANNEL_ID") {
            Some(id) => id.trim().to_owned(),
            None if flag(env, "DRY_RUN")? => String::new(),
            None => return Err(ConfigError::Missing("SLACK_CHANNEL_ID")),
        };
        let base = match env.var("SLACK_API_URL") {
            Some(raw) => SecretUrl::parse("SLACK_API_URL", &raw)?.expose().to_owned(),
            None => DEFAULT_API_URL.to_owned(),
        };
        let client = http_client(Duration::from_secs(2), tls_roots(env)?)
            .map_err(|err| ConfigError::HttpClient(err.to_string()))?;
        let api = WebApi::new(client, &base, &token)?;
        let threads = env
            .var("THREADS_TABLE")
            .map(|table| ThreadStore::new(table.trim().to_owned()));
        let redactor = Redactor::new([token.expose().to_owned()]);
        Ok(Some(SlackBot {
            api,
            token,
            channel,
            threads,
            redactor,
            shaping: Shaping::from_env(env, &shaping::SETTINGS)?,
        }))
    }

    /// Reaches the thread table with this SDK configuration instead of the environment's.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.threads = self
            .threads
            .map(|store| ThreadStore::with_config(store.table().to_owned(), config));
        self
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The thread table, when threading is on.
    pub fn threads_table(&self) -> Option<&str> {
        self.threads.as_ref().map(ThreadStore::table)
    }

    /// Delivers one notification within `deadline`: as its rollout's parent, as a reply in
    /// the rollout's thread, or as a plain message when there is no thread to post in.
    async fn deliver_notification(
        &self,
        retry: &RetryPolicy,
        message: &Presentation<'_>,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let (notification, classification) = (message.event, message.classification);
        // A template that fails for this event fails it before anything is claimed or posted.
        let templated = match &self.shaping.template {
            Some(template) => Some(render::templated(template, message)?),
            None => None,
        };
        let event = EventMessage {
            message,
            templated: templated.as_ref(),
        };
        let arrived = now_ms();
        let step = Step::new(
            notification,
            classification,
            event_time(notification).unwrap_or(arrived),
        );
        let expires_at = arrived / 1000 + THREAD_LIFETIME_SECS;
        // The relay redacts the failure returned; only this module's own log lines are
        // redacted here.
        match &self.threads {
            None => self.post_plain(retry, &event, deadline).await,
            Some(threads) => match self
                .plan(
                    threads,
                    notification,
                    classification,
                    &step,
                    expires_at,
                    deadline,
                )
                .await
            {
                Ok(Plan::Parent(opening)) => {
                    self.open(retry, threads, &opening, message, deadline).await
                }
                Ok(Plan::Reply { key, parent, state }) => {
                    let reply = Reply {
                        key: &key,
                        parent: &parent,
                        state,
                        step: &step,
                        expires_at,
                    };
                    self.reply(retry, threads, reply, &event, deadline).await
                }
                Ok(Plan::Plain { key, reason }) => {
                    tracing::warn!(rollout = %key, reason = %reason, "posting the event as a plain message, outside its rollout's thread");
                    self.post_plain(retry, &event, deadline).await
                }
                Err(err) => {
                    let canary = notification.canary_ref().unwrap_or_default();
                    tracing::warn!(
                        canary = %canary, table = threads.table(), error = %err,
                        "thread table unavailable; posting the event as a plain message"
                    );
                    self.post_plain(retry, &event, deadline).await
                }
            },
        }
    }

    /// Finds the rollout's item and decides what to post; claims the parent when nobody has.
    async fn plan(
        &self,
        threads: &ThreadStore,
        notification: &Notification,
        classification: &Classification,
        step: &Step,
        expires_at: i64,
        deadline: Instant,
    ) -> Result<Plan, TableError> {
        let started = Instant::now();
        let until =
            (started + TABLE_BUDGET).min(deadline.checked_sub(SLACK_RESERVE).unwrap_or(started));
        let mut stale_before = None;
        let key = match rollout_ref(notification, classification) {
            RolloutRef::Keyed(key) => {
                if let Notification::Canary(event) = notification
                    && event.checksum.is_some()
                {
                    stale_before = self
                        .follow_revision(
                            threads,
                            &event.canary_ref(),
                            &key,
                            step,
                            expires_at,
                            until,
                        )
                        .await?;
                }
                key
            }
            RolloutRef::Unversioned {
                canary,
                opens: true,
            } => {
                let key = unversioned_key(&canary, step.at);
                // A pointer that names a newer rollout stays: this event is a late one.
                threads
                    .point(&canary, &key, step.at, expires_at, true, until)
                    .await?;
                key
            }
            RolloutRef::Unversioned {
                canary,
                opens: false,
            } => match threads.current(&canary, until).await? {
                Some(key) => key,
                None => {
                    // No "New revision detected" seen for this canary: its rollout starts here.
                    let key = unversioned_key(&canary, step.at);
                    if threads
                        .point(&canary, &key, step.at, expires_at, false, until)
                        .await?
                    {
                        key
                    } else {
                        threads.current(&canary, until).await?.unwrap_or(key)
                    }
                }
            },
        };
        let claim = claim_token();
        let mut waiting_since = None;
        let mut entry = threads.get_dated(&key, until).await?;
        for _ in 0..MAX_ROUNDS {
            // An item of this revision opened before the canary last left it is an earlier
            // rollout (a revert): a new one starts, with its own thread.
            let earlier = entry.as_ref().and_then(|(entry, created)| {
                let opened_at = entry.state().opened_at;
                created
                    .zip(stale_before)
                    .is_some_and(|(created, before)| created < before)
                    .then_some(opened_at)
            });
            let entry_now = entry.take().map(|(entry, _)| entry);
            if let Some(opened_at) = earlier {
                let state = RolloutState::open(step);
                let lease = lease_until(deadline);
                if threads
                    .replace(
                        &key,
                        Stale::Rollout(opened_at),
                        &state,
                        &claim,
                        lease,
                        expires_at,
                        until,
                    )
                    .await?
                {
                    return Ok(Plan::Parent(Opening { key, claim, state }));
                }
                entry = threads.get_dated(&key, until).await?;
                continue;
            }
            match entry_now {
                Some(Entry::Open { parent, state }) => {
                    return Ok(Plan::Reply { key, parent, state });
                }
                None => {
                    let state = RolloutState::open(step);
                    if threads
                        .claim(
                            &key,
                            &state,
                            &claim,
                            lease_until(deadline),
                            expires_at,
                            until,
                        )
                        .await?
                    {
                        return Ok(Plan::Parent(Opening { key, claim, state }));
                    }
                }
                Some(Entry::Claimed {
                    claim: held,
                    lease_until: lease,
                    state,
                }) => {
                    if held.is_none() || lease < now_ms() {
                        let state = state.advance(step);
                        let lease = lease_until(deadline);
                        if threads
                            .take_over(&key, held.as_deref(), &state, &claim, lease, until)
                            .await?
                        {
                            return Ok(Plan::Parent(Opening { key, claim, state }));
                        }
                    } else {
                        let since = *waiting_since.get_or_insert_with(Instant::now);
                        if Instant::now() + POLL_INTERVAL > (since + PARENT_WAIT).min(until) {
                            let reason = format!(
                                "another invocation was still posting the rollout's parent after {} s",
                                PARENT_WAIT.as_secs()
                            );
                            return Ok(Plan::Plain { key, reason });
                        }
                        tokio::time::sleep(POLL_INTERVAL).await;
                    }
                }
            }
            entry = threads.get_dated(&key, until).await?;
        }
        Ok(Plan::Plain {
            key,
            reason: "the rollout's item kept changing under concurrent events".to_owned(),
        })
    }

    /// Keeps the canary's pointer on the revision it runs now. Answers the moment before which
    /// an item of `key` belongs to an earlier rollout of the same revision: the canary ran
    /// another revision in between and came back (a revert), which starts a new thread.
    async fn follow_revision(
        &self,
        threads: &ThreadStore,
        canary: &str,
        key: &str,
        step: &Step,
        expires_at: i64,
        until: Instant,
    ) -> Result<Option<i64>, TableError> {
        for _ in 0..MAX_ROUNDS {
            let pointer = threads.pointer(canary, until).await?;
            match &pointer {
                Some(pointer) if pointer.current == key => {
                    return Ok(pointer.previous_switched_ms);
                }
                // A late event of a revision the canary has left: it changes nothing.
                Some(pointer) if step.at < pointer.since => return Ok(None),
                _ => {}
            }
            if threads
                .switch(canary, key, step.at, pointer.as_ref(), expires_at, until)
                .await?
            {
                return Ok(pointer.and_then(|pointer| pointer.switched_ms));
            }
        }
        Ok(None)
    }

    /// Posts the parent of a rollout this invocation claimed, and records where it is.
    async fn open(
        &self,
        retry: &RetryPolicy,
        threads: &ThreadStore,
        opening: &Opening,
        message: &Presentation<'_>,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let Opening { key, claim, state } = opening;
        let body = summary::parent(message.event, state, &self.channel, None, &message.links);
        let post_deadline = deadline
            .checked_sub(RECORD_RESERVE)
            .filter(|reserved| *reserved > Instant::now())
            .unwrap_or(deadline);
        let posted = self
            .call(
                retry,
                Method::PostMessage,
                &body,
                &self.channel,
                post_deadline,
            )
            .await;
        let until = bookkeeping_deadline(deadline);
        match posted {
            Ok((parent, delivered)) => {
                match threads.opened(key, claim, &parent, until).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        rollout = %key, "the claim on the rollout ran out while its parent was posted; it may have two parents"
                    ),
                    Err(err) => tracing::warn!(
                        rollout = %key, table = threads.table(), error = %err,
                        "the parent was posted but could not be recorded; the rollout's next events are posted as plain messages"
                    ),
                }
                Ok(delivered)
            }
            Err(failure) => {
                // The next event of the rollout posts the parent instead of waiting on us.
                if let Err(err) = threads.release(key, claim, until).await {
                    tracing::warn!(rollout = %key, table = threads.table(), error = %err, "could not release the claim on the rollout");
                }
                Err(failure)
            }
        }
    }

    /// Replies in the rollout's thread, then records the new stage and edits the parent.
    async fn reply(
        &self,
        retry: &RetryPolicy,
        threads: &ThreadStore,
        reply: Reply<'_>,
        event: &EventMessage<'_, '_>,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let Reply {
            key,
            parent,
            state,
            step,
            expires_at,
        } = reply;
        let body = self.event_body(event, &parent.channel, Some(&parent.ts));
        let delivered = match self
            .call(retry, Method::PostMessage, &body, &parent.channel, deadline)
            .await
        {
            Ok((_, delivered)) => delivered,
            Err(failure) if thread_unusable(&failure) => {
                let code = web_api::slack_error(&failure.reason).unwrap_or_default();
                tracing::warn!(rollout = %key, slack_error = code, "the rollout's thread can no longer be used; starting a new one");
                let restart = Restart {
                    key,
                    parent,
                    state: state.advance(step),
                    expires_at,
                };
                return self.restart(retry, threads, restart, event, deadline).await;
            }
            Err(failure) => return Err(failure),
        };
        // Delivered. What follows keeps the parent current; a failure only leaves it a step
        // behind until the next event.
        let until = bookkeeping_deadline(deadline);
        let mut previous = state;
        let mut recorded = None;
        for _ in 0..MAX_ROUNDS {
            let next = previous.advance(step);
            match threads
                .record(key, &previous, &next, expires_at, until)
                .await
            {
                Ok(true) => {
                    recorded = Some(next);
                    break;
                }
                Ok(false) => match threads.get(key, until).await {
                    Ok(Some(Entry::Open { state, .. })) => previous = state,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(rollout = %key, table = threads.table(), error = %err, "could not record the rollout's stage");
                        break;
                    }
                },
                Err(err) => {
                    tracing::warn!(rollout = %key, table = threads.table(), error = %err, "could not record the rollout's stage");
                    break;
                }
            }
        }
        if let Some(state) = recorded {
            let update = summary::parent(
                event.message.event,
                &state,
                &parent.channel,
                Some(&parent.ts),
                &event.message.links,
            );
            let updated = self
                .call(retry, Method::Update, &update, &parent.channel, deadline)
                .await;
            if let Err(failure) = updated {
                tracing::warn!(
                    rollout = %key, error = %self.redactor.redact(&failure.reason),
                    "the event is in its thread, but the parent message could not be updated"
                );
            }
        }
        Ok(delivered)
    }

    /// Opens a new thread for a rollout whose thread Slack will no longer take, replacing its
    /// item so that the events after this one follow the new parent.
    async fn restart(
        &self,
        retry: &RetryPolicy,
        threads: &ThreadStore,
        restart: Restart<'_>,
        event: &EventMessage<'_, '_>,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let Restart {
            key,
            parent,
            state,
            expires_at,
        } = restart;
        let until = bookkeeping_deadline(deadline);
        let claim = claim_token();
        let replaced = threads
            .replace(
                key,
                Stale::Thread(&parent.ts),
                &state,
                &claim,
                lease_until(deadline),
                expires_at,
                until,
            )
            .await;
        match replaced {
            Ok(true) => {
                let opening = Opening {
                    key: key.to_owned(),
                    claim,
                    state,
                };
                self.open(retry, threads, &opening, event.message, deadline)
                    .await
            }
            // Another event replaced it first, or the table is away: never a third parent
            // from here; the event stands on its own.
            Ok(false) | Err(_) => self.post_plain(retry, event, deadline).await,
        }
    }

    async fn post_plain(
        &self,
        retry: &RetryPolicy,
        event: &EventMessage<'_, '_>,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let body = self.event_body(event, &self.channel, None);
        self.call(retry, Method::PostMessage, &body, &self.channel, deadline)
            .await
            .map(|(_, delivered)| delivered)
    }

    /// The body that posts one event: the built-in message, or the template's, given the
    /// channel and thread here. A reply that ends the rollout is broadcast to the channel
    /// either way.
    fn event_body(
        &self,
        event: &EventMessage<'_, '_>,
        channel: &str,
        thread_ts: Option<&str>,
    ) -> SlackPayload {
        let Some(templated) = event.templated else {
            return SlackPayload::Bot(summary::event(event.message, channel, thread_ts));
        };
        let mut body = templated.clone();
        body.insert("channel".into(), channel.into());
        body.remove("ts");
        match thread_ts {
            Some(ts) => {
                body.insert("thread_ts".into(), ts.into());
                if rollout::is_outcome(event.message.stage) {
                    body.insert("reply_broadcast".into(), true.into());
                }
            }
            None => {
                body.remove("thread_ts");
            }
        }
        SlackPayload::Template(body)
    }

    /// One Web API call, retried on its own within the deadline.
    async fn call<B: serde::Serialize + Sync>(
        &self,
        retry: &RetryPolicy,
        method: Method,
        body: &B,
        channel: &str,
        deadline: Instant,
    ) -> Result<(Posted, Delivered), DeliveryFailure> {
        let posted = OnceLock::new();
        let delivered = with_retries(retry, deadline, |timeout| {
            let posted = &posted;
            async move {
                let answer = self.api.call(method, body, timeout).await?;
                let _ = posted.set(answer);
                Ok(())
            }
        })
        .await?;
        // with_retries succeeds only after an attempt that set it.
        let posted = posted.into_inner().unwrap_or_else(|| Posted {
            channel: channel.to_owned(),
            ts: String::new(),
        });
        Ok((posted, delivered))
    }
}

/// A rollout whose thread is gone: its key, the parent Slack no longer takes replies under, and
/// the state the new parent shows.
struct Restart<'a> {
    key: &'a str,
    parent: &'a Posted,
    state: RolloutState,
    expires_at: i64,
}

/// Whether Slack refused a reply because its thread can no longer be used.
fn thread_unusable(failure: &DeliveryFailure) -> bool {
    failure.class == flagger_relay_core::deliver::FailureClass::Permanent
        && web_api::slack_error(&failure.reason)
            .is_some_and(flagger_relay_core::deliver::is_unusable_slack_thread)
}

/// A rollout whose parent this invocation claimed, with the state the parent shows.
struct Opening {
    key: String,
    claim: String,
    state: RolloutState,
}

/// A reply's place: the rollout, its parent, and the state the reply moves on from.
struct Reply<'a> {
    key: &'a str,
    parent: &'a Posted,
    state: RolloutState,
    step: &'a Step,
    expires_at: i64,
}

impl Destination for SlackBot {
    const KIND: &'static str = "slack";
    type Payload = SlackPayload;

    /// The message one event would be posted as on its own: what a dry run shows.
    fn render(&self, message: &Presentation<'_>) -> Result<SlackPayload, RenderError> {
        let templated = match &self.shaping.template {
            Some(template) => Some(render::templated(template, message)?),
            None => None,
        };
        let event = EventMessage {
            message,
            templated: templated.as_ref(),
        };
        Ok(self.event_body(&event, &self.channel, None))
    }

    fn mentions(&self, severity: Severity) -> &[Mention] {
        self.shaping.mentions.of(severity)
    }

    async fn deliver(
        &self,
        message: &Presentation<'_>,
        retry: &RetryPolicy,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        self.deliver_notification(retry, message, deadline).await
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.token.expose().to_owned()]
    }
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Epoch ms until which a claim taken now holds: past this invocation's deadline, when it can
/// no longer be posting.
fn lease_until(deadline: Instant) -> i64 {
    let left = deadline.saturating_duration_since(Instant::now()) + LEASE_GRACE;
    now_ms().saturating_add(i64::try_from(left.as_millis()).unwrap_or(i64::MAX))
}

fn bookkeeping_deadline(deadline: Instant) -> Instant {
    (Instant::now() + BOOKKEEPING_BUDGET).min(deadline)
}

/// A value no other invocation uses for its claim: std's per-process random hash keys,
/// a counter and the time.
fn claim_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn is_off_without_a_bot_token() {
        assert!(
            SlackBot::from_env(&env(&[("SLACK_CHANNEL_ID", "C0RELAY")]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn needs_a_channel_with_a_bot_token_unless_dry_run() {
        let err = SlackBot::from_env(&env(&[("SLACK_BOT_TOKEN", "xoxb-1-2-sekrit")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("SLACK_CHANNEL_ID"));
        let dry_run = env(&[("SLACK_BOT_TOKEN", "xoxb-1-2-sekrit"), ("DRY_RUN", "1")]);
        assert!(SlackBot::from_env(&dry_run).unwrap().is_some());
    }

    #[test]
    fn reads_its_settings() {
        let bot = SlackBot::from_env(&env(&[
            ("SLACK_BOT_TOKEN", "xoxb-1-2-sekrit"),
            ("SLACK_CHANNEL_ID", " C0RELAY "),
            ("SLACK_API_URL", "http://127.0.0.1:9/api"),
            ("THREADS_TABLE", "flagger-relay-threads"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (bot.channel(), bot.threads_table()),
            ("C0RELAY", Some("flagger-relay-threads"))
        );
        assert_eq!(bot.secrets(), vec!["xoxb-1-2-sekrit".to_owned()]);
        assert!(!format!("{bot:?}").contains("sekrit"));
    }

    #[test]
    fn refuses_a_plain_http_api_url() {
        let err = SlackBot::from_env(&env(&[
            ("SLACK_BOT_TOKEN", "xoxb-1-2-sekrit"),
            ("SLACK_CHANNEL_ID", "C0RELAY"),
            ("SLACK_API_URL", "http://slack.example/api"),
        ]))
        .unwrap_err();
        assert_eq!(err, ConfigError::InsecureUrl("SLACK_API_URL"));
    }

    #[test]
    fn claims_are_unique() {
        let claims: std::collections::HashSet<String> = (0..1000).map(|_| claim_token()).collect();
        assert_eq!(claims.len(), 1000);
    }
}
