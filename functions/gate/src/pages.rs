//! `/links/{approve|rollback}`: the confirmation page a Teams approval link opens (`GET`,
//! which changes nothing) and its form (`POST`, which records the decision). Off unless
//! `TEAMS_APPROVAL_LINKS=true`.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use tokio::time::Instant;

use crate::links::{Link, LinkError, confirmation_page, escape_html, page};
use crate::prompt::display_time;
use crate::state::{Action, Decided, GateState, Via};
use crate::store::{Change, Rule};
use crate::{GateFunction, lambda_deadline, now_ms};

/// The longest name the form takes.
const BY_LIMIT: usize = 100;

impl GateFunction {
    pub(crate) async fn link(
        &self,
        request: &Request,
        action: Action,
        started: Instant,
    ) -> Response<Body> {
        let Some(links) = &self.links else {
            return html(
                StatusCode::NOT_FOUND,
                page(
                    "Not found",
                    "<p>Approval links are not enabled on this gate.</p>",
                ),
            );
        };
        let query = request.uri().query().unwrap_or_default();
        let link = match Link::verify(&links.key, action, query, now_ms() / 1000) {
            Ok(link) => link,
            Err(err) => {
                tracing::warn!(error = %err, "approval link refused");
                let status = match err {
                    LinkError::Malformed => StatusCode::BAD_REQUEST,
                    LinkError::Expired | LinkError::BadSignature => StatusCode::FORBIDDEN,
                };
                return html(
                    status,
                    message_page("This link does not work", &err.to_string()),
                );
            }
        };
        let deadline = lambda_deadline(request, started);
        let state = match self.store.load(&link.target.rollout, deadline).await {
            Ok(state) => state,
            Err(err) => {
                let error = self.redactor.redact(&err.to_string());
                tracing::error!(rollout = %link.target.rollout, error = %error, "approval link: table unavailable");
                return html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    message_page(
                        "Try again in a moment",
                        "The gate's table is unavailable; nothing was recorded.",
                    ),
                );
            }
        };
        let outdated = match &state {
            Some(state) if state.revision == link.target.revision => None,
            Some(state) => Some(format!(
                "This link is for revision {}; {} is now at revision {}, which waits for its own approval. Nothing was recorded.",
                link.target.revision, state.rollout, state.revision
            )),
            None => Some("The gate no longer knows this canary. Nothing was recorded.".to_owned()),
        };
        if let Some(outdated) = outdated {
            return html(
                StatusCode::CONFLICT,
                message_page("This link is out of date", &outdated),
            );
        }
        let state = state.unwrap_or_default();
        match *request.method() {
            Method::GET => {
                let facts = state
                    .prompts
                    .get(&link.target.gate)
                    .map(|prompt| prompt.facts.clone())
                    .unwrap_or_default();
                html(
                    StatusCode::OK,
                    confirmation_page(&link, &question(&link, &state), &facts),
                )
            }
            Method::POST => self.link_decision(request, &link, &state, deadline).await,
            _ => html(
                StatusCode::METHOD_NOT_ALLOWED,
                message_page("Not allowed", "Open the link, then use the form."),
            ),
        }
    }

    async fn link_decision(
        &self,
        request: &Request,
        link: &Link,
        state: &GateState,
        deadline: Instant,
    ) -> Response<Body> {
        let by = url::form_urlencoded::parse(request.body().as_ref())
            .find(|(key, _)| key == "by")
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default();
        if by.is_empty() || by.chars().count() > BY_LIMIT || by.chars().any(char::is_control) {
            return html(
                StatusCode::BAD_REQUEST,
                message_page(
                    "Your name, please",
                    &format!(
                        "Give your name (at most {BY_LIMIT} characters): it is recorded with the decision."
                    ),
                ),
            );
        }
        let gate = link.target.gate;
        let change = Change {
            action: link.action,
            gates: if link.action == Action::Approve {
                vec![gate]
            } else {
                Vec::new()
            },
            decided: Decided {
                by,
                name: None,
                via: Via::Link,
                at: now_ms(),
            },
            rule: Rule::FirstDecision(gate),
        };
        match self
            .store
            .decide(&state.rollout, &state.revision, &change, now_ms(), deadline)
            .await
        {
            Ok(true) => {
                self.announce(&state.rollout, &state.revision, &change, deadline)
                    .await;
                let what = match link.action {
                    Action::Approve => format!("The {} is approved", gate.waits_for()),
                    _ => "A rollback is requested".to_owned(),
                };
                html(
                    StatusCode::OK,
                    message_page(
                        "Recorded",
                        &format!(
                            "{what} for {} revision {}, by {} at {}. Flagger acts on it at its next check.",
                            state.rollout,
                            state.revision,
                            change.decided.by,
                            display_time(change.decided.at)
                        ),
                    ),
                )
            }
            Ok(false) => {
                let current = self
                    .store
                    .load(&state.rollout, deadline)
                    .await
                    .ok()
                    .flatten();
                let earlier = current.as_ref().and_then(|current| {
                    current
                        .approved
                        .get(&gate)
                        .map(|d| ("approved", d))
                        .or_else(|| {
                            current
                                .rollback
                                .as_ref()
                                .map(|d| ("asked for a rollback", d))
                        })
                        .map(|(what, decided)| {
                            format!(
                                "{} {what} at {}.",
                                plain_who(decided),
                                display_time(decided.at)
                            )
                        })
                });
                html(
                    StatusCode::CONFLICT,
                    message_page(
                        "Already decided",
                        &format!(
                            "{} Nothing was recorded.",
                            earlier.unwrap_or_else(|| {
                                "Someone decided first, or the revision moved on.".to_owned()
                            })
                        ),
                    ),
                )
            }
            Err(err) => {
                let error = self.redactor.redact(&err.to_string());
                tracing::error!(rollout = %state.rollout, error = %error, "approval link: decision not recorded");
                html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    message_page(
                        "Try again in a moment",
                        "The gate's table is unavailable; nothing was recorded.",
                    ),
                )
            }
        }
    }
}

fn question(link: &Link, state: &GateState) -> String {
    let canary = state.rollout.replace('/', " / ");
    match link.action {
        Action::Approve => format!(
            "Approve the {} of {canary}, revision {}?",
            link.target.gate.waits_for(),
            state.revision
        ),
        _ => format!(
            "Roll back {canary}, revision {}? Flagger routes all traffic back to the primary.",
            state.revision
        ),
    }
}

/// Who decided, as plain text for a page (the Slack form is mrkdwn).
fn plain_who(decided: &Decided) -> String {
    match decided.via {
        Via::Slack => format!("Slack user {}", decided.by),
        Via::Api => format!("{} (decisions API)", decided.by),
        Via::Link => format!("{} (signed link)", decided.by),
    }
}

fn message_page(title: &str, text: &str) -> String {
    page(title, &format!("<p>{}</p>", escape_html(text)))
}

/// An HTML answer that no one else may frame, cache or be referred from: the link it answers
/// carries a signature.
fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(page));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}
