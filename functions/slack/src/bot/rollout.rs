//! What a rollout is and what its parent message shows: the rollout key of a notification,
//! and the summary state folded from its events. Pure: no clock, no I/O.
//!
//! A rollout is one canary revision. Flagger's `checksum` names the revision, so the key is
//! `namespace/name/checksum`. Flagger before 2023-09 sends no checksum: its rollouts are told
//! apart by the time of the "New revision detected" event that opened them,
//! `namespace/name@<epoch ms>`, which the thread store keeps in a per-canary pointer item so
//! that the events after it find their rollout. An Alertmanager group is its own rollout, keyed
//! `alerts:<groupKey>`. Kubernetes names cannot contain `/`, `@` or `:` beyond these
//! separators, so the three forms (and the pointer, `namespace/name`) never collide.

use flagger_relay_core::classify::Iteration;
use flagger_relay_core::{Classification, Notification, Severity, Stage};

/// How to find the rollout a notification belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutRef {
    /// The key follows from the notification itself.
    Keyed(String),
    /// A Flagger event without checksum: the key is the canary's current rollout, held by the
    /// pointer item `canary` (`namespace/name`). `opens` is set for a "New revision detected"
    /// event, which starts a new rollout.
    Unversioned { canary: String, opens: bool },
}

/// The rollout of `notification`.
pub fn rollout_ref(notification: &Notification, classification: &Classification) -> RolloutRef {
    match notification {
        Notification::Canary(event) => match &event.checksum {
            Some(checksum) => RolloutRef::Keyed(format!("{}/{checksum}", event.canary_ref())),
            None => RolloutRef::Unversioned {
                canary: event.canary_ref(),
                opens: classification.stage == Stage::NewRevision,
            },
        },
        Notification::Alerts(group) => RolloutRef::Keyed(format!("alerts:{}", group.group_key)),
    }
}

/// The key of a checksum-less rollout opened at `opened_at` (epoch ms).
pub fn unversioned_key(canary: &str, opened_at: i64) -> String {
    format!("{canary}@{opened_at}")
}

/// When a notification happened, in epoch milliseconds, as far as it says: Flagger stamps its
/// events; Alertmanager notifications and gating-hook payloads carry no time of their own.
pub fn event_time(notification: &Notification) -> Option<i64> {
    match notification {
        Notification::Canary(event) => event.metadata.timestamp.map(|ts| ts.0),
        Notification::Alerts(_) => None,
    }
}

/// The revision a notification is about, for people: Flagger's checksum.
pub fn revision(notification: &Notification) -> Option<&str> {
    match notification {
        Notification::Canary(event) => event.checksum.as_deref(),
        Notification::Alerts(_) => None,
    }
}

/// One notification, as far as the rollout summary cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Epoch ms: the event's own time, or the time it arrived when it has none.
    pub at: i64,
    pub stage: Stage,
    pub severity: Severity,
    pub headline: String,
    pub canary_weight: Option<u32>,
    pub primary_weight: Option<u32>,
    pub iteration: Option<Iteration>,
    /// A canary's outcome is final: the post-rollout hook or the deletion that follows a
    /// success or failure does not undo it. An alert group has no outcome; its latest status
    /// is the truth.
    pub keeps_outcome: bool,
    /// The check that failed, when this event names one: see [`cause`].
    pub cause: Option<String>,
}

/// What a halt or a rollback says went wrong (a metric against its threshold, a hook, a
/// deployment that is not ready), as its headline. A rollback on the failed-checks threshold
/// names no check of its own: the checks it counts came before it.
pub fn cause(classification: &Classification) -> Option<String> {
    let names_a_check = matches!(classification.stage, Stage::Halted | Stage::RollingBack)
        && classification.details.failed_checks_threshold.is_none();
    names_a_check.then(|| classification.headline.clone())
}

impl Step {
    pub fn new(notification: &Notification, classification: &Classification, at: i64) -> Self {
        let details = &classification.details;
        Step {
            at,
            stage: classification.stage,
            severity: classification.severity,
            headline: classification.headline.clone(),
            canary_weight: details.canary_weight,
            primary_weight: details.primary_weight,
            iteration: details.iteration,
            keeps_outcome: matches!(notification, Notification::Canary(_)),
            cause: cause(classification),
        }
    }
}

/// What the parent message shows, kept in the thread store between invocations.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutState {
    /// Epoch ms of the rollout's first event.
    pub opened_at: i64,
    /// Epoch ms of the latest event folded in.
    pub updated_at: i64,
    /// Events posted for this rollout, the parent's included.
    pub events: u32,
    /// The stage shown: the latest one, except that an outcome (succeeded, failed) stays.
    pub stage: Stage,
    pub severity: Severity,
    /// The headline of the event that set `stage`.
    pub headline: String,
    /// The headline of the latest event; differs from `headline` once an outcome stays.
    pub latest: String,
    pub canary_weight: Option<u32>,
    pub primary_weight: Option<u32>,
    pub iteration: Option<Iteration>,
    /// The last check that failed, so that a failed rollout says why.
    pub cause: Option<String>,
}

/// Stages that end a rollout.
pub fn is_outcome(stage: Stage) -> bool {
    matches!(stage, Stage::Succeeded | Stage::Failed)
}

impl RolloutState {
    /// The state after a rollout's first event.
    pub fn open(step: &Step) -> Self {
        RolloutState {
            opened_at: step.at,
            updated_at: step.at,
            events: 1,
            stage: step.stage,
            severity: step.severity,
            headline: step.headline.clone(),
            latest: step.headline.clone(),
            canary_weight: step.canary_weight,
            primary_weight: step.primary_weight,
            iteration: step.iteration,
            cause: step.cause.clone(),
        }
    }

    /// The state after one more event. An event older than the latest one (a retry, a
    /// redriven event) is counted but changes nothing shown, so the parent never goes back.
    pub fn advance(&self, step: &Step) -> Self {
        let mut next = self.clone();
        next.events = self.events.saturating_add(1);
        if step.at < self.updated_at {
            return next;
        }
        next.updated_at = step.at;
        next.latest = step.headline.clone();
        if let Some(weight) = step.canary_weight {
            next.canary_weight = Some(weight);
            next.primary_weight = None;
        }
        if step.primary_weight.is_some() {
            next.primary_weight = step.primary_weight;
        }
        if step.iteration.is_some() {
            next.iteration = step.iteration;
        }
        if step.cause.is_some() {
            next.cause = step.cause.clone();
        }
        let settled = step.keeps_outcome && is_outcome(self.stage) && !is_outcome(step.stage);
        if !settled {
            next.stage = step.stage;
            next.severity = step.severity;
            next.headline = step.headline.clone();
        }
        next
    }

    /// Time from the first event to the latest, in milliseconds.
    pub fn elapsed_ms(&self) -> i64 {
        self.updated_at.saturating_sub(self.opened_at).max(0)
    }
}

/// `42s`, `9m 42s`, `1h 03m`, `2d 04h`: precise while a rollout is short, coarse once long.
pub fn elapsed(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs:02}s"),
        (0, _, _) => format!("{hours}h {minutes:02}m"),
        _ => format!("{days}d {hours:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(body: &str) -> Notification {
        Notification::from_slice(body.as_bytes()).unwrap()
    }

    fn canary(checksum: Option<&str>, message: &str, at: i64) -> Notification {
        let mut body = serde_json::json!({
            "name": "podinfo", "namespace": "test", "phase": "Progressing",
            "metadata": {"eventMessage": message, "eventType": "Normal", "timestamp": at.to_string()}
        });
        if let Some(checksum) = checksum {
            body["checksum"] = checksum.into();
        }
        notification(&body.to_string())
    }

    fn step(message: &str, at: i64) -> Step {
        let n = canary(Some("b4d9c6f58d"), message, at);
        Step::new(&n, &n.classify(), at)
    }

    #[test]
    fn keys_a_rollout_by_canary_and_checksum() {
        let n = canary(
            Some("b4d9c6f58d"),
            "Advance podinfo.test canary weight 10",
            1,
        );
        assert_eq!(
            rollout_ref(&n, &n.classify()),
            RolloutRef::Keyed("test/podinfo/b4d9c6f58d".into())
        );
    }

    #[test]
    fn keys_a_checksum_less_rollout_through_the_canary_pointer() {
        let opening = canary(None, "New revision detected! Scaling up podinfo.test", 1);
        let later = canary(None, "Advance podinfo.test canary weight 10", 2);
        let canary_ref = "test/podinfo".to_owned();
        assert_eq!(
            rollout_ref(&opening, &opening.classify()),
            RolloutRef::Unversioned {
                canary: canary_ref.clone(),
                opens: true
            }
        );
        assert_eq!(
            rollout_ref(&later, &later.classify()),
            RolloutRef::Unversioned {
                canary: canary_ref,
                opens: false
            }
        );
        assert_eq!(
            unversioned_key("test/podinfo", 1_763_996_520_685),
            "test/podinfo@1763996520685"
        );
    }

    #[test]
    fn keys_an_alert_group_by_its_group_key() {
        let n = notification(
            r#"{"version":"4","groupKey":"{}:{alertname=\"canary_rollback\"}","status":"firing","alerts":[]}"#,
        );
        assert_eq!(
            rollout_ref(&n, &n.classify()),
            RolloutRef::Keyed("alerts:{}:{alertname=\"canary_rollback\"}".into())
        );
        assert_eq!(event_time(&n), None);
    }

    #[test]
    fn follows_the_latest_stage_and_weight() {
        let state = RolloutState::open(&step(
            "New revision detected! Scaling up podinfo.test",
            1_000,
        ));
        let state = state.advance(&step("Advance podinfo.test canary weight 30", 61_000));
        let state = state.advance(&step(
            "Halt podinfo.test advancement success rate 69.17% < 99%",
            121_000,
        ));
        assert_eq!(
            (state.stage, state.severity),
            (Stage::Halted, Severity::Warning)
        );
        assert_eq!(
            (state.canary_weight, state.events, state.elapsed_ms()),
            (Some(30), 3, 120_000)
        );
    }

    #[test]
    fn keeps_the_outcome_after_the_hooks_that_follow_it() {
        let state = RolloutState::open(&step("Canary failed! Scaling down podinfo.test", 1_000));
        let state = state.advance(&step("Post-rollout check slack-summary passed", 2_000));
        assert_eq!(state.stage, Stage::Failed);
        assert_eq!(state.headline, "canary failed");
        assert_eq!(state.latest, "post-rollout check slack-summary passed");
    }

    #[test]
    fn remembers_the_last_check_that_failed() {
        let state = RolloutState::open(&step("Advance podinfo.test canary weight 20", 1_000));
        assert_eq!(state.cause, None);
        let state = state.advance(&step(
            "Halt podinfo.test advancement success rate 69.17% < 99%",
            2_000,
        ));
        let state = state.advance(&step(
            "Halt podinfo.test advancement request duration 1.515s > 500ms",
            3_000,
        ));
        let state = state.advance(&step(
            "Rolling back podinfo.test failed checks threshold reached 2",
            4_000,
        ));
        let state = state.advance(&step("Canary failed! Scaling down podinfo.test", 5_000));
        assert_eq!(state.stage, Stage::Failed);
        assert_eq!(
            state.cause.as_deref(),
            Some("halted: request duration 1.515s > 500ms")
        );
    }

    #[test]
    fn never_goes_back_for_an_older_event() {
        let state = RolloutState::open(&step("Advance podinfo.test canary weight 20", 2_000));
        let state = state.advance(&step("Advance podinfo.test canary weight 10", 1_000));
        assert_eq!(
            (state.canary_weight, state.updated_at, state.events),
            (Some(20), 2_000, 2)
        );
    }

    #[test]
    fn shows_elapsed_time_coarser_as_it_grows() {
        assert_eq!(elapsed(0), "0s");
        assert_eq!(elapsed(42_999), "42s");
        assert_eq!(elapsed(582_000), "9m 42s");
        assert_eq!(elapsed(3_780_000), "1h 03m");
        assert_eq!(elapsed(187_200_000), "2d 04h");
        assert_eq!(elapsed(-5), "0s");
    }
}
