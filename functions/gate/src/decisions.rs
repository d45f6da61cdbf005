//! The decisions API, for scripts and CI: `POST /decisions/{namespace}/{name}` with the relay
//! token as Bearer and `{"action":"approve"|"hold"|"rollback","by":"…"}`; `GET` the same path
//! for the current state. It replaces the load tester's unauthenticated `/gate/open`,
//! `/gate/close` and `/rollback/open`.
//!
//! An approval that names no `gate` opens the gates Flagger is waiting on for the current
//! revision, and only those: approving everything at once would also open the next rollout's
//! `confirm-rollout`, which Flagger asks under the revision that is running now. `revision`,
//! when given, must be the current one, so that a script never approves a revision it has not
//! seen.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use flagger_relay_core::contract::{admit, authenticate, json_response};

use crate::state::{Action, Closed, Decided, Gate, GateState, Verdict, Via};
use crate::store::{Change, Rule};
use crate::{GateFunction, decided_json, lambda_deadline, now_ms, refused};

/// The longest `by` a script may give.
const BY_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    action: String,
    by: String,
    #[serde(default)]
    gate: Option<String>,
    #[serde(default)]
    revision: Option<String>,
}

impl GateFunction {
    pub(crate) async fn decisions(
        &self,
        request: &Request,
        namespace: &str,
        name: &str,
        started: Instant,
    ) -> Response<Body> {
        let rollout = format!("{namespace}/{name}");
        let deadline = lambda_deadline(request, started);
        match *request.method() {
            Method::GET => {
                if let Err(err) = authenticate(request, &self.token) {
                    return refused(&err);
                }
                match self.store.load(&rollout, deadline).await {
                    Ok(Some(state)) => json_response(StatusCode::OK, &state_json(&state)),
                    Ok(None) => not_seen(&rollout),
                    Err(err) => unavailable(&self.redactor.redact(&err.to_string())),
                }
            }
            Method::POST => self.decide(request, &rollout, deadline).await,
            _ => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": format!("method {} is not allowed: GET the state or POST a decision", request.method())}),
            ),
        }
    }

    async fn decide(&self, request: &Request, rollout: &str, deadline: Instant) -> Response<Body> {
        let body = match admit(request, Some(&self.token)) {
            Ok(body) => body,
            Err(err) => return refused(&err),
        };
        let asked: DecisionRequest = match serde_json::from_slice(body) {
            Ok(asked) => asked,
            Err(err) => return bad_request(&format!("the body is not a decision: {err}")),
        };
        let Some(action) = Action::parse(asked.action.trim()) else {
            return bad_request("`action` must be \"approve\", \"hold\" or \"rollback\"");
        };
        let by = asked.by.trim();
        if by.is_empty() || by.chars().count() > BY_LIMIT || by.chars().any(char::is_control) {
            return bad_request(&format!(
                "`by` must say who decides, in at most {BY_LIMIT} characters on one line"
            ));
        }
        let gate = match asked.gate.as_deref().map(str::trim) {
            None => None,
            Some(raw) => match Gate::parse(raw) {
                Some(gate) => Some(gate),
                None => {
                    return bad_request(
                        "`gate` must be confirm-rollout, confirm-traffic-increase or confirm-promotion",
                    );
                }
            },
        };
        if gate.is_some() && action != Action::Approve {
            return bad_request(
                "`gate` goes with \"approve\" only: hold and rollback apply to the revision",
            );
        }
        let state = match self.store.load(rollout, deadline).await {
            Ok(Some(state)) => state,
            Ok(None) => return not_seen(rollout),
            Err(err) => return unavailable(&self.redactor.redact(&err.to_string())),
        };
        if let Some(revision) = asked.revision.as_deref().map(str::trim)
            && revision != state.revision
        {
            return conflict(&format!(
                "{rollout} is at revision {}, not {revision}; nothing recorded",
                state.revision
            ));
        }
        let gates = match (action, gate) {
            (Action::Approve, Some(gate)) => vec![gate],
            (Action::Approve, None) => {
                let waiting = state.waiting_gates();
                if waiting.is_empty() {
                    return conflict(&format!(
                        "nothing waits for approval for {rollout} at revision {}; name the gate with \"gate\" to approve it ahead of time",
                        state.revision
                    ));
                }
                waiting
            }
            _ => Vec::new(),
        };
        let change = Change {
            action,
            gates,
            decided: Decided {
                by: by.to_owned(),
                name: None,
                via: Via::Api,
                at: now_ms(),
            },
            rule: Rule::Override,
        };
        match self
            .store
            .decide(rollout, &state.revision, &change, now_ms(), deadline)
            .await
        {
            Ok(true) => {
                self.announce(rollout, &state.revision, &change, deadline)
                    .await;
                let current = match self.store.load(rollout, deadline).await {
                    Ok(Some(current)) => state_json(&current),
                    _ => Value::Null,
                };
                json_response(
                    StatusCode::OK,
                    &json!({
                        "status": "recorded",
                        "rollout": rollout,
                        "revision": state.revision,
                        "action": action.as_str(),
                        "gates": change.gates,
                        "decision": decided_json(&change.decided),
                        "state": current,
                    }),
                )
            }
            Ok(false) => conflict(&format!(
                "{rollout} moved on from revision {} meanwhile; nothing recorded",
                state.revision
            )),
            Err(err) => unavailable(&self.redactor.redact(&err.to_string())),
        }
    }
}

/// The state as the API shows it: each gate Flagger asked about (or that was approved), the
/// rollback, and the revision's decisions.
pub(crate) fn state_json(state: &GateState) -> Value {
    let gates: serde_json::Map<String, Value> = Gate::ALL
        .into_iter()
        .filter(|gate| {
            state.prompts.contains_key(gate)
                || state.claims.contains_key(gate)
                || state.approved.contains_key(gate)
        })
        .map(|gate| {
            let mut entry = match state.verdict(
                crate::state::Hook::Confirm(gate),
                &flagger_relay_core::event::Phase::Progressing,
            ) {
                Verdict::Open(decided) => {
                    json!({"status": "open", "approved": decided_json(&decided)})
                }
                Verdict::Closed(closed) => json!({"status": "closed", "reason": closed.reason()}),
            };
            if let Some(prompt) = state.prompts.get(&gate) {
                entry["waiting_since"] = rfc3339(prompt.since);
                entry["prompt"] = json!({"slack": prompt.slack.is_some(), "teams": prompt.teams});
            }
            (gate.as_str().to_owned(), entry)
        })
        .collect();
    let rollback = match &state.rollback {
        Some(decided) => json!({"status": "requested", "requested": decided_json(decided)}),
        None => json!({"status": Closed::NoRollbackRequested.reason()}),
    };
    json!({
        "rollout": state.rollout,
        "revision": state.revision,
        "opened_at": rfc3339(state.opened_at),
        "gates": gates,
        "rollback": rollback,
        "held": state.held.as_ref().map(decided_json),
        "rollback_hook": state.rollback_hook,
        "decisions": state.decisions.iter().map(|decision| json!({
            "action": decision.action.as_str(),
            "gates": decision.gates,
            "decision": decided_json(&decision.decided),
        })).collect::<Vec<_>>(),
    })
}

fn rfc3339(epoch_ms: i64) -> Value {
    flagger_relay_core::event::Timestamp(epoch_ms)
        .to_rfc3339()
        .map_or(Value::Null, Value::String)
}

fn bad_request(error: &str) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": error}))
}

fn conflict(error: &str) -> Response<Body> {
    json_response(StatusCode::CONFLICT, &json!({"error": error}))
}

fn not_seen(rollout: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("Flagger has not called the gate for {rollout} yet (or not in the last 30 days): nothing to decide on")}),
    )
}

/// Nothing was recorded, and the caller should try again: the same answer Flagger gets when a
/// destination is down.
fn unavailable(reason: &str) -> Response<Body> {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": format!("the gate's table is unavailable; nothing recorded or read: {reason}")}),
    )
}
