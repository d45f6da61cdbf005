//! Flagger's calls: `POST /confirm-rollout`, `/confirm-traffic-increase`, `/confirm-promotion`
//! and `/rollback`, with the relay token and Flagger's webhook payload. 200 `open`, or 403
//! `closed` (Flagger treats any non-2xx as "not yet" and asks again next tick). The first closed
//! call of a gate for a revision posts its prompt.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use flagger_relay_core::contract::{RequestError, admit, json_response};
use flagger_relay_core::deliver::{AttemptError, post_json};
use flagger_relay_core::event::CanaryEvent;
use flagger_relay_core::present::{self, Presentation, progress_bar};
use flagger_relay_core::text::truncate;
use flagger_relay_core::{Notification, Stage};
use flagger_relay_slack::bot::rollout::{RolloutRef, rollout_ref};
use flagger_relay_slack::bot::threads::Entry;
use flagger_relay_teams::{Acknowledgement, check_acknowledgement};

use crate::config::LinkSettings;
use crate::links::{self, LINK_LIFETIME_SECS, Link};
use crate::slack::Target;
use crate::state::{
    Action, Claim, Closed, Gate, GateState, Hook, Prompt, PromptStatus, SlackMessageRef, Verdict,
};
use crate::store::TableError;
use crate::{
    GateFunction, attempt_reason, call_timeout, decided_json, lambda_deadline, merge, now_ms,
    prompt, refused,
};

/// A prompt claim outlives its invocation by this much, so that nobody takes it over while the
/// prompt may still be on its way.
const LEASE_GRACE: Duration = Duration::from_secs(5);
/// Conditional writes lost to concurrent calls before giving up on one step.
const MAX_ROUNDS: usize = 5;
/// User metadata shown beside a prompt: a canary-level hook's `metadata` can hold anything.
const METADATA_SHOWN: usize = 4;
const METADATA_VALUE_LIMIT: usize = 200;

impl GateFunction {
    pub(crate) async fn hook(
        &self,
        request: &Request,
        hook: Hook,
        started: Instant,
    ) -> Response<Body> {
        let body = match admit(request, Some(&self.token)) {
            Ok(body) => body,
            Err(err) => return refused(&err),
        };
        let event = match CanaryEvent::from_slice(body) {
            Ok(event) => event,
            Err(err) => return refused(&RequestError::from(err)),
        };
        let Some(revision) = event.checksum.clone() else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "field `checksum` is missing: the gate ties every decision to a revision, and Flagger sends the checksum since v1.33"}),
            );
        };
        let rollout = format!("{}/{}", event.namespace, event.name);
        let deadline = lambda_deadline(request, started);
        let base = json!({"gate": hook.as_str(), "rollout": rollout, "revision": revision});
        let state = match self.current(&rollout, &revision, &event, deadline).await {
            Ok(state) => state,
            Err(err) => {
                // Fail closed: a gate never opens on a table it cannot read.
                let error = self.redactor.redact(&format!(
                    "the gate's state could not be read, so the gate stays closed: {err}"
                ));
                tracing::error!(rollout = %rollout, revision = %revision, gate = hook.as_str(), error = %error, "gate closed: table unavailable");
                return json_response(
                    StatusCode::FORBIDDEN,
                    &merge(base, json!({"status": "closed", "error": error})),
                );
            }
        };
        if hook == Hook::Rollback
            && !state.rollback_hook
            && let Err(err) = self
                .store
                .saw_rollback_hook(&rollout, &revision, deadline)
                .await
        {
            tracing::warn!(rollout = %rollout, error = %err, "could not note that Flagger calls the rollback hook");
        }
        match state.verdict(hook, &event.phase) {
            Verdict::Open(decided) => {
                tracing::info!(rollout = %rollout, revision = %revision, gate = hook.as_str(), decided_by = %crate::describe(&decided), "gate open");
                json_response(
                    StatusCode::OK,
                    &merge(
                        base,
                        json!({"status": "open", "decision": decided_json(&decided)}),
                    ),
                )
            }
            Verdict::Closed(closed) => {
                let prompt = match (hook, &closed) {
                    (Hook::Confirm(gate), Closed::WaitingForApproval) => {
                        Some(self.prompt(&state, gate, &event, request, deadline).await)
                    }
                    _ => None,
                };
                let mut body = merge(base, json!({"status": "closed", "reason": closed.reason()}));
                if let Some(prompt) = prompt {
                    body["prompt"] = Value::String(prompt);
                }
                json_response(StatusCode::FORBIDDEN, &body)
            }
        }
    }

    /// The canary's state at `revision`: as stored, or fresh when the call brings a revision
    /// the table does not hold (every earlier decision is then forgotten).
    async fn current(
        &self,
        rollout: &str,
        revision: &str,
        event: &CanaryEvent,
        deadline: Instant,
    ) -> Result<GateState, TableError> {
        for _ in 0..MAX_ROUNDS {
            let stored = self.store.load(rollout, deadline).await?;
            match stored {
                Some(state) if state.revision == revision => return Ok(state),
                stored => {
                    let fresh = GateState::fresh(
                        rollout,
                        revision,
                        event.metadata.user.clone(),
                        stored.as_ref().is_some_and(|s| s.rollback_hook),
                        now_ms(),
                    );
                    let replacing = stored.as_ref().map(|s| s.revision.as_str());
                    if self
                        .store
                        .start(&fresh, replacing, now_ms(), deadline)
                        .await?
                    {
                        return Ok(fresh);
                    }
                }
            }
        }
        Err(TableError {
            operation: "PutItem",
            reason: "the item kept changing under concurrent calls".to_owned(),
        })
    }

    /// Posts the gate's prompt, once per revision. The answer says what happened, for
    /// Flagger's log and for people reading it.
    async fn prompt(
        &self,
        state: &GateState,
        gate: Gate,
        event: &CanaryEvent,
        request: &Request,
        deadline: Instant,
    ) -> String {
        if state.prompts.contains_key(&gate) {
            return "posted earlier".to_owned();
        }
        let now = now_ms();
        if state
            .claims
            .get(&gate)
            .is_some_and(|claim| claim.lease_until >= now)
        {
            return "being posted by another call".to_owned();
        }
        let claim = Claim {
            token: claim_token(),
            lease_until: lease_until(deadline),
        };
        match self
            .store
            .claim(&state.rollout, &state.revision, gate, &claim, now, deadline)
            .await
        {
            Ok(true) => {}
            Ok(false) => return "being posted by another call".to_owned(),
            Err(err) => {
                tracing::warn!(rollout = %state.rollout, error = %err, "could not claim the prompt; none posted");
                return self.redactor.redact(&format!("not posted: {err}"));
            }
        }
        let thread = self.thread(event, gate, deadline).await;
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        let presentation = Presentation::new(&notification, &classification);
        let mut prompt = Prompt {
            since: now,
            slack: None,
            teams: false,
            facts: facts(
                &presentation,
                thread.as_ref().map(|(_, facts)| facts.as_slice()),
            ),
        };
        let mut failures = Vec::new();
        let mut attempted = false;
        if let Some(slack) = &self.slack {
            attempted = true;
            let view = self.view(state, gate, &prompt, state.status(gate));
            let (channel, thread_ts) = match &thread {
                Some((parent, _)) => (parent.channel.as_str(), Some(parent.ts.as_str())),
                None => (slack.channel.as_str(), None),
            };
            let body = prompt::message(&view, channel, None, thread_ts);
            match slack.api.post(&body, call_timeout(deadline)).await {
                Ok(posted) => {
                    prompt.slack = Some(SlackMessageRef {
                        channel: posted.channel,
                        ts: posted.ts,
                    })
                }
                Err(err) => failures.push(attempt_reason(err)),
            }
        }
        if let Some(links) = &self.links {
            attempted = true;
            match self
                .post_card(links, state, gate, &prompt, request, deadline)
                .await
            {
                Ok(()) => prompt.teams = true,
                Err(err) => failures.push(attempt_reason(err)),
            }
        }
        let failures = self.redactor.redact(&failures.join("; "));
        if attempted && prompt.slack.is_none() && !prompt.teams {
            tracing::warn!(rollout = %state.rollout, gate = gate.as_str(), error = %failures, "the prompt could not be posted; the next call tries again");
            if let Err(err) = self
                .store
                .release(&state.rollout, gate, &claim.token, deadline)
                .await
            {
                tracing::warn!(rollout = %state.rollout, error = %err, "could not release the prompt claim; it lapses on its own");
            }
            return format!("not posted: {failures}");
        }
        match self
            .store
            .posted(
                &state.rollout,
                &state.revision,
                gate,
                &claim.token,
                &prompt,
                deadline,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(rollout = %state.rollout, gate = gate.as_str(), "the prompt claim ran out while posting; a second prompt may follow")
            }
            Err(err) => {
                tracing::warn!(rollout = %state.rollout, gate = gate.as_str(), error = %err, "the prompt was posted but not recorded; a second prompt may follow")
            }
        }
        tracing::info!(rollout = %state.rollout, revision = %state.revision, gate = gate.as_str(), slack = prompt.slack.is_some(), teams = prompt.teams, "prompt posted");
        match (attempted, failures.is_empty()) {
            (false, _) => "none: neither Slack nor Teams approval links are configured; decide through the decisions API".to_owned(),
            (true, true) => "posted".to_owned(),
            (true, false) => {
                tracing::warn!(rollout = %state.rollout, gate = gate.as_str(), error = %failures, "the prompt reached only some of its destinations");
                format!("posted, with failures: {failures}")
            }
        }
    }

    /// The rollout's thread and what its parent shows, when bot threads are on. Not for
    /// `confirm-rollout`: its checksum is the running revision, whose thread is finished.
    async fn thread(
        &self,
        event: &CanaryEvent,
        gate: Gate,
        deadline: Instant,
    ) -> Option<(SlackMessageRef, Vec<(String, String)>)> {
        let threads = self.threads.as_ref()?;
        if gate == Gate::ConfirmRollout {
            return None;
        }
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        let RolloutRef::Keyed(key) = rollout_ref(&notification, &classification) else {
            return None;
        };
        match threads.get(&key, deadline).await {
            Ok(Some(Entry::Open { parent, state })) => {
                let mut facts = Vec::new();
                if let Some(weight) = state.canary_weight {
                    facts.push((
                        "Traffic".to_owned(),
                        format!("{} on canary", progress_bar(weight)),
                    ));
                } else if let Some(iteration) = state.iteration {
                    facts.push((
                        "Iteration".to_owned(),
                        format!("{}/{}", iteration.current, iteration.total),
                    ));
                }
                if state.stage != Stage::Unknown {
                    facts.push(("Latest".to_owned(), state.latest.clone()));
                }
                Some((
                    SlackMessageRef {
                        channel: parent.channel,
                        ts: parent.ts,
                    },
                    facts,
                ))
            }
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(rollout = %key, error = %err, "thread table unavailable; the prompt goes to the channel");
                None
            }
        }
    }

    /// The approval card for Teams, with a signed link per action.
    async fn post_card(
        &self,
        links: &LinkSettings,
        state: &GateState,
        gate: Gate,
        prompt: &Prompt,
        request: &Request,
        deadline: Instant,
    ) -> Result<(), AttemptError> {
        let base = self.base_url(request).ok_or_else(|| {
            AttemptError::permanent("no public URL for the approval links: set GATE_URL".to_owned())
        })?;
        let expires = now_ms() / 1000 + LINK_LIFETIME_SECS;
        let target = Target {
            rollout: state.rollout.clone(),
            revision: state.revision.clone(),
            gate,
        };
        let mut actions = vec![Action::Approve];
        if gate.can_roll_back() && state.rollback_hook {
            actions.push(Action::Rollback);
        }
        let urls: Vec<(Action, String)> = actions
            .into_iter()
            .map(|action| {
                let link = Link {
                    action,
                    target: target.clone(),
                    expires,
                };
                (
                    action,
                    format!("{base}/{}", link.path_and_query(&links.key)),
                )
            })
            .collect();
        let view = self.view(state, gate, prompt, PromptStatus::Waiting { held: None });
        let mut facts = vec![
            ("Gate".to_owned(), gate.as_str().to_owned()),
            ("Revision".to_owned(), state.revision.clone()),
        ];
        facts.extend(prompt.facts.iter().cloned());
        let holding = prompt::holding(&view).replace(['*', '`'], "");
        let card = links::card(&prompt::headline(&view), &holding, &facts, &urls);
        let body =
            serde_json::to_vec(&card).map_err(|err| AttemptError::permanent(err.to_string()))?;
        let response = post_json(
            &self.client,
            links.webhook.expose(),
            body,
            call_timeout(deadline),
        )
        .await?;
        check_acknowledgement(Acknowledgement::AnySuccess, &response)
    }

    /// The gate's public URL: `GATE_URL`, or the Function URL this call came to (Lambda sets
    /// the domain; a caller cannot).
    pub(crate) fn base_url(&self, request: &Request) -> Option<String> {
        if let Some(url) = &self.gate_url {
            return Some(url.clone());
        }
        match request.request_context_ref()? {
            RequestContext::ApiGatewayV2(context) => context
                .domain_name
                .as_deref()
                .filter(|domain| !domain.is_empty())
                .map(|domain| format!("https://{domain}")),
            _ => None,
        }
    }
}

/// What a prompt shows beside the gate and the revision, from the presentation every
/// destination shares: the canary's phase and whatever the payload says a reader acts on, where
/// the traffic stands (from the rollout's thread), and the canary's own metadata (`cluster` …).
fn facts(
    presentation: &Presentation<'_>,
    thread: Option<&[(String, String)]>,
) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    let canary = match &presentation.body {
        present::Body::Flagger(canary) => Some(canary),
        present::Body::Alertmanager(_) => None,
    };
    if let Some(canary) = canary {
        facts.push(("Phase".to_owned(), canary.phase.to_owned()));
    }
    facts.extend(
        presentation
            .highlights
            .iter()
            .map(|fact| (fact.label.to_owned(), fact.value.clone())),
    );
    facts.extend(thread.unwrap_or_default().iter().cloned());
    if let Some(canary) = canary {
        facts.extend(
            canary
                .metadata
                .iter()
                .take(METADATA_SHOWN)
                .map(|(key, value)| {
                    (
                        truncate(key, 60).into_owned(),
                        truncate(value, METADATA_VALUE_LIMIT).into_owned(),
                    )
                }),
        );
    }
    facts
}

/// Epoch ms until which a claim taken now holds: past this invocation's deadline.
fn lease_until(deadline: Instant) -> i64 {
    let left = deadline.saturating_duration_since(Instant::now()) + LEASE_GRACE;
    now_ms().saturating_add(i64::try_from(left.as_millis()).unwrap_or(i64::MAX))
}

/// A value no other invocation uses for its claim: std's per-process random hash keys, a
/// counter and the time.
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

    #[test]
    fn claims_are_unique() {
        let claims: std::collections::HashSet<String> = (0..1000).map(|_| claim_token()).collect();
        assert_eq!(claims.len(), 1000);
    }

    #[test]
    fn shows_the_phase_and_some_of_the_metadata() {
        let event = CanaryEvent::from_slice(
            br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f","metadata":{"a":"1","b":"2","c":"3","d":"4","e":"5"}}"#,
        )
        .unwrap();
        let notification = Notification::Canary(event);
        let classification = notification.classify();
        let presentation = Presentation::new(&notification, &classification);
        let facts = facts(&presentation, Some(&[("Traffic".into(), "50%".into())]));
        assert_eq!(facts.len(), 1 + 1 + METADATA_SHOWN);
        assert_eq!(facts[0], ("Phase".into(), "Progressing".into()));
        assert_eq!(facts[1], ("Traffic".into(), "50%".into()));
    }
}
