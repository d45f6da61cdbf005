//! The gate function: Flagger's manual gate, decided from Slack buttons, a decisions API for
//! scripts, or (opt-in) signed links in a Teams card.
//!
//! Flagger calls `confirm-rollout`, `confirm-traffic-increase` and `confirm-promotion` on every
//! analysis tick until one answers 2xx, and takes a 2xx from `rollback` as the order to roll
//! back. The gate answers from its DynamoDB table ([`store`]) and never opens by accident: a
//! table it cannot read answers 403. The first closed call of a gate for a revision posts one
//! prompt ([`prompt`]); a click, verified with the Slack app's signing secret ([`slack`]), by
//! someone in `APPROVERS` ([`approvers`]) records the decision once, the prompt is updated in
//! place, and Flagger goes on at its next tick. Every decision is logged and published to SNS
//! ([`publish`]).
//!
//! One request, one direction: route → authenticate → parse → read the state → answer or
//! decide → post or update prompts, publish → one status.

pub mod approvers;
pub mod config;
mod decisions;
mod hooks;
mod interactions;
pub mod links;
mod pages;
pub mod prompt;
pub mod publish;
pub mod routes;
pub mod slack;
pub mod state;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use flagger_relay_core::config::{ConfigError, Env, RelayToken, tls_roots};
use flagger_relay_core::contract::{RequestError, json_response};
use flagger_relay_core::deliver::{AttemptError, http_client};
use flagger_relay_core::redact::Redactor;
use flagger_relay_core::secrets::SecretSetting;
use flagger_relay_slack::bot::threads::ThreadStore;

use approvers::Approvers;
use config::{GateConfigError, GateSettings, LinkSettings};
use prompt::PromptView;
use publish::{DecisionDocument, DecisionTopic};
use routes::{ROUTES, Route};
use slack::{SigningSecret, SlackApi};
use state::{Gate, GateState, Prompt, PromptStatus, describe};
use store::{Change, GateStore};

/// The gate's credentials beside the relay token, each of which may come from a secret store
/// instead (`…_SECRET_ARN`).
pub const SECRETS: &[SecretSetting] = &[
    SecretSetting {
        name: "SLACK_BOT_TOKEN",
        reference: "SLACK_BOT_TOKEN_SECRET_ARN",
    },
    SecretSetting {
        name: "SLACK_SIGNING_SECRET",
        reference: "SLACK_SIGNING_SECRET_SECRET_ARN",
    },
    SecretSetting {
        name: "TEAMS_WEBHOOK_URL",
        reference: "TEAMS_WEBHOOK_URL_SECRET_ARN",
    },
    SecretSetting {
        name: "APPROVAL_LINK_KEY",
        reference: "APPROVAL_LINK_KEY_SECRET_ARN",
    },
];

/// Time given to a Flagger call when the request carries no Lambda deadline (local runs).
const DEFAULT_BUDGET: Duration = Duration::from_secs(8);
/// Kept back from the Lambda deadline for answering.
const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);
/// One Slack, Teams or SNS call; several fit in a budget.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Slack as the gate uses it: the Web API, the channel, the signing secret, who may decide.
pub struct SlackGate {
    api: SlackApi,
    channel: String,
    signing_secret: SigningSecret,
    approvers: Approvers,
    /// `APPROVERS` as Slack mentions, shown on every prompt.
    mentions: String,
}

pub struct GateFunction {
    token: RelayToken,
    store: GateStore,
    slack: Option<SlackGate>,
    threads: Option<ThreadStore>,
    topic: Option<DecisionTopic>,
    links: Option<LinkSettings>,
    gate_url: Option<String>,
    client: reqwest::Client,
    redactor: Redactor,
}

impl GateFunction {
    /// Reads the whole configuration; a bad one ends the cold start (see `main`).
    pub fn from_env(env: &impl Env) -> Result<Self, GateConfigError> {
        let settings = GateSettings::from_env(env)?;
        let client = http_client(Duration::from_secs(2), tls_roots(env)?)
            .map_err(|err| ConfigError::HttpClient(err.to_string()))?;
        let mut secrets = vec![settings.token.expose().to_owned()];
        let slack = match &settings.slack {
            Some(slack) => {
                secrets.push(slack.token.expose().to_owned());
                secrets.push(slack.signing_secret.expose().to_owned());
                Some(SlackGate {
                    api: SlackApi::new(client.clone(), &slack.api_url, &slack.token)?,
                    channel: slack.channel.clone(),
                    signing_secret: slack.signing_secret.clone(),
                    mentions: slack.approvers.mentions(),
                    approvers: slack.approvers.clone(),
                })
            }
            None => None,
        };
        if let Some(links) = &settings.links {
            secrets.push(links.webhook.expose().to_owned());
            secrets.push(links.key.expose().to_owned());
        }
        Ok(GateFunction {
            token: settings.token,
            store: GateStore::new(settings.table),
            slack,
            threads: settings.threads_table.map(ThreadStore::new),
            topic: settings.topic.map(DecisionTopic::new),
            links: settings.links,
            gate_url: settings.gate_url,
            client,
            redactor: Redactor::new(secrets),
        })
    }

    /// Reaches DynamoDB and SNS with this SDK configuration instead of the environment's.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.store = GateStore::with_config(self.store.table().to_owned(), config.clone());
        self.threads = self
            .threads
            .map(|threads| ThreadStore::with_config(threads.table().to_owned(), config.clone()));
        self.topic = self.topic.map(|topic| topic.with_sdk_config(config));
        self
    }

    /// Serves one request. Never fails: every way it can end is a status and a body.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let route = routes::route(request.uri().path());
        let response = match &route {
            Route::Hook(hook) => self.hook(&request, *hook, started).await,
            Route::Interactions => self.interactions(&request, started).await,
            Route::Decisions { namespace, name } => {
                self.decisions(&request, namespace, name, started).await
            }
            Route::Link(action) => self.link(&request, *action, started).await,
            Route::NotFound(path) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no route {path:?}; the gate answers {ROUTES}")}),
            ),
        };
        let request_id = request
            .lambda_context_ref()
            .map(|context| context.request_id.clone())
            .unwrap_or_default();
        tracing::info!(
            request_id,
            method = %request.method(),
            route = route.name(),
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request answered"
        );
        response
    }

    /// After a decision is recorded: the log line, the SNS message, the prompts updated in
    /// place. None of these can undo the decision; a failure is logged.
    async fn announce(&self, rollout: &str, revision: &str, change: &Change, deadline: Instant) {
        let decided = &change.decided;
        tracing::info!(
            rollout,
            revision,
            action = change.action.as_str(),
            gates = ?change.gates.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            by = %decided.by,
            by_name = decided.name.as_deref().unwrap_or_default(),
            via = decided.via.as_str(),
            at = %prompt::display_time(decided.at),
            "decision recorded"
        );
        let publish = async {
            let Some(topic) = &self.topic else { return };
            let document =
                DecisionDocument::new(rollout, revision, change.action, &change.gates, decided);
            if let Err(err) = topic.publish(&document, call_timeout(deadline)).await {
                let error = self.redactor.redact(&err);
                tracing::warn!(rollout, error = %error, "the decision could not be published to SNS");
            }
        };
        let update = async {
            match self.store.load(rollout, deadline).await {
                Ok(Some(state)) if state.revision == revision => {
                    self.update_prompts(&state, &affected(change), deadline)
                        .await
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(rollout, error = %err, "could not read the decision back; the prompts stay as they were")
                }
            }
        };
        tokio::join!(publish, update);
    }

    /// The Slack prompts of `gates` show their state again: buttons while waiting, the
    /// decision once decided.
    async fn update_prompts(&self, state: &GateState, gates: &[Gate], deadline: Instant) {
        let Some(slack) = &self.slack else { return };
        for (gate, prompt) in &state.prompts {
            let Some(message) = prompt.slack.as_ref().filter(|_| gates.contains(gate)) else {
                continue;
            };
            let view = self.view(state, *gate, prompt, state.status(*gate));
            let body = prompt::message(&view, &message.channel, Some(&message.ts), None);
            if let Err(err) = slack.api.update(&body, call_timeout(deadline)).await {
                let error = self.redactor.redact(&attempt_reason(err));
                tracing::warn!(rollout = %state.rollout, gate = gate.as_str(), error = %error, "the prompt could not be updated");
            }
        }
    }

    fn view<'v>(
        &'v self,
        state: &'v GateState,
        gate: Gate,
        prompt: &'v Prompt,
        status: PromptStatus<'v>,
    ) -> PromptView<'v> {
        let (namespace, name) = state
            .rollout
            .split_once('/')
            .unwrap_or(("", state.rollout.as_str()));
        PromptView {
            name,
            namespace,
            revision: &state.revision,
            gate,
            facts: &prompt.facts,
            status,
            since: prompt.since,
            approvers: self
                .slack
                .as_ref()
                .map_or("anyone with the link", |slack| slack.mentions.as_str()),
            rollback_hook: state.rollback_hook,
        }
    }
}

/// The gates whose prompts a decision changes: an approval its own; a rollback those of the
/// analysis; a hold every one.
fn affected(change: &Change) -> Vec<Gate> {
    match change.action {
        state::Action::Approve => change.gates.clone(),
        state::Action::Rollback => Gate::ALL
            .into_iter()
            .filter(|g| g.can_roll_back())
            .collect(),
        state::Action::Hold => Gate::ALL.to_vec(),
    }
}

/// Runs the function until Lambda stops it, sharing one [`GateFunction`] between invocations.
pub async fn serve(gate: GateFunction) -> Result<(), lambda_http::Error> {
    let gate = Arc::new(gate);
    lambda_http::run_concurrent(lambda_http::service_fn(move |request: Request| {
        let gate = Arc::clone(&gate);
        async move { Ok::<_, std::convert::Infallible>(gate.handle(request).await) }
    }))
    .await
}

impl Route {
    fn name(&self) -> &'static str {
        match self {
            Route::Hook(hook) => hook.as_str(),
            Route::Interactions => "slack-interactions",
            Route::Decisions { .. } => "decisions",
            Route::Link(_) => "links",
            Route::NotFound(_) => "not-found",
        }
    }
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The Lambda deadline less a margin, so that the answer always leaves before Lambda stops the
/// function; without a Lambda context (local runs), a fixed budget.
fn lambda_deadline(request: &Request, started: Instant) -> Instant {
    let remaining = request
        .lambda_context_ref()
        .map(|context| {
            let now = u64::try_from(now_ms()).unwrap_or(0);
            Duration::from_millis(context.deadline.saturating_sub(now))
        })
        .filter(|remaining| !remaining.is_zero())
        .map(|remaining| remaining.saturating_sub(DEADLINE_MARGIN))
        .unwrap_or(DEFAULT_BUDGET);
    started + remaining
}

/// The time one outgoing call may take: its own limit, or what is left.
fn call_timeout(deadline: Instant) -> Duration {
    CALL_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()))
}

fn attempt_reason(err: AttemptError) -> String {
    match err {
        AttemptError::Transient { reason, .. }
        | AttemptError::Unanswered { reason }
        | AttemptError::Permanent { reason } => reason,
    }
}

fn refused(err: &RequestError) -> Response<Body> {
    json_response(err.status(), &json!({"error": err.to_string()}))
}

/// `base` with the fields of `more` added.
fn merge(mut base: Value, more: Value) -> Value {
    if let (Some(base), Value::Object(more)) = (base.as_object_mut(), more) {
        base.extend(more);
    }
    base
}

/// A decision's record for a response body.
fn decided_json(decided: &state::Decided) -> Value {
    json!({
        "by": decided.by,
        "name": decided.name,
        "via": decided.via.as_str(),
        "at": flagger_relay_core::event::Timestamp(decided.at).to_rfc3339(),
        "summary": describe(decided),
    })
}
