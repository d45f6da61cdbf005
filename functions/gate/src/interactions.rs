//! `POST /slack/interactions`: Slack's interactivity Request URL. A request whose signature
//! does not verify is answered 401 and changes nothing. A verified click is answered 200 within
//! Slack's 3 seconds, always: what the clicker needs to know (not allowed, already decided) goes
//! to them privately through the interaction's `response_url`.

use std::time::Duration;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use tokio::time::Instant;

use flagger_relay_core::contract::{MAX_BODY_BYTES, json_response};

use crate::approvers::Permission;
use crate::prompt::{display_time, who};
use crate::slack::{
    Click, Ephemeral, Interaction, SIGNATURE_HEADER, TIMESTAMP_HEADER, interaction, verify,
};
use crate::state::{Action, Decided, GateState, Via};
use crate::store::{Change, Rule};
use crate::{GateFunction, SlackGate, call_timeout, now_ms};

/// Slack waits 3 s for the answer to a click, then shows the clicker an error. Everything a
/// click does happens within this, the answer included.
const INTERACTION_BUDGET: Duration = Duration::from_millis(2500);

impl GateFunction {
    pub(crate) async fn interactions(&self, request: &Request, started: Instant) -> Response<Body> {
        let Some(slack) = &self.slack else {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "Slack is not configured for this gate (SLACK_BOT_TOKEN)"}),
            );
        };
        if request.method() != Method::POST {
            return json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": format!("method {} is not allowed: Slack posts interactions", request.method())}),
            );
        }
        let body = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": format!("request body is {} bytes; the limit is {MAX_BODY_BYTES}", body.len())}),
            );
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        if let Err(err) = verify(
            &slack.signing_secret,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            body,
            now_ms() / 1000,
        ) {
            tracing::warn!(error = %err, "interaction refused: not verifiably from Slack");
            return json_response(StatusCode::UNAUTHORIZED, &json!({"error": err.to_string()}));
        }
        let deadline = started + INTERACTION_BUDGET;
        match interaction(body) {
            Ok(Interaction::Click(click)) => self.click(slack, click, deadline).await,
            Ok(Interaction::Ignored(what)) => tracing::info!(what, "interaction ignored"),
            Err(err) => {
                tracing::warn!(error = %err, "interaction refused");
                return json_response(StatusCode::BAD_REQUEST, &json!({"error": err.to_string()}));
            }
        }
        acknowledged()
    }

    async fn click(&self, slack: &SlackGate, click: Click, deadline: Instant) {
        let Click {
            user,
            user_name,
            action,
            target,
            response_url,
        } = click;
        let tell = |text: String| async {
            let Some(url) = &response_url else { return };
            let note = Ephemeral::new(text);
            if let Err(err) = slack.api.respond(url, &note, call_timeout(deadline)).await {
                let error = self.redactor.redact(&crate::attempt_reason(err));
                tracing::warn!(error = %error, "could not answer the clicker");
            }
        };
        let permission = slack
            .approvers
            .permission(&user, &slack.api, call_timeout(deadline))
            .await;
        match permission {
            Permission::Allowed => {}
            Permission::NotAllowed => {
                tracing::warn!(rollout = %target.rollout, user, action = action.as_str(), "click refused: not an approver");
                tell(format!(
                    "You are not allowed to decide on {}: only {} may. Nothing changed.",
                    target.rollout, slack.mentions
                ))
                .await;
                return;
            }
            Permission::Unknown(reason) => {
                let reason = self.redactor.redact(&reason);
                tracing::warn!(rollout = %target.rollout, user, error = %reason, "click refused: approvers could not be checked");
                tell(format!(
                    "Your permission could not be checked ({reason}). Nothing changed; try again in a moment."
                ))
                .await;
                return;
            }
        }
        if action == Action::Rollback && !target.gate.can_roll_back() {
            tell(
                "There is nothing to roll back before a rollout starts. Nothing changed."
                    .to_owned(),
            )
            .await;
            return;
        }
        let change = Change {
            action,
            gates: if action == Action::Approve {
                vec![target.gate]
            } else {
                Vec::new()
            },
            decided: Decided {
                by: user.clone(),
                name: user_name,
                via: Via::Slack,
                at: now_ms(),
            },
            rule: Rule::FirstDecision(target.gate),
        };
        match self
            .store
            .decide(
                &target.rollout,
                &target.revision,
                &change,
                now_ms(),
                deadline,
            )
            .await
        {
            Ok(true) => {
                self.announce(&target.rollout, &target.revision, &change, deadline)
                    .await
            }
            Ok(false) => {
                let note = match self.store.load(&target.rollout, deadline).await {
                    Ok(Some(state)) => not_recorded(&state, &target.revision, target.gate),
                    Ok(None) => "This prompt is out of date: the gate no longer knows this canary. Nothing changed.".to_owned(),
                    Err(_) => "Someone decided first, or the revision moved on. Nothing changed.".to_owned(),
                };
                tracing::info!(rollout = %target.rollout, user, action = action.as_str(), "click not recorded: {note}");
                tell(note).await;
            }
            Err(err) => {
                let error = self.redactor.redact(&err.to_string());
                tracing::error!(rollout = %target.rollout, user, action = action.as_str(), error = %error, "click not recorded: table unavailable");
                tell(format!(
                    "Your decision could not be recorded: the gate's table is unavailable ({error}). Nothing changed; try again."
                ))
                .await;
            }
        }
    }
}

/// Why a click lost: someone decided first, or the canary moved to another revision.
fn not_recorded(state: &GateState, revision: &str, gate: crate::state::Gate) -> String {
    if state.revision != revision {
        return format!(
            "This prompt is for revision {revision}; {} is now at revision {}, which waits for its own approval. Nothing changed.",
            state.rollout, state.revision
        );
    }
    let earlier = state
        .approved
        .get(&gate)
        .map(|decided| ("approved", decided))
        .or_else(|| {
            state
                .rollback
                .as_ref()
                .map(|decided| ("asked for a rollback", decided))
        });
    match earlier {
        Some((what, decided)) => format!(
            "Already decided: {} {what} at {}. Nothing changed.",
            who(decided),
            display_time(decided.at)
        ),
        None => "Someone decided first. Nothing changed.".to_owned(),
    }
}

/// Slack only needs a 200; an empty body leaves the message as it is.
fn acknowledged() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    response
}
