//! The gate: a simulated Flagger calls the gate function on every analysis tick, as Flagger
//! does, against DynamoDB on moto and a wiremock stand-in for Slack's Web API (and the
//! `response_url` of a click). Clicks are signed with the app's signing secret exactly as Slack
//! signs them; decisions are read back from an SQS queue subscribed to the SNS topic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flagger_relay_gate::GateFunction;
use flagger_relay_gate::links::{Link, LinkKey};
use flagger_relay_gate::slack::{APPROVE, ROLLBACK, SigningSecret, Target};
use flagger_relay_gate::state::{Action, Gate};
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::skip_without;
use flagger_relay_tests::{Call, env, read, write_payloads};
use lambda_http::Body;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "gate-relay-token-2718281828";
const BOT_TOKEN: &str = "xoxb-2718281828-3141592653-gateBotTokenValue";
const SIGNING_SECRET: &str = "5c1e3f0a9b8d7c6e5f4a3b2c1d0e9f8a";
const LINK_KEY: &str = "link-key-0123456789abcdef0123456789abcdef";
const CHANNEL: &str = "C0RELAY";
const ALICE: &str = "U0ALICE";
const CAROL: &str = "U0CAROL";
const MALLORY: &str = "U0MALLORY";
const BOB: &str = "U0BOB";
const REVISION: &str = "bd5c8f7946";
const NEXT_REVISION: &str = "7f8c5d9b6c";

// ── Slack's Web API, as far as the gate uses it ─────────────────────────────────────────────

/// One request to the stand-in: a Web API call, or a note to a click's `response_url`.
#[derive(Debug, Clone)]
struct Exchange {
    /// `chat.postMessage`, `chat.update`, `usergroups.users.list`, or `response_url`.
    method: String,
    query: String,
    body: Value,
}

/// Answers as Slack does: `ok` with a fresh `ts` for a post, the same `ts` for an update, the
/// members of `S0SRE` (Bob) for a user-group lookup; checks the bot token; records every call.
struct WebApiStandIn {
    next: AtomicU64,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Respond for WebApiStandIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        let method = if path.starts_with("/actions/") {
            "response_url".to_owned()
        } else {
            path.trim_start_matches("/api/").to_owned()
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.exchanges.lock().unwrap().push(Exchange {
            method: method.clone(),
            query: request.url.query().unwrap_or_default().to_owned(),
            body: body.clone(),
        });
        if method == "response_url" {
            return ResponseTemplate::new(200).set_body_string("ok");
        }
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(format!("Bearer {BOT_TOKEN}").as_str());
        let answer = if !authorized {
            json!({"ok": false, "error": "invalid_auth"})
        } else {
            match method.as_str() {
                "chat.postMessage" => {
                    let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
                    json!({"ok": true, "channel": CHANNEL, "ts": format!("1764000000.{:06}", n * 100)})
                }
                "chat.update" => json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}),
                "usergroups.users.list" if request.url.query() == Some("usergroup=S0SRE") => {
                    json!({"ok": true, "users": [BOB]})
                }
                "usergroups.users.list" => json!({"ok": false, "error": "no_such_subteam"}),
                _ => json!({"ok": false, "error": "unknown_method"}),
            }
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

struct Slack {
    server: MockServer,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Slack {
    async fn start() -> Slack {
        let server = MockServer::start().await;
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        Mock::given(wiremock::matchers::any())
            .respond_with(WebApiStandIn {
                next: AtomicU64::new(0),
                exchanges: Arc::clone(&exchanges),
            })
            .mount(&server)
            .await;
        Slack { server, exchanges }
    }

    fn api_url(&self) -> String {
        format!("{}/api", self.server.uri())
    }

    fn response_url(&self) -> String {
        format!("{}/actions/T0/1/click", self.server.uri())
    }

    fn calls(&self, method: &str) -> Vec<Exchange> {
        self.exchanges
            .lock()
            .unwrap()
            .iter()
            .filter(|exchange| exchange.method == method)
            .cloned()
            .collect()
    }

    fn posts(&self) -> Vec<Value> {
        self.calls("chat.postMessage")
            .into_iter()
            .map(|e| e.body)
            .collect()
    }

    fn updates(&self) -> Vec<Value> {
        self.calls("chat.update")
            .into_iter()
            .map(|e| e.body)
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        self.calls("response_url")
            .into_iter()
            .map(|e| e.body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every message the gate produced, as the payload validator types them: Web API calls as
    /// `{"method", "arguments"}`, and `response_url` bodies as messages, without the
    /// `response_type` and `replace_original` that ride beside the message.
    fn messages(&self) -> Vec<Value> {
        self.exchanges
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.method != "usergroups.users.list")
            .map(|e| {
                if e.method.starts_with("chat.") {
                    return json!({"method": e.method, "arguments": e.body});
                }
                let mut body = e.body.clone();
                if let Some(object) = body.as_object_mut() {
                    for argument in ["response_type", "replace_original"] {
                        object.remove(argument);
                    }
                }
                body
            })
            .collect()
    }
}

/// Every payload of every test, for `make validate-payloads`: tests run in parallel, so each
/// appends under a lock and the file is rewritten whole.
fn keep_payloads(file: &'static str, payloads: Vec<Value>) {
    static KEPT: Mutex<BTreeMap<&'static str, Vec<Value>>> = Mutex::new(BTreeMap::new());
    let mut kept = KEPT.lock().unwrap();
    let all = kept.entry(file).or_default();
    all.extend(payloads);
    write_payloads(file, all);
}

// ── AWS on moto ──────────────────────────────────────────────────────────────────────────────

/// A fresh table as the template creates it.
async fn table(moto: &Moto) -> String {
    moto::create_table(&moto.sdk_config().await, "gates", "rollout").await
}

/// A topic with a queue subscribed to it (every message), and one subscribed as the fan-out
/// subscriptions of the Slack and Teams functions are (`source` = flagger or alertmanager).
struct Topic {
    arn: String,
    everything: String,
    fan_out: String,
}

impl Topic {
    async fn new() -> Topic {
        let config = Moto::shared().sdk_config().await;
        let arn = aws_sdk_sns::Client::new(&config)
            .create_topic()
            .name(moto::unique("decisions"))
            .send()
            .await
            .expect("moto creates the topic")
            .topic_arn
            .expect("a topic ARN");
        let everything = moto::subscribed_queue(&config, &arn, "all", None, false).await;
        let fan_out = moto::subscribed_queue(
            &config,
            &arn,
            "fanout",
            Some(r#"{"source":["flagger","alertmanager"]}"#),
            false,
        )
        .await;
        Topic {
            arn,
            everything,
            fan_out,
        }
    }

    /// `(attributes, document)` of each message published.
    async fn decisions(&self, expected: usize) -> Vec<(BTreeMap<String, String>, Value)> {
        let config = Moto::shared().sdk_config().await;
        moto::drain(&config, &self.everything, expected)
            .await
            .iter()
            .map(|message| {
                let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                let attributes = envelope["MessageAttributes"]
                    .as_object()
                    .map(|attributes| {
                        attributes
                            .iter()
                            .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let document = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                (attributes, document)
            })
            .collect()
    }
}

// ── The gate, Flagger and Slack's clicks ──────────────────────────────────────────────────────

struct Setup {
    slack: Slack,
    table: String,
}

impl Setup {
    async fn new() -> Setup {
        Setup {
            slack: Slack::start().await,
            table: table(Moto::shared()).await,
        }
    }

    /// The gate with Slack, Alice and Carol as approvers; `extra` adds or replaces settings.
    async fn gate(&self, extra: &[(&str, &str)]) -> GateFunction {
        self.gate_on(Moto::shared(), extra).await
    }

    async fn gate_on(&self, moto: &Moto, extra: &[(&str, &str)]) -> GateFunction {
        let api = self.slack.api_url();
        let mut vars = vec![
            ("RELAY_TOKEN", TOKEN),
            ("GATES_TABLE", self.table.as_str()),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_CHANNEL_ID", CHANNEL),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
            ("SLACK_API_URL", api.as_str()),
            ("APPROVERS", "U0ALICE, U0CAROL"),
        ];
        vars.extend_from_slice(extra);
        GateFunction::from_env(&env(&vars))
            .expect("a valid gate configuration")
            .with_sdk_config(moto.sdk_config().await)
    }
}

/// Flagger's side: one canary, calling the gate's hooks with the body Flagger sends.
struct Flagger {
    name: &'static str,
    namespace: &'static str,
    checksum: &'static str,
}

const PODINFO: Flagger = Flagger {
    name: "podinfo",
    namespace: "test",
    checksum: REVISION,
};

impl Flagger {
    fn at(&self, checksum: &'static str) -> Flagger {
        Flagger { checksum, ..*self }
    }

    fn body(&self, phase: &str) -> String {
        json!({"name": self.name, "namespace": self.namespace, "phase": phase,
               "checksum": self.checksum, "metadata": {"cluster": "prod-eu"}})
        .to_string()
    }

    /// One call of `hook` (`confirm-promotion`, `rollback` …), with the token in the query as
    /// Flagger sends it.
    async fn call(&self, gate: &GateFunction, hook: &str, phase: &str) -> (u16, Value) {
        let body = self.body(phase);
        let path = format!("/{hook}");
        let query = format!("token={TOKEN}");
        let call = Call::post(body.as_bytes()).path(&path).query(&query);
        read(gate.handle(call.request()).await)
    }

    /// `ticks` analysis intervals of Flagger asking `hook`, as a canary waiting for promotion
    /// does; every answer.
    async fn tick(&self, gate: &GateFunction, hook: &str, ticks: usize) -> Vec<(u16, Value)> {
        let mut answers = Vec::new();
        for _ in 0..ticks {
            answers.push(self.call(gate, hook, "Progressing").await);
        }
        answers
    }
}

/// The value a prompt's button carries: read from the message the gate posted, as Slack
/// sends it back on a click.
fn button(prompt: &Value, action_id: &str) -> String {
    prompt["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().unwrap().iter())
        .find(|element| element["action_id"] == action_id)
        .unwrap_or_else(|| panic!("no {action_id} button in {prompt}"))["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn has_buttons(message: &Value) -> bool {
    message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|block| block["type"] == "actions")
}

/// A click as Slack sends it: form-encoded `payload`, signed at `timestamp` with `secret`.
struct Click<'a> {
    user: &'a str,
    action_id: &'a str,
    value: String,
    response_url: String,
}

impl Click<'_> {
    fn body(&self) -> String {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": self.user, "username": self.user.to_lowercase(), "team_id": "T0"},
            "team": {"id": "T0", "domain": "example"},
            "channel": {"id": CHANNEL, "name": "deploys"},
            "container": {"type": "message", "message_ts": "1764000000.000100", "channel_id": CHANNEL},
            "trigger_id": "1.2.3",
            "response_url": self.response_url,
            "actions": [{"action_id": self.action_id, "block_id": "gate:confirm-promotion",
                         "type": "button", "value": self.value, "action_ts": "1764000001.000000"}]
        });
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
    }

    async fn send(&self, gate: &GateFunction) -> (u16, String) {
        let timestamp = flagger_relay_gate::now_ms() / 1000;
        self.send_signed(gate, SIGNING_SECRET, timestamp, None)
            .await
    }

    /// Sends the click signed with `secret` at `timestamp`; `body` replaces what was signed.
    async fn send_signed(
        &self,
        gate: &GateFunction,
        secret: &str,
        timestamp: i64,
        body: Option<&str>,
    ) -> (u16, String) {
        let signed = self.body();
        let timestamp = timestamp.to_string();
        let signature = SigningSecret::parse(secret)
            .unwrap()
            .sign(&timestamp, signed.as_bytes());
        let sent = body.unwrap_or(&signed);
        let call = Call::post(sent.as_bytes())
            .path("/slack/interactions")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &timestamp)
            .header("x-slack-signature", &signature);
        text(gate.handle(call.request()).await)
    }
}

fn click<'a>(slack: &Slack, user: &'a str, action_id: &'a str, value: &str) -> Click<'a> {
    Click {
        user,
        action_id,
        value: value.to_owned(),
        response_url: slack.response_url(),
    }
}

fn text(response: lambda_http::Response<Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    (status, body)
}

async fn api(
    gate: &GateFunction,
    method: &str,
    rollout: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let path = format!("/decisions/{rollout}");
    let body = body.to_string();
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut call = Call::post(body.as_bytes()).method(method).path(&path);
    if let Some(bearer) = &bearer {
        call = call.header("authorization", bearer);
    }
    read(gate.handle(call.request()).await)
}

// ── The story ────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn a_promotion_waits_for_an_approver_and_a_new_revision_waits_again() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let topic = Topic::new().await;
    let gate = setup.gate(&[("SNS_TOPIC_ARN", topic.arn.as_str())]).await;
    let slack = &setup.slack;

    // Flagger asks on every tick; the gate stays closed and prompts once.
    let answers = PODINFO.tick(&gate, "confirm-promotion", 3).await;
    for (status, body) in &answers {
        assert_eq!(*status, 403, "{body}");
        assert_eq!(body["status"], "closed");
        assert_eq!(body["reason"], "waiting for approval");
        assert_eq!(body["revision"], REVISION);
    }
    assert_eq!(answers[0].1["prompt"], "posted");
    assert_eq!(answers[2].1["prompt"], "posted earlier");
    let posts = slack.posts();
    assert_eq!(
        posts.len(),
        1,
        "one prompt per revision and gate: {posts:?}"
    );
    let prompt = &posts[0];
    assert_eq!(prompt["channel"], CHANNEL);
    assert_eq!(
        prompt["text"],
        "podinfo.test: promotion waits for approval (revision bd5c8f7946)"
    );
    let shown = prompt.to_string();
    for fact in ["prod-eu", "Progressing", "<@U0ALICE>", "<@U0CAROL>"] {
        assert!(shown.contains(fact), "{fact} in {shown}");
    }
    let approve = button(prompt, APPROVE);

    // Someone who is not an approver: told privately, nothing changes.
    let (status, _) = click(slack, MALLORY, APPROVE, &approve).send(&gate).await;
    assert_eq!(status, 200);
    let notes = slack.notes();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].starts_with("You are not allowed to decide on test/podinfo"),
        "{notes:?}"
    );
    assert!(slack.updates().is_empty());
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        403
    );

    // An approver: recorded, the prompt updated in place, and the next tick opens.
    let (status, _) = click(slack, ALICE, APPROVE, &approve).send(&gate).await;
    assert_eq!(status, 200);
    let updates = slack.updates();
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    assert_eq!(
        update["ts"], "1764000000.000100",
        "the prompt itself is updated"
    );
    assert_eq!(update["channel"], CHANNEL);
    assert!(!has_buttons(update), "buttons gone: {update}");
    assert_eq!(
        update["text"],
        "podinfo.test: promotion approved (revision bd5c8f7946)"
    );
    assert!(
        update.to_string().contains("*Approved* by <@U0ALICE> at "),
        "who and when: {update}"
    );
    let (status, body) = PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "open");
    assert_eq!(body["decision"]["by"], ALICE);
    assert_eq!(body["decision"]["via"], "slack");

    // The decision went to SNS, for subscribers; not to the chat functions' fan-out.
    let decisions = topic.decisions(1).await;
    assert_eq!(decisions.len(), 1);
    let (attributes, document) = &decisions[0];
    assert_eq!(attributes["eventType"], "decision");
    assert_eq!(attributes["source"], "gate");
    assert_eq!(document["action"], "approve");
    assert_eq!(document["by"], ALICE);
    assert_eq!(document["revision"], REVISION);
    assert_eq!(document["gates"], json!(["confirm-promotion"]));
    let config = Moto::shared().sdk_config().await;
    assert!(moto::drain(&config, &topic.fan_out, 0).await.is_empty());

    // A new revision waits for a new approval, with a prompt of its own.
    let next = PODINFO.at(NEXT_REVISION);
    let (status, body) = next.call(&gate, "confirm-promotion", "Progressing").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["prompt"], "posted", "{body}");
    assert_eq!(slack.posts().len(), 2);
    assert!(
        slack.posts()[1]["text"]
            .as_str()
            .unwrap()
            .contains(NEXT_REVISION)
    );

    // A click on the old prompt changes nothing, and says why.
    let (status, _) = click(slack, CAROL, APPROVE, &approve).send(&gate).await;
    assert_eq!(status, 200);
    assert!(
        slack
            .notes()
            .last()
            .unwrap()
            .contains("now at revision 7f8c5d9b6c"),
        "{:?}",
        slack.notes()
    );
    assert_eq!(
        next.call(&gate, "confirm-promotion", "Progressing").await.0,
        403
    );

    keep_payloads("slack-gate.jsonl", slack.messages());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roll_back_click_makes_the_rollback_hook_answer_yes_during_the_analysis() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[]).await;
    let slack = &setup.slack;
    // A tick: the rollback hook first, then the promotion gate (Flagger's order).
    let (status, body) = PODINFO.call(&gate, "rollback", "Progressing").await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("no rollback requested"))
    );
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        403
    );
    let prompt = &slack.posts()[0];
    let rollback = button(prompt, ROLLBACK);

    let (status, _) = click(slack, CAROL, ROLLBACK, &rollback).send(&gate).await;
    assert_eq!(status, 200);
    let (status, body) = PODINFO.call(&gate, "rollback", "Progressing").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["by"], CAROL);
    let (status, body) = PODINFO
        .call(&gate, "confirm-promotion", "WaitingPromotion")
        .await;
    assert_eq!(status, 403);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("a rollback was requested by U0CAROL")
    );
    let update = slack.updates().pop().expect("the prompt is updated");
    assert!(!has_buttons(&update));
    assert!(
        update
            .to_string()
            .contains("*Rollback requested* by <@U0CAROL>"),
        "{update}"
    );
    // Once Flagger has rolled back, the next revision waits behind confirm-rollout in phase
    // Waiting, under this checksum: the old rollback must not roll it back again.
    let (status, body) = PODINFO.call(&gate, "rollback", "Waiting").await;
    assert_eq!(status, 403, "{body}");
    // An approval cannot undo the rollback from a stale click.
    let (_, _) = click(slack, ALICE, APPROVE, &rollback).send(&gate).await;
    assert!(
        slack
            .notes()
            .last()
            .unwrap()
            .contains("asked for a rollback"),
        "{:?}",
        slack.notes()
    );

    keep_payloads("slack-gate.jsonl", slack.messages());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_approvers_clicking_at_once_make_one_decision_recorded_once() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let topic = Topic::new().await;
    let gate = setup.gate(&[("SNS_TOPIC_ARN", topic.arn.as_str())]).await;
    let slack = &setup.slack;
    PODINFO.call(&gate, "rollback", "Progressing").await;
    PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    let prompt = &slack.posts()[0];
    let approve = click(slack, ALICE, APPROVE, &button(prompt, APPROVE));
    let rollback = click(slack, CAROL, ROLLBACK, &button(prompt, ROLLBACK));
    let again = click(slack, CAROL, APPROVE, &button(prompt, APPROVE));
    let (a, b, c) = tokio::join!(approve.send(&gate), rollback.send(&gate), again.send(&gate));
    assert_eq!((a.0, b.0, c.0), (200, 200, 200));

    let (_, state) = api(&gate, "GET", "test/podinfo", Some(TOKEN), Value::Null).await;
    let decisions = state["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "one decision: {state}");
    assert_eq!(topic.decisions(1).await.len(), 1, "published once");
    assert_eq!(slack.updates().len(), 1, "the prompt updated once");
    let losers = slack.notes();
    assert_eq!(losers.len(), 2, "{losers:?}");
    assert!(
        losers
            .iter()
            .all(|note| note.starts_with("Already decided")),
        "{losers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_of_one_gate_post_one_prompt() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[]).await;
    let calls: Vec<_> = (0..8)
        .map(|_| PODINFO.call(&gate, "confirm-promotion", "Progressing"))
        .collect();
    let answers = futures_join_all(calls).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 403),
        "{answers:?}"
    );
    assert_eq!(setup.slack.posts().len(), 1, "one prompt: {answers:?}");
}

/// `join_all` without a futures dependency: every call is polled together, so all of them are
/// in flight before any answers.
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future,
{
    let mut outputs = Vec::with_capacity(futures.len());
    let pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = pinned.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => {
                        *result = Some(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.extend(results.into_iter().flatten());
    outputs
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_and_stale_signatures_are_refused_and_change_nothing() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[]).await;
    let slack = &setup.slack;
    PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    let approve = click(slack, ALICE, APPROVE, &button(&slack.posts()[0], APPROVE));
    let now = flagger_relay_gate::now_ms() / 1000;
    let forged = approve.body().replace("U0ALICE", "U0MALLORY");
    for (what, secret, timestamp, body) in [
        (
            "another app's secret",
            "0000000000000000aaaaaaaaaaaaaaaa",
            now,
            None,
        ),
        ("six minutes old", SIGNING_SECRET, now - 360, None),
        ("six minutes ahead", SIGNING_SECRET, now + 360, None),
        ("a changed body", SIGNING_SECRET, now, Some(forged.as_str())),
    ] {
        let (status, body) = approve.send_signed(&gate, secret, timestamp, body).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    let unsigned_body = approve.body();
    let unsigned = Call::post(unsigned_body.as_bytes())
        .path("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded");
    assert_eq!(text(gate.handle(unsigned.request()).await).0, 401);
    assert!(slack.notes().is_empty() && slack.updates().is_empty());
    let (status, body) = PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    assert_eq!(status, 403, "still closed: {body}");
    let (_, state) = api(&gate, "GET", "test/podinfo", Some(TOKEN), Value::Null).await;
    assert_eq!(state["decisions"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_cannot_be_read_keeps_every_gate_closed() {
    skip_without!(moto::available());
    let mut moto = Moto::start();
    let setup = Setup {
        slack: Slack::start().await,
        table: table(&moto).await,
    };
    let gate = setup.gate_on(&moto, &[]).await;
    PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    for body in [
        json!({"action": "approve", "by": "ci"}),
        json!({"action": "rollback", "by": "ci"}),
    ] {
        assert_eq!(
            api(&gate, "POST", "test/podinfo", Some(TOKEN), body)
                .await
                .0,
            200
        );
    }
    assert_eq!(PODINFO.call(&gate, "rollback", "Progressing").await.0, 200);

    moto.stop();
    for hook in ["confirm-promotion", "rollback", "confirm-rollout"] {
        let (status, body) = PODINFO.call(&gate, hook, "Progressing").await;
        assert_eq!(status, 403, "{hook} fails closed: {body}");
        assert_eq!(body["status"], "closed");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with("the gate's state could not be read, so the gate stays closed: DynamoDB GetItem failed"),
            "{error}"
        );
    }
    // A click that cannot be recorded says so, and the API answers 503.
    let approve = click(
        &setup.slack,
        ALICE,
        APPROVE,
        &button(&setup.slack.posts()[0], APPROVE),
    );
    assert_eq!(approve.send(&gate).await.0, 200);
    assert!(
        setup
            .slack
            .notes()
            .last()
            .unwrap()
            .contains("could not be recorded")
    );
    let (status, _) = api(&gate, "GET", "test/podinfo", Some(TOKEN), Value::Null).await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_decisions_api_needs_the_token_and_approves_holds_and_rolls_back() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let topic = Topic::new().await;
    let gate = setup.gate(&[("SNS_TOPIC_ARN", topic.arn.as_str())]).await;
    let slack = &setup.slack;
    let approve = json!({"action": "approve", "by": "ci-pipeline"});
    for token in [None, Some("wrong-token")] {
        assert_eq!(
            api(&gate, "GET", "test/podinfo", token, Value::Null)
                .await
                .0,
            401
        );
        assert_eq!(
            api(&gate, "POST", "test/podinfo", token, approve.clone())
                .await
                .0,
            401
        );
    }
    let (status, body) = api(&gate, "POST", "test/podinfo", Some(TOKEN), approve.clone()).await;
    assert_eq!(status, 404, "no call seen yet: {body}");

    PODINFO.call(&gate, "rollback", "Progressing").await;
    PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    for (body, expected) in [
        (json!({"action": "promote", "by": "ci"}), 400),
        (json!({"action": "approve"}), 400),
        (json!({"action": "approve", "by": "  "}), 400),
        (
            json!({"action": "approve", "by": "ci", "gate": "confirm-everything"}),
            400,
        ),
        (
            json!({"action": "approve", "by": "ci", "revision": NEXT_REVISION}),
            409,
        ),
    ] {
        let (status, answer) = api(&gate, "POST", "test/podinfo", Some(TOKEN), body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }

    // Approve: opens the gate Flagger waits on, and the prompt says who.
    let (status, body) = api(&gate, "POST", "test/podinfo", Some(TOKEN), approve).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["gates"], json!(["confirm-promotion"]));
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        200
    );
    assert_eq!(
        PODINFO.call(&gate, "confirm-rollout", "Succeeded").await.0,
        403,
        "approving the promotion does not approve the next rollout"
    );
    let update = slack.updates().pop().unwrap();
    assert!(
        update.to_string().contains("`ci-pipeline` (decisions API)"),
        "{update}"
    );

    // Hold: closed again, the prompt has its buttons back.
    let hold = json!({"action": "hold", "by": "sre-oncall"});
    assert_eq!(
        api(&gate, "POST", "test/podinfo", Some(TOKEN), hold)
            .await
            .0,
        200
    );
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        403
    );
    let update = slack.updates().pop().unwrap();
    assert!(
        has_buttons(&update) && update.to_string().contains("Held by `sre-oncall`"),
        "{update}"
    );

    // Roll back.
    let rollback = json!({"action": "rollback", "by": "ci-pipeline", "revision": REVISION});
    assert_eq!(
        api(&gate, "POST", "test/podinfo", Some(TOKEN), rollback)
            .await
            .0,
        200
    );
    assert_eq!(PODINFO.call(&gate, "rollback", "Progressing").await.0, 200);

    let (status, state) = api(&gate, "GET", "test/podinfo", Some(TOKEN), Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(state["revision"], REVISION);
    assert_eq!(state["rollback"]["status"], "requested");
    let actions: Vec<&str> = state["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approve", "hold", "rollback"]);
    let published: Vec<String> = topic
        .decisions(3)
        .await
        .into_iter()
        .map(|(_, document)| document["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(published, ["approve", "hold", "rollback"]);

    keep_payloads("slack-gate.jsonl", slack.messages());
}

#[tokio::test(flavor = "multi_thread")]
async fn approvers_may_be_a_user_group_looked_up_once() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[("APPROVERS", "S0SRE")]).await;
    let slack = &setup.slack;
    PODINFO
        .call(&gate, "confirm-traffic-increase", "Progressing")
        .await;
    let value = button(&slack.posts()[0], APPROVE);
    click(slack, MALLORY, APPROVE, &value).send(&gate).await;
    assert!(
        slack.notes()[0].contains("<!subteam^S0SRE>"),
        "{:?}",
        slack.notes()
    );
    click(slack, BOB, APPROVE, &value).send(&gate).await;
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-traffic-increase", "Progressing")
            .await
            .0,
        200
    );
    let lookups = slack.calls("usergroups.users.list");
    assert_eq!(lookups.len(), 1, "cached for the cold start");
    assert_eq!(lookups[0].query, "usergroup=S0SRE");
}

#[tokio::test(flavor = "multi_thread")]
async fn flaggers_calls_need_the_token_and_a_checksum() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[]).await;
    let body = PODINFO.body("Progressing");
    let unauthenticated = Call::post(body.as_bytes()).path("/confirm-promotion");
    assert_eq!(read(gate.handle(unauthenticated.request()).await).0, 401);
    let old = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{}}"#;
    let query = format!("token={TOKEN}");
    let call = Call::post(old).path("/confirm-promotion").query(&query);
    let (status, body) = read(gate.handle(call.request()).await);
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("checksum"),
        "{body}"
    );
    let call = Call::post(b"{}").path("/gate/open").query(&query);
    assert_eq!(read(gate.handle(call.request()).await).0, 404);
    assert!(setup.slack.posts().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_prompt_has_no_roll_back_and_opens_only_its_own_gate() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[]).await;
    let slack = &setup.slack;
    PODINFO.call(&gate, "rollback", "Succeeded").await;
    let (status, _) = PODINFO.call(&gate, "confirm-rollout", "Succeeded").await;
    assert_eq!(status, 403);
    let prompt = &slack.posts()[0];
    assert!(
        !prompt.to_string().contains(ROLLBACK),
        "nothing to roll back yet: {prompt}"
    );
    click(slack, ALICE, APPROVE, &button(prompt, APPROVE))
        .send(&gate)
        .await;
    assert_eq!(
        PODINFO.call(&gate, "confirm-rollout", "Waiting").await.0,
        200
    );
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        403
    );
    // A forged Roll back for the rollout gate (no such button exists) changes nothing.
    let forged = Target {
        rollout: "test/podinfo".into(),
        revision: REVISION.into(),
        gate: Gate::ConfirmRollout,
    };
    click(slack, ALICE, ROLLBACK, &forged.value())
        .send(&gate)
        .await;
    assert!(
        slack
            .notes()
            .last()
            .unwrap()
            .contains("nothing to roll back")
    );
    keep_payloads("slack-gate.jsonl", slack.messages());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_slack_the_gate_is_decided_through_the_api() {
    skip_without!(moto::available());
    let table = table(Moto::shared()).await;
    let gate = GateFunction::from_env(&env(&[("RELAY_TOKEN", TOKEN), ("GATES_TABLE", &table)]))
        .unwrap()
        .with_sdk_config(Moto::shared().sdk_config().await);
    let (status, body) = PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    assert_eq!(status, 403);
    assert!(
        body["prompt"].as_str().unwrap().starts_with("none"),
        "{body}"
    );
    let approve = json!({"action": "approve", "by": "ci"});
    assert_eq!(
        api(&gate, "POST", "test/podinfo", Some(TOKEN), approve)
            .await
            .0,
        200
    );
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        200
    );
    let signed = Call::post(b"payload=%7B%7D").path("/slack/interactions");
    assert_eq!(read(gate.handle(signed.request()).await).0, 404);
}

// ── Teams approval links ────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn a_teams_link_opens_a_confirmation_page_and_only_its_form_decides() {
    skip_without!(moto::available());
    let teams = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&teams)
        .await;
    let hook = format!(
        "{}/workflows/gate/triggers/manual/paths/invoke",
        teams.uri()
    );
    let setup = Setup::new().await;
    let gate = setup
        .gate(&[
            ("TEAMS_APPROVAL_LINKS", "true"),
            ("TEAMS_WEBHOOK_URL", &hook),
            ("APPROVAL_LINK_KEY", LINK_KEY),
        ])
        .await;
    PODINFO.call(&gate, "rollback", "Progressing").await;
    let (status, body) = PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    assert_eq!((status, body["prompt"].as_str()), (403, Some("posted")));
    let received = teams.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let card: Value = serde_json::from_slice(&received[0].body).unwrap();
    let actions = card["attachments"][0]["content"]["actions"]
        .as_array()
        .unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["type"], "Action.OpenUrl");
    let link = actions[0]["url"].as_str().unwrap();
    let prefix = "https://relaytest.lambda-url.eu-west-1.on.aws/links/approve?";
    assert!(
        link.starts_with(prefix),
        "the Function URL the call came to: {link}"
    );
    let query = &link[prefix.len()..];
    assert!(card.to_string().contains("links carry no identity"));

    // Opening the link (as Teams' preview does) changes nothing.
    let open = Call::post(b"")
        .method("GET")
        .path("/links/approve")
        .query(query);
    let (status, page) = text(gate.handle(open.request()).await);
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\"") && page.contains("carries no identity"));
    assert_eq!(
        PODINFO
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        403
    );

    // A changed link is refused; so is an expired one.
    let forged = query.replace(REVISION, NEXT_REVISION);
    let (status, _) = text(
        gate.handle(
            Call::post(b"by=eve")
                .path("/links/approve")
                .query(&forged)
                .request(),
        )
        .await,
    );
    assert_eq!(status, 403);
    let key = LinkKey::parse(LINK_KEY).unwrap();
    let expired = Link {
        action: Action::Approve,
        target: Target {
            rollout: "test/podinfo".into(),
            revision: REVISION.into(),
            gate: Gate::ConfirmPromotion,
        },
        expires: flagger_relay_gate::now_ms() / 1000 - 1,
    }
    .path_and_query(&key);
    let expired_query = expired.split_once('?').unwrap().1;
    let (status, page) = text(
        gate.handle(
            Call::post(b"by=eve")
                .path("/links/approve")
                .query(expired_query)
                .request(),
        )
        .await,
    );
    assert_eq!(status, 403);
    assert!(page.contains("expired"));

    // The form records the decision, with the name given and marked as a link's.
    let form = Call::post(b"by=Alice+%28on+call%29")
        .path("/links/approve")
        .query(query)
        .header("content-type", "application/x-www-form-urlencoded");
    let (status, page) = text(gate.handle(form.request()).await);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Alice (on call)"), "{page}");
    let (status, body) = PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["decision"]["by"].as_str(),
            body["decision"]["via"].as_str()
        ),
        (Some("Alice (on call)"), Some("link"))
    );
    let update = setup.slack.updates().pop().unwrap();
    assert!(
        update
            .to_string()
            .contains("Alice (on call) (signed link; the name is not verified)")
    );

    keep_payloads("teams-gate.jsonl", vec![card]);
}

/// Response bodies never hold a secret, whatever the route.
#[tokio::test(flavor = "multi_thread")]
async fn no_answer_shows_a_secret() {
    skip_without!(moto::available());
    let setup = Setup::new().await;
    let gate = setup.gate(&[]).await;
    let (_, closed) = PODINFO
        .call(&gate, "confirm-promotion", "Progressing")
        .await;
    let (_, state) = api(&gate, "GET", "test/podinfo", Some(TOKEN), Value::Null).await;
    let (_, refused) = click(&setup.slack, ALICE, APPROVE, "{}")
        .send_signed(
            &gate,
            "0000000000000000aaaaaaaaaaaaaaaa",
            flagger_relay_gate::now_ms() / 1000,
            None,
        )
        .await;
    for answer in [closed.to_string(), state.to_string(), refused] {
        for secret in [TOKEN, BOT_TOKEN, SIGNING_SECRET] {
            assert!(!answer.contains(secret), "{answer}");
        }
    }
}

// ── What people see ─────────────────────────────────────────────────────────────────────────

/// The prompt while it waits, once approved, once a rollback is requested, and the Teams
/// card: fixed inputs, so the snapshot is the contract for how a gate looks.
#[test]
fn the_prompt_and_the_card_as_people_see_them() {
    use flagger_relay_gate::links;
    use flagger_relay_gate::prompt::{self, PromptView};
    use flagger_relay_gate::state::{Decided, PromptStatus, Via};

    let facts = vec![
        ("Phase".to_owned(), "Progressing".to_owned()),
        ("Traffic".to_owned(), "▓▓▓▓▓░░░░░ 50% on canary".to_owned()),
        ("Latest".to_owned(), "canary weight 50%".to_owned()),
        ("cluster".to_owned(), "prod-eu".to_owned()),
    ];
    let alice = Decided {
        by: ALICE.into(),
        name: Some("alice".into()),
        via: Via::Slack,
        at: 1_764_018_722_000,
    };
    let ci = Decided {
        by: "ci-pipeline".into(),
        name: None,
        via: Via::Api,
        at: 1_764_018_700_000,
    };
    let view = |status| PromptView {
        name: "podinfo",
        namespace: "test",
        revision: REVISION,
        gate: Gate::ConfirmPromotion,
        facts: &facts,
        status,
        since: 1_764_018_601_918,
        approvers: "<@U0ALICE>, <!subteam^S0SRE>",
        rollback_hook: true,
    };
    let parent = Some("1764000000.000100");
    let messages = [
        prompt::message(
            &view(PromptStatus::Waiting { held: None }),
            CHANNEL,
            None,
            parent,
        ),
        prompt::message(
            &view(PromptStatus::Waiting { held: Some(&ci) }),
            CHANNEL,
            Some("1764000000.000900"),
            None,
        ),
        prompt::message(
            &view(PromptStatus::Approved(&alice)),
            CHANNEL,
            Some("1764000000.000900"),
            None,
        ),
        prompt::message(
            &view(PromptStatus::RollbackRequested(&ci)),
            CHANNEL,
            Some("1764000000.000900"),
            None,
        ),
    ];
    let json: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    insta::assert_json_snapshot!("gate-prompt", json);
    // Posted with chat.postMessage; the later states replace it with chat.update.
    let validated: Vec<Value> = json
        .into_iter()
        .map(|message| {
            let method = if message.get("ts").is_some() {
                "chat.update"
            } else {
                "chat.postMessage"
            };
            json!({"method": method, "arguments": message})
        })
        .collect();
    keep_payloads("slack-gate.jsonl", validated);

    let waiting = view(PromptStatus::Waiting { held: None });
    let card = links::card(
        &prompt::headline(&waiting),
        &prompt::holding(&waiting).replace(['*', '`'], ""),
        &facts,
        &[
            (
                Action::Approve,
                "https://gate.example/links/approve?sig=1".to_owned(),
            ),
            (
                Action::Rollback,
                "https://gate.example/links/rollback?sig=2".to_owned(),
            ),
        ],
    );
    let card = serde_json::to_value(&card).unwrap();
    insta::assert_json_snapshot!("gate-teams-card", card);
    keep_payloads("teams-gate.jsonl", vec![card]);
}

/// With bot threads on, the relay's Slack function has opened the rollout's thread; the
/// prompt goes in it (and to the channel), showing where the traffic stands.
#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_goes_in_the_rollouts_thread_when_bot_threads_are_on() {
    skip_without!(moto::available());
    use flagger_relay_core::deliver::RetryPolicy;
    use flagger_relay_core::{Destination, Notification, Presentation};
    use flagger_relay_slack::bot::SlackBot;

    let setup = Setup::new().await;
    let threads = table(Moto::shared()).await;
    let api = setup.slack.api_url();
    let bot = SlackBot::from_env(&env(&[
        ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ("SLACK_CHANNEL_ID", CHANNEL),
        ("SLACK_API_URL", api.as_str()),
        ("THREADS_TABLE", threads.as_str()),
    ]))
    .unwrap()
    .unwrap()
    .with_sdk_config(Moto::shared().sdk_config().await);
    // The gated lifecycle up to the promotion gate: new revision … canary weight 50%.
    let (_, fixtures) = flagger_relay_tests::lifecycles()
        .into_iter()
        .find(|(name, _)| name == "gated-success")
        .unwrap();
    for fixture in &fixtures[4..13] {
        let notification = Notification::from_slice(&fixture.body).unwrap();
        let classification = notification.classify();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let message = Presentation::new(&notification, &classification);
        bot.deliver(&message, &RetryPolicy::default(), deadline)
            .await
            .unwrap();
    }
    let parent = setup.slack.calls("chat.postMessage").len();
    let gated = Flagger {
        name: "podinfo",
        namespace: "gated",
        checksum: "bd5c8f7946",
    };
    let gate = setup.gate(&[("THREADS_TABLE", threads.as_str())]).await;
    assert_eq!(
        gated
            .call(&gate, "confirm-promotion", "Progressing")
            .await
            .0,
        403
    );
    let posts = setup.slack.posts();
    assert_eq!(posts.len(), parent + 1);
    let prompt = posts.last().unwrap();
    assert_eq!(prompt["thread_ts"], "1764000000.000100", "{prompt}");
    assert_eq!(prompt["reply_broadcast"], true);
    assert!(
        prompt.to_string().contains("▓▓▓▓▓░░░░░ 50% on canary"),
        "{prompt}"
    );
    // confirm-rollout names the running revision, whose thread is over: the channel it is.
    let next = Flagger {
        checksum: "0c4b5d9f7e",
        ..gated
    };
    next.call(&gate, "confirm-rollout", "Succeeded").await;
    assert!(
        setup
            .slack
            .posts()
            .last()
            .unwrap()
            .get("thread_ts")
            .is_none()
    );
    keep_payloads("slack-gate.jsonl", setup.slack.messages());
}
