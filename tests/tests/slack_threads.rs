//! Bot mode: one Slack thread per rollout, its state in DynamoDB.
//!
//! Slack's Web API is a wiremock stand-in that answers as Slack does (`ok` with a fresh `ts`,
//! or `ok:false` with an error) and records every call with its answer; the thread table is
//! DynamoDB on moto, one table per test. Events go through the relay's default filter first,
//! as they do in the function.

// Off until `functions/slack/src/lib.rs` declares `pub mod bot;`: without it the bot is not
// part of the crate and this file would not compile. Delete this line with that change.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flagger_relay_core::config::RelaySettings;
use flagger_relay_core::deliver::{Delivered, DeliveryFailure, FailureClass, RetryPolicy};
use flagger_relay_core::filter::Filter;
use flagger_relay_core::{Classification, Notification, Stage};
use flagger_relay_core::{Destination, Presentation, Relay};
use flagger_relay_slack::bot::SlackBot;
use flagger_relay_slack::render::escape;
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{Fixture, OPEN, env, lifecycles, root, skip_without, write_payloads};
use serde_json::{Value, json};
use tokio::time::Instant;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "xoxb-2718281828-3141592653-sekritBotTokenValue";
const CHANNEL: &str = "C0RELAY";
const POST: &str = "chat.postMessage";
const UPDATE: &str = "chat.update";

/// One Web API call and Slack's answer to it.
#[derive(Debug, Clone)]
struct Exchange {
    method: String,
    body: Value,
    answer: Value,
}

impl Exchange {
    fn thread_ts(&self) -> Option<&str> {
        self.body["thread_ts"].as_str()
    }

    fn broadcast(&self) -> bool {
        self.body["reply_broadcast"] == true
    }

    fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }
}

/// Slack's Web API as far as the bot uses it: checks the bearer token, hands out increasing
/// `ts` values like Slack's (`1764000000.000100`, `…000200`), echoes the `ts` an update names,
/// and answers from `script` first when a test wants errors.
struct WebApiStandIn {
    next: AtomicU64,
    script: Mutex<VecDeque<ResponseTemplate>>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    delay: Duration,
    /// Slack's error for the next replies (posts with a `thread_ts`), and how many.
    refused_replies: Arc<Mutex<Option<(String, usize)>>>,
}

impl Respond for WebApiStandIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.url.path().trim_start_matches("/api/").to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let record = |answer: Value| {
            let exchange = Exchange {
                method: method.clone(),
                body: body.clone(),
                answer,
            };
            self.exchanges.lock().unwrap().push(exchange);
        };
        if let Some(scripted) = self.script.lock().unwrap().pop_front() {
            record(Value::Null);
            return scripted;
        }
        if method == POST && body["thread_ts"].is_string() {
            let mut refused = self.refused_replies.lock().unwrap();
            if let Some((error, left)) = refused.as_mut()
                && *left > 0
            {
                *left -= 1;
                let answer = json!({"ok": false, "error": error.clone()});
                record(answer.clone());
                return ResponseTemplate::new(200).set_body_json(answer);
            }
        }
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let content_type = request
            .headers
            .get("content-type")
            .and_then(|value| value.to_str().ok());
        let answer = if authorization != Some(format!("Bearer {TOKEN}").as_str()) {
            json!({"ok": false, "error": "invalid_auth"})
        } else if content_type != Some("application/json; charset=utf-8") {
            json!({"ok": false, "error": "invalid_form_data"})
        } else {
            match method.as_str() {
                POST => {
                    let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
                    json!({"ok": true, "channel": CHANNEL, "ts": format!("1764000000.{:06}", n * 100), "message": {"text": body["text"]}})
                }
                UPDATE => {
                    json!({"ok": true, "channel": body["channel"], "ts": body["ts"], "text": body["text"]})
                }
                _ => json!({"ok": false, "error": "unknown_method"}),
            }
        };
        record(answer.clone());
        ResponseTemplate::new(200)
            .set_body_json(answer)
            .set_delay(self.delay)
    }
}

struct Slack {
    server: MockServer,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    refused_replies: Arc<Mutex<Option<(String, usize)>>>,
}

impl Slack {
    async fn start() -> Slack {
        Slack::scripted(Vec::new(), Duration::ZERO).await
    }

    async fn scripted(script: Vec<ResponseTemplate>, delay: Duration) -> Slack {
        let server = MockServer::start().await;
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let refused_replies = Arc::new(Mutex::new(None));
        let stand_in = WebApiStandIn {
            next: AtomicU64::new(0),
            script: Mutex::new(script.into()),
            exchanges: Arc::clone(&exchanges),
            delay,
            refused_replies: Arc::clone(&refused_replies),
        };
        Mock::given(method("POST"))
            .respond_with(stand_in)
            .mount(&server)
            .await;
        Slack {
            server,
            exchanges,
            refused_replies,
        }
    }

    /// From now on, the next `times` replies are refused with Slack's `error`.
    fn refuse_replies(&self, error: &str, times: usize) {
        *self.refused_replies.lock().unwrap() = Some((error.to_owned(), times));
    }

    fn api_url(&self) -> String {
        format!("{}/api", self.server.uri())
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    fn calls(&self, method: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|exchange| exchange.method == method)
            .collect()
    }
}

fn ok_false(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

/// A fresh thread table on the shared moto, as the template creates it.
async fn table() -> String {
    let config = Moto::shared().sdk_config().await;
    moto::create_table(&config, "threads", "rollout").await
}

/// Quick retries: the policy's shape is under test, not its delays.
fn fast() -> RetryPolicy {
    RetryPolicy {
        attempt_timeout: Duration::from_secs(3),
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_attempts: 3,
        min_attempt_time: Duration::from_millis(10),
        max_throttled_wait: Duration::from_secs(2),
    }
}

async fn bot(slack: &Slack, table: Option<&str>) -> SlackBot {
    bot_with_aws(slack, table, Moto::shared().sdk_config().await)
}

fn bot_with_aws(slack: &Slack, table: Option<&str>, aws: aws_config::SdkConfig) -> SlackBot {
    let api = slack.api_url();
    let mut vars = vec![
        ("SLACK_BOT_TOKEN", TOKEN),
        ("SLACK_CHANNEL_ID", CHANNEL),
        ("SLACK_API_URL", api.as_str()),
    ];
    vars.extend(table.map(|table| ("THREADS_TABLE", table)));
    SlackBot::from_env(&env(&vars))
        .expect("valid bot settings")
        .expect("bot mode is on with a token")
        .with_sdk_config(aws)
}

/// One event as the relay hands it over: parsed, classified, filtered.
struct Event {
    notification: Notification,
    classification: Classification,
}

impl Event {
    fn parse(body: &[u8]) -> Event {
        let notification = Notification::from_slice(body).expect("a recorded notification");
        let classification = notification.classify();
        Event {
            notification,
            classification,
        }
    }

    fn passes(&self, filter: &Filter) -> bool {
        filter.passes(&self.notification, &self.classification)
    }

    /// The rollout it belongs to, by Flagger's checksum.
    fn revision(&self) -> String {
        match &self.notification {
            Notification::Canary(event) => format!(
                "{}/{}",
                event.canary_ref(),
                event.checksum.clone().unwrap_or_default()
            ),
            Notification::Alerts(group) => group.group_key.clone(),
        }
    }

    /// What its own message says, as the reply's `text`.
    fn text(&self) -> String {
        escape(&format!(
            "{}: {}",
            self.notification.subject(),
            self.classification.headline.clone()
        ))
    }

    async fn deliver(&self, bot: &SlackBot) -> Result<Delivered, DeliveryFailure> {
        let message = Presentation::new(&self.notification, &self.classification);
        bot.deliver(&message, &fast(), Instant::now() + Duration::from_secs(10))
            .await
    }
}

fn events(fixtures: &[Fixture]) -> Vec<Event> {
    fixtures
        .iter()
        .map(|fixture| Event::parse(&fixture.body))
        .collect()
}

fn lifecycle(name: &str) -> Vec<Event> {
    let (_, fixtures) = lifecycles()
        .into_iter()
        .find(|(lifecycle, _)| lifecycle == name)
        .expect("a recorded lifecycle");
    events(&fixtures)
}

/// Delivers each event that passes `filter`, in order; returns those delivered, each with the
/// rollout it is expected in.
async fn deliver_all<'e>(
    bot: &SlackBot,
    events: &'e [(String, Event)],
    filter: &Filter,
) -> Vec<(&'e str, &'e Event)> {
    let mut delivered = Vec::new();
    for (rollout, event) in events {
        if !event.passes(filter) {
            continue;
        }
        let result = event.deliver(bot).await;
        assert!(result.is_ok(), "{}: {result:?}", event.text());
        delivered.push((rollout.as_str(), event));
    }
    delivered
}

fn by_revision(events: Vec<Event>) -> Vec<(String, Event)> {
    events
        .into_iter()
        .map(|event| (event.revision(), event))
        .collect()
}

/// The stage a rollout's parent ends on: a canary's outcome once there is one, else the last
/// stage; an alert group's latest status.
fn final_stage(events: &[&Event]) -> Stage {
    let last = events.last().expect("a rollout has events");
    if matches!(last.notification, Notification::Alerts(_)) {
        return last.classification.stage;
    }
    let outcome = events
        .iter()
        .rev()
        .map(|e| e.classification.stage)
        .find(|s| matches!(s, Stage::Succeeded | Stage::Failed));
    outcome.unwrap_or(last.classification.stage)
}

/// The threads Slack received, checked against the events delivered: one parent per rollout,
/// opened by its first event; every other event in that parent's thread, in order, the
/// outcome broadcast; every update aimed at a parent, the last one showing the final stage
/// and every event counted. Returns each rollout's parent `ts`, in order of opening.
fn assert_threads(
    name: &str,
    delivered: &[(&str, &Event)],
    slack: &Slack,
) -> Vec<(String, String)> {
    let posts = slack.calls(POST);
    assert_eq!(
        posts.len(),
        delivered.len(),
        "{name}: one post per delivered event"
    );
    let mut parents: Vec<(String, String)> = Vec::new();
    let mut replies = 0;
    for ((rollout, event), post) in delivered.iter().zip(&posts) {
        assert_eq!(post.body["channel"], CHANNEL, "{name}");
        match parents.iter().find(|(opened, _)| opened == rollout) {
            None => {
                assert_eq!(
                    post.thread_ts(),
                    None,
                    "{name}: the first event of {rollout} opens its parent: {}",
                    post.body
                );
                assert!(
                    post.text().contains(&escape(&event.notification.subject())),
                    "{name}: {}",
                    post.text()
                );
                let ts = post.answer["ts"]
                    .as_str()
                    .expect("Slack answered with a ts")
                    .to_owned();
                parents.push(((*rollout).to_owned(), ts));
            }
            Some((_, parent)) => {
                replies += 1;
                assert_eq!(
                    post.thread_ts(),
                    Some(parent.as_str()),
                    "{name}: {} goes in the thread of {rollout}",
                    event.text()
                );
                assert_eq!(
                    post.text(),
                    event.text(),
                    "{name}: replies come in the order of the events"
                );
                let outcome =
                    matches!(event.classification.stage, Stage::Succeeded | Stage::Failed);
                assert_eq!(
                    post.broadcast(),
                    outcome,
                    "{name}: only the outcome is broadcast: {}",
                    event.text()
                );
            }
        }
    }
    let updates = slack.calls(UPDATE);
    assert_eq!(
        updates.len(),
        replies,
        "{name}: the parent is updated after every reply"
    );
    for (rollout, parent) in &parents {
        let rollout_events: Vec<&Event> = delivered
            .iter()
            .filter(|(r, _)| r == rollout)
            .map(|(_, e)| *e)
            .collect();
        let own: Vec<&Exchange> = updates
            .iter()
            .filter(|update| update.body["ts"] == parent.as_str())
            .collect();
        assert_eq!(
            own.len(),
            rollout_events.len() - 1,
            "{name}: {rollout} is updated once per reply"
        );
        let Some(last) = own.last() else { continue };
        let stage = final_stage(&rollout_events);
        let fields = last.body.to_string();
        let shown = format!("*Stage*\\n{}\"", stage.as_str());
        assert!(
            fields.contains(&shown),
            "{name}: {rollout} ends {}: {fields}",
            stage.as_str()
        );
        let count = format!("*Events*\\n{}\"", rollout_events.len());
        assert!(
            fields.contains(&count),
            "{name}: {rollout} counts {count}: {fields}"
        );
    }
    let unknown = updates
        .iter()
        .filter(|update| {
            !parents
                .iter()
                .any(|(_, ts)| update.body["ts"] == ts.as_str())
        })
        .count();
    assert_eq!(unknown, 0, "{name}: every update targets a parent");
    parents
}

/// A Web API call as the payload validator types it: the method's arguments, `ts` and
/// `reply_broadcast` included, checked against that method's own type.
fn web_api_call(exchange: &Exchange) -> Value {
    json!({"method": exchange.method, "arguments": exchange.body})
}

#[tokio::test]
async fn every_recorded_lifecycle_is_one_thread_per_rollout() {
    skip_without!(moto::available());
    let mut payloads = Vec::new();
    for (name, fixtures) in lifecycles() {
        let slack = Slack::start().await;
        let table = table().await;
        let bot = bot(&slack, Some(&table)).await;
        let events = by_revision(events(&fixtures));
        let delivered = deliver_all(&bot, &events, &Filter::default()).await;
        let parents = assert_threads(&name, &delivered, &slack);
        let rollouts: std::collections::BTreeSet<&str> =
            delivered.iter().map(|(rollout, _)| *rollout).collect();
        assert_eq!(
            parents.len(),
            rollouts.len(),
            "{name}: exactly one parent per rollout"
        );
        let calls: Vec<Value> = slack
            .exchanges()
            .iter()
            .map(|e| json!({"method": e.method, "body": e.body, "answer_ts": e.answer["ts"]}))
            .collect();
        if [
            "canary-success",
            "canary-rollback-metrics",
            "restart-and-errors",
        ]
        .contains(&name.as_str())
        {
            insta::assert_json_snapshot!(name.as_str(), calls);
        }
        payloads.extend(slack.exchanges().iter().map(web_api_call));
    }
    write_payloads("slack-bot.jsonl", &payloads);
}

#[tokio::test]
async fn a_restart_mid_analysis_opens_a_new_parent_and_leaves_the_old_one_as_it_was() {
    skip_without!(moto::available());
    let slack = Slack::start().await;
    let table = table().await;
    let bot = bot(&slack, Some(&table)).await;
    let events = by_revision(lifecycle("restart-and-errors"));
    let delivered = deliver_all(&bot, &events, &Filter::default()).await;
    let parents = assert_threads("restart-and-errors", &delivered, &slack);
    // Three revisions: the first, the restart at weight 10, and the restart at the end.
    assert_eq!(parents.len(), 3, "{parents:?}");
    let first_parent = &parents[0].1;
    let updates = slack.calls(UPDATE);
    let last_update_of_first = updates
        .iter()
        .rposition(|update| update.body["ts"] == first_parent.as_str())
        .expect("the first rollout was updated");
    let first_update_of_second = updates
        .iter()
        .position(|update| update.body["ts"] == parents[1].1.as_str())
        .expect("the second rollout was updated");
    assert!(
        last_update_of_first < first_update_of_second,
        "after the restart, only the new parent changes"
    );
}

#[tokio::test]
async fn two_canaries_interleaved_get_a_thread_each() {
    skip_without!(moto::available());
    let slack = Slack::start().await;
    let table = table().await;
    let bot = bot(&slack, Some(&table)).await;
    let mut first = by_revision(lifecycle("canary-success")).into_iter();
    let mut second = by_revision(lifecycle("ab-testing-success")).into_iter();
    let mut interleaved = Vec::new();
    loop {
        let (a, b) = (first.next(), second.next());
        if a.is_none() && b.is_none() {
            break;
        }
        interleaved.extend(a);
        interleaved.extend(b);
    }
    let delivered = deliver_all(&bot, &interleaved, &Filter::default()).await;
    let parents = assert_threads("interleaved", &delivered, &slack);
    let canaries: std::collections::BTreeSet<String> = parents
        .iter()
        .map(|(rollout, _)| {
            rollout
                .rsplit_once('/')
                .map(|(canary, _)| canary.to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        canaries.into_iter().collect::<Vec<_>>(),
        ["shop/checkout", "test/podinfo"]
    );
    // Each canary: its initialisation, then its revision.
    assert_eq!(parents.len(), 4, "{parents:?}");
}

/// Older Flagger sends no checksum: a rollout is what follows a "New revision detected" event.
#[tokio::test]
async fn rollouts_without_checksum_are_told_apart_by_their_new_revision_event() {
    skip_without!(moto::available());
    for (name, expected_parents) in [("canary-success", 2), ("restart-and-errors", 3)] {
        let slack = Slack::start().await;
        let table = table().await;
        let bot = bot(&slack, Some(&table)).await;
        let mut rollout = 0;
        let mut events = Vec::new();
        for event in lifecycle(name) {
            let mut body = serde_json::to_value(match &event.notification {
                Notification::Canary(canary) => canary,
                Notification::Alerts(_) => unreachable!("Flagger lifecycles hold Flagger events"),
            })
            .unwrap();
            body.as_object_mut().unwrap().remove("checksum");
            let event = Event::parse(body.to_string().as_bytes());
            if event.classification.stage == Stage::NewRevision {
                rollout += 1;
            }
            events.push((format!("rollout {rollout}"), event));
        }
        let delivered = deliver_all(&bot, &events, &Filter::default()).await;
        let parents = assert_threads(name, &delivered, &slack);
        assert_eq!(parents.len(), expected_parents, "{name}: {parents:?}");
    }
}

#[tokio::test]
async fn an_alert_group_is_one_thread_keyed_by_its_group_key() {
    skip_without!(moto::available());
    let slack = Slack::start().await;
    let table = table().await;
    let bot = bot(&slack, Some(&table)).await;
    let read = |name: &str| {
        std::fs::read(root().join(format!("events/alertmanager/{name}.json")))
            .expect("an Alertmanager fixture")
    };
    let events = by_revision(vec![
        Event::parse(&read("canary-rollback-firing")),
        Event::parse(&read("canary-rollback-resolved")),
    ]);
    let delivered = deliver_all(&bot, &events, &Filter::default()).await;
    let parents = assert_threads("alerts", &delivered, &slack);
    assert_eq!(parents.len(), 1);
    let update = slack
        .calls(UPDATE)
        .pop()
        .expect("the parent follows the group");
    assert!(update.text().contains("resolved"), "{}", update.text());
}

#[tokio::test]
async fn filtered_events_neither_post_nor_update_and_the_parent_shows_the_latest_that_passed() {
    skip_without!(moto::available());
    let slack = Slack::start().await;
    let table = table().await;
    let bot = bot(&slack, Some(&table)).await;
    let filter = Filter::from_env(&env(&[("MIN_SEVERITY", "warning")])).unwrap();
    let events = by_revision(lifecycle("canary-rollback-metrics"));
    let passing = events
        .iter()
        .filter(|(_, event)| event.passes(&filter))
        .count();
    assert!(
        passing < events.len(),
        "the filter drops part of the lifecycle"
    );
    let delivered = deliver_all(&bot, &events, &filter).await;
    assert_threads("filtered", &delivered, &slack);
    assert_eq!(
        slack.calls(POST).len() + slack.calls(UPDATE).len(),
        2 * passing - 1
    );
    // Opened by the first warning: a replica that was not ready yet.
    assert!(
        slack.calls(POST)[0].text().contains("not ready"),
        "{}",
        slack.calls(POST)[0].text()
    );
}

#[tokio::test]
async fn a_late_event_is_threaded_without_taking_the_parent_back() {
    skip_without!(moto::available());
    let slack = Slack::start().await;
    let table = table().await;
    let bot = bot(&slack, Some(&table)).await;
    let event = |message: &str, at: u64| {
        let body = json!({"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "b4d9c6f58d",
            "metadata": {"eventMessage": message, "eventType": "Normal", "timestamp": at.to_string()}});
        Event::parse(body.to_string().as_bytes())
    };
    for e in [
        event("New revision detected! Scaling up podinfo.test", 1_000),
        event("Advance podinfo.test canary weight 30", 3_000),
        event("Advance podinfo.test canary weight 20", 2_000),
    ] {
        e.deliver(&bot).await.unwrap();
    }
    let last = slack.calls(UPDATE).pop().unwrap();
    assert!(
        last.body.to_string().contains("30% on canary"),
        "{}",
        last.body
    );
    assert!(
        last.body.to_string().contains("*Events*\\n3"),
        "{}",
        last.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_of_a_new_rollout_open_exactly_one_parent() {
    skip_without!(moto::available());
    // Slack takes its time, so the second invocation finds the parent claimed but not posted.
    let slack = Slack::scripted(Vec::new(), Duration::from_millis(300)).await;
    let table = table().await;
    // Two Lambda instances: nothing shared but the table.
    let (one, two) = (
        bot(&slack, Some(&table)).await,
        bot(&slack, Some(&table)).await,
    );
    for revision in ["4b5c6d7f8f", "5c6d7f8f9b", "6d7f8f9b4c"] {
        let event = |message: &str, at: u64| {
            let body = json!({"name": "podinfo", "namespace": "race", "phase": "Progressing", "checksum": revision,
                "metadata": {"eventMessage": message, "eventType": "Normal", "timestamp": at.to_string()}});
            Event::parse(body.to_string().as_bytes())
        };
        let (a, b) = (
            event("New revision detected! Scaling up podinfo.race", 1_000),
            event("Starting canary analysis for podinfo.race", 2_000),
        );
        let (ra, rb) = tokio::join!(a.deliver(&one), b.deliver(&two));
        assert!(ra.is_ok() && rb.is_ok(), "{ra:?} {rb:?}");
    }
    let posts = slack.calls(POST);
    assert_eq!(posts.len(), 6);
    let parents: Vec<&Exchange> = posts
        .iter()
        .filter(|post| post.thread_ts().is_none())
        .collect();
    assert_eq!(parents.len(), 3, "one parent per rollout: {parents:#?}");
    for parent in &parents {
        let ts = parent.answer["ts"].as_str().unwrap();
        let replies = posts
            .iter()
            .filter(|post| post.thread_ts() == Some(ts))
            .count();
        assert_eq!(replies, 1, "the loser threads under the winner");
    }
}

mod web_api_errors {
    use super::*;

    const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;
    const NEXT: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"eventMessage":"Advance podinfo.test canary weight 20","eventType":"Normal","timestamp":"1721556060123"}}"#;

    #[tokio::test]
    async fn ratelimited_is_retried_then_delivered() {
        skip_without!(moto::available());
        let slack = Slack::scripted(vec![ok_false("ratelimited")], Duration::ZERO).await;
        let bot = bot(&slack, Some(&table().await)).await;
        let delivered = Event::parse(ADVANCE)
            .deliver(&bot)
            .await
            .expect("delivered on the second attempt");
        assert_eq!(delivered.attempts, 2);
        assert_eq!(
            slack.calls(POST).len(),
            2,
            "the same parent, asked for twice"
        );
    }

    #[tokio::test]
    async fn a_429_is_retried_after_the_time_slack_asks_for() {
        skip_without!(moto::available());
        let limited = ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_string("");
        let slack = Slack::scripted(vec![limited], Duration::ZERO).await;
        let bot = bot(&slack, Some(&table().await)).await;
        let delivered = Event::parse(ADVANCE)
            .deliver(&bot)
            .await
            .expect("delivered after the wait");
        assert_eq!(delivered.attempts, 2);
    }

    #[tokio::test]
    async fn a_slack_outage_is_transient() {
        skip_without!(moto::available());
        let slack = Slack::scripted(vec![ResponseTemplate::new(503); 3], Duration::ZERO).await;
        let bot = bot(&slack, Some(&table().await)).await;
        let failure = Event::parse(ADVANCE).deliver(&bot).await.unwrap_err();
        assert_eq!(
            (failure.class, failure.attempts),
            (FailureClass::Transient, 3)
        );
        assert_eq!(failure.reason, "chat.postMessage failed: HTTP 503");
    }

    #[tokio::test]
    async fn refusals_are_permanent_with_slacks_error_and_free_the_rollout_for_the_next_event() {
        skip_without!(moto::available());
        for error in [
            "not_in_channel",
            "channel_not_found",
            "invalid_auth",
            "missing_scope",
        ] {
            let slack = Slack::scripted(vec![ok_false(error)], Duration::ZERO).await;
            let bot = bot(&slack, Some(&table().await)).await;
            let failure = Event::parse(ADVANCE).deliver(&bot).await.unwrap_err();
            assert_eq!(
                (failure.class, failure.attempts),
                (FailureClass::Permanent, 1),
                "{error}"
            );
            assert!(
                failure
                    .reason
                    .starts_with(&format!("chat.postMessage failed: {error}")),
                "{}",
                failure.reason
            );
            // Fixed: the next event opens the rollout's parent, at once.
            Event::parse(NEXT)
                .deliver(&bot)
                .await
                .expect("delivered once Slack accepts");
            let posts = slack.calls(POST);
            assert_eq!(posts.len(), 2);
            assert_eq!(
                posts[1].thread_ts(),
                None,
                "{error}: the next event opens the parent"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_parent_update_does_not_fail_a_delivered_event() {
        skip_without!(moto::available());
        let slack = Slack::start().await;
        let bot = bot(&slack, Some(&table().await)).await;
        Event::parse(ADVANCE).deliver(&bot).await.unwrap();
        // The parent was deleted by hand in the meantime.
        Mock::given(method("POST"))
            .and(wiremock::matchers::path("/api/chat.update"))
            .respond_with(ok_false("message_not_found"))
            .with_priority(1)
            .expect(1)
            .mount(&slack.server)
            .await;
        assert!(Event::parse(NEXT).deliver(&bot).await.is_ok());
    }
}

/// Logs of everything that happens while it is held, at every level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    /// Captures this thread's logs (the test's runtime is single-threaded) until the guard drops.
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// An AWS endpoint nothing listens on.
async fn unreachable_aws() -> aws_config::SdkConfig {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    moto::sdk_config(&endpoint).await
}

#[tokio::test]
async fn a_thread_table_outage_falls_back_to_plain_posts_and_says_so() {
    let (logs, _guard) = Logs::capture();
    let slack = Slack::start().await;
    let bot = bot_with_aws(
        &slack,
        Some("flagger-relay-threads"),
        unreachable_aws().await,
    );
    for event in lifecycle("manual-rollback") {
        assert!(event.deliver(&bot).await.is_ok(), "never lost");
    }
    let posts = slack.calls(POST);
    assert_eq!(posts.len(), 8, "every event is posted");
    assert!(
        posts.iter().all(|post| post.thread_ts().is_none()),
        "as plain messages"
    );
    assert!(slack.calls(UPDATE).is_empty());
    let logs = logs.text();
    assert!(
        logs.contains("WARN")
            && logs.contains("thread table unavailable; posting the event as a plain message"),
        "{logs}"
    );
}

#[tokio::test]
async fn without_a_thread_table_every_event_is_a_plain_message() {
    skip_without!(moto::available());
    let slack = Slack::start().await;
    let bot = bot(&slack, None).await;
    for event in lifecycle("blue-green-success") {
        if event.passes(&Filter::default()) {
            event.deliver(&bot).await.unwrap();
        }
    }
    assert!(
        slack
            .calls(POST)
            .iter()
            .all(|post| post.thread_ts().is_none())
    );
}

#[tokio::test]
async fn the_bot_token_never_appears_in_logs_or_failure_reasons() {
    skip_without!(moto::available());
    let (logs, _guard) = Logs::capture();
    let mut reasons = Vec::new();
    // A lifecycle threaded end to end.
    let slack = Slack::start().await;
    let table = table().await;
    let threaded = bot(&slack, Some(&table)).await;
    for event in lifecycle("canary-rollback-metrics") {
        let _ = event.deliver(&threaded).await;
    }
    // Slack refusing the token, and quoting it back.
    let echo = ResponseTemplate::new(200)
        .set_body_json(json!({"ok": false, "error": format!("invalid_auth: {TOKEN}")}));
    let refusing = Slack::scripted(
        vec![
            ok_false("invalid_auth"),
            echo.clone(),
            ResponseTemplate::new(401).set_body_string(TOKEN),
        ],
        Duration::ZERO,
    )
    .await;
    // What a failure says is redacted once, by the relay, before anyone reads it.
    let mut settings = RelaySettings::from_env(&env(&[OPEN])).expect("valid settings");
    settings.retry = fast();
    let relay = Relay::new(settings, bot(&refusing, Some(&table)).await);
    for event in lifecycle("manual-rollback").iter().take(3) {
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Err(failure) = relay.deliver(&event.notification, deadline).await {
            reasons.push(failure.reason);
        }
    }
    // The table gone.
    let outage = bot_with_aws(&slack, Some(&table), unreachable_aws().await);
    let _ = lifecycle("canary-success")[4].deliver(&outage).await;
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().any(|reason| reason.contains("[redacted]")),
        "{reasons:?}"
    );
    let logs = logs.text();
    assert!(
        logs.contains("thread table unavailable"),
        "the run was logged"
    );
    for text in reasons.iter().chain([&logs]) {
        assert!(
            !text.contains(TOKEN) && !text.contains("xoxb-"),
            "the token leaked: {text}"
        );
    }
    assert!(!format!("{threaded:?}").contains("xoxb-"));
}

/// Threads at their edges: a parent whose `ts` is recorded late, a thread Slack will no longer
/// take, a canary going back to a revision it ran before, an item past its TTL.
mod edges {
    use super::*;
    use flagger_relay_tests::faults::Faults;

    fn canary(checksum: &str, message: &str, at: u64) -> Event {
        let body = json!({"name": "podinfo", "namespace": "edges", "phase": "Progressing", "checksum": checksum,
            "metadata": {"eventMessage": message, "eventType": "Normal", "timestamp": at.to_string()}});
        Event::parse(body.to_string().as_bytes())
    }

    /// Every post: its `thread_ts` (`None` for a parent) and the `ts` Slack gave it.
    fn posts(slack: &Slack) -> Vec<(Option<String>, Option<String>)> {
        slack
            .calls(POST)
            .iter()
            .map(|post| {
                (
                    post.thread_ts().map(str::to_owned),
                    post.answer["ts"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_parent_whose_ts_was_not_recorded_at_first_gets_no_second_parent() {
        skip_without!(moto::available());
        let slack = Slack::start().await;
        let table = table().await;
        let faults = Faults::start(Moto::shared().endpoint()).await;
        // Recording the parent fails, twice (the SDK's own retry included), then works.
        faults.fail_when(
            "DynamoDB_20120810.UpdateItem",
            Some("SET #ts = "),
            2,
            500,
            "InternalServerError",
        );
        let bot = bot_with_aws(
            &slack,
            Some(&table),
            moto::sdk_config(faults.endpoint()).await,
        );
        canary(
            "a1b2c3d4e5",
            "New revision detected! Scaling up podinfo.edges",
            1_000,
        )
        .deliver(&bot)
        .await
        .unwrap();
        assert_eq!(faults.failed("DynamoDB_20120810.UpdateItem"), 2);
        canary(
            "a1b2c3d4e5",
            "Advance podinfo.edges canary weight 10",
            2_000,
        )
        .deliver(&bot)
        .await
        .unwrap();
        let posts = posts(&slack);
        let parent = posts[0].1.clone();
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[0].0, None, "the parent");
        assert_eq!(
            posts[1].0, parent,
            "the next event replies in its thread: {posts:?}"
        );
    }

    #[tokio::test]
    async fn a_thread_slack_no_longer_takes_starts_a_new_parent_the_rollout_follows() {
        skip_without!(moto::available());
        for error in [
            "channel_not_found",
            "is_archived",
            "message_not_found",
            "thread_not_found",
            "not_in_channel",
        ] {
            let slack = Slack::start().await;
            let bot = bot(&slack, Some(&table().await)).await;
            canary(
                "b2c3d4e5f6",
                "New revision detected! Scaling up podinfo.edges",
                1_000,
            )
            .deliver(&bot)
            .await
            .unwrap();
            slack.refuse_replies(error, 1);
            canary(
                "b2c3d4e5f6",
                "Advance podinfo.edges canary weight 10",
                2_000,
            )
            .deliver(&bot)
            .await
            .unwrap_or_else(|failure| panic!("{error}: {failure:?}"));
            canary(
                "b2c3d4e5f6",
                "Advance podinfo.edges canary weight 20",
                3_000,
            )
            .deliver(&bot)
            .await
            .unwrap();
            let posts = posts(&slack);
            assert_eq!(posts.len(), 4, "{error}: {posts:?}");
            let (old, new) = (posts[0].1.clone(), posts[2].1.clone());
            assert_eq!(posts[1].0, old, "{error}: the reply Slack refused");
            assert_eq!(posts[2].0, None, "{error}: a new parent");
            assert_eq!(posts[3].0, new, "{error}: the rollout continues under it");
            assert!(
                slack.calls(POST)[2].text().contains("10%"),
                "{error}: the new parent shows the event: {}",
                slack.calls(POST)[2].text()
            );
        }
    }

    #[tokio::test]
    async fn a_revert_to_a_revision_seen_before_starts_a_new_thread() {
        skip_without!(moto::available());
        let slack = Slack::start().await;
        let bot = bot(&slack, Some(&table().await)).await;
        for event in [
            canary(
                "aaaa111111",
                "New revision detected! Scaling up podinfo.edges",
                1_000,
            ),
            canary(
                "aaaa111111",
                "Advance podinfo.edges canary weight 10",
                2_000,
            ),
            canary(
                "bbbb222222",
                "New revision detected! Scaling up podinfo.edges",
                3_000,
            ),
            canary(
                "bbbb222222",
                "Advance podinfo.edges canary weight 10",
                4_000,
            ),
            // Back to the first revision: a new rollout.
            canary(
                "aaaa111111",
                "New revision detected! Scaling up podinfo.edges",
                5_000,
            ),
            canary(
                "aaaa111111",
                "Advance podinfo.edges canary weight 10",
                6_000,
            ),
        ] {
            event.deliver(&bot).await.unwrap();
        }
        let posts = posts(&slack);
        let parents: Vec<&Option<String>> = posts
            .iter()
            .filter(|(thread, _)| thread.is_none())
            .map(|(_, ts)| ts)
            .collect();
        assert_eq!(parents.len(), 3, "{posts:?}");
        assert_eq!(posts[4].0, None, "the revert opens a parent");
        assert_eq!(posts[5].0, posts[4].1, "and its events follow it");
    }

    #[tokio::test]
    async fn a_late_event_of_a_revision_left_behind_goes_in_its_thread() {
        skip_without!(moto::available());
        let slack = Slack::start().await;
        let bot = bot(&slack, Some(&table().await)).await;
        for event in [
            canary(
                "cccc333333",
                "New revision detected! Scaling up podinfo.edges",
                1_000,
            ),
            canary(
                "dddd444444",
                "New revision detected! Scaling up podinfo.edges",
                3_000,
            ),
            // Sent before the new revision, arriving after it (a retry, a redrive).
            canary(
                "cccc333333",
                "Advance podinfo.edges canary weight 10",
                2_000,
            ),
        ] {
            event.deliver(&bot).await.unwrap();
        }
        let posts = posts(&slack);
        assert_eq!(posts.len(), 3);
        assert_eq!(posts[2].0, posts[0].1, "{posts:?}");
    }

    #[tokio::test]
    async fn a_thread_past_its_ttl_is_not_continued() {
        skip_without!(moto::available());
        let slack = Slack::start().await;
        let table = table().await;
        let bot = bot(&slack, Some(&table)).await;
        canary(
            "eeee555555",
            "New revision detected! Scaling up podinfo.edges",
            1_000,
        )
        .deliver(&bot)
        .await
        .unwrap();
        // Fourteen days on: DynamoDB has not deleted the items yet, but they are past.
        let client = aws_sdk_dynamodb::Client::new(&Moto::shared().sdk_config().await);
        for key in ["edges/podinfo/eeee555555", "edges/podinfo"] {
            client
                .update_item()
                .table_name(&table)
                .key(
                    "rollout",
                    aws_sdk_dynamodb::types::AttributeValue::S(key.into()),
                )
                .update_expression("SET expires_at = :past")
                .expression_attribute_values(
                    ":past",
                    aws_sdk_dynamodb::types::AttributeValue::N("1700000000".into()),
                )
                .send()
                .await
                .unwrap();
        }
        canary(
            "eeee555555",
            "Advance podinfo.edges canary weight 10",
            2_000,
        )
        .deliver(&bot)
        .await
        .unwrap();
        let posts = posts(&slack);
        assert_eq!(posts.len(), 2);
        assert_eq!(
            posts[1].0, None,
            "a new parent, not a reply under a dead one: {posts:?}"
        );
    }
}
