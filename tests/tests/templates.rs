//! Messages a deployment shapes: links filled from each event (`LINKS`), mentions by severity
//! (`SLACK_MENTIONS`, `TEAMS_MENTIONS`), and MiniJinja templates, through the real handlers
//! against local stand-ins (wiremock; moto for Parameter Store and the dead-letter queue).
//! The examples in `examples/templates/` are rendered for every recorded event, and every
//! Slack and Teams payload produced here goes to the providers' validators.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ssm::types::ParameterType;
use flagger_relay_core::config::{Env, RelaySettings};
use flagger_relay_core::dead_letter::DeadLetterQueue;
use flagger_relay_core::secrets::resolve_with;
use flagger_relay_core::{Destination, Notification, Relay, Severity};
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{Call, OPEN, answering, fixtures, read, root, write_payloads};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const LINKS: &str = "Dashboard=https://grafana.example.com/d/canary?var-ns={namespace}&var-canary={name};Revision=https://git.example.com/deploy/commit/{checksum};Cluster=https://{cluster}.example.com/";
const SLACK_MENTIONS: &str = "error=<!subteam^S0123ABC>;warning=<!here>";
const TEAMS_MENTIONS: &str = "error=oncall@contoso.com|On-call;warning=jane@contoso.com|Jane Doe";
const SLACK_HOOK: &str = "/services/T0SHAPE/B0SHAPE/hooksecretXYZ";
const TEAMS_HOOK: &str = "/workflows/0shape/triggers/manual/paths/invoke/sigsecretXYZ";

/// A template from `examples/templates/`.
fn example(name: &str) -> String {
    let path = root().join("examples/templates").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Every recorded Flagger event, then every recorded Alertmanager notification.
fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut bodies: Vec<(String, Vec<u8>)> = fixtures()
        .into_iter()
        .map(|fixture| (fixture.name, fixture.body))
        .collect();
    let dir = root().join("events/alertmanager");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("events/alertmanager")
        .map(|entry| entry.expect("readable").path())
        .collect();
    files.sort();
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        bodies.push((
            format!("alertmanager-{name}"),
            std::fs::read(&path).expect("readable"),
        ));
    }
    bodies
}

fn severity_of(body: &[u8]) -> Severity {
    Notification::from_slice(body)
        .expect("a recorded body parses")
        .classify()
        .severity
}

fn is_flagger(name: &str) -> bool {
    !name.starts_with("alertmanager-")
}

/// A stand-in that takes every POST.
async fn received(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).expect("the stand-in got JSON"))
        .collect()
}

/// The settings of a function that serves without a token, on purpose: these tests are about
/// what a message says, not who may send one.
fn env<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
    pairs.iter().copied().chain([OPEN]).collect()
}

fn slack(server: &MockServer, extra: &[(&str, &str)]) -> Relay<flagger_relay_slack::Slack> {
    let url = format!("{}{SLACK_HOOK}", server.uri());
    let mut vars = vec![("SLACK_WEBHOOK_URL", url.as_str()), ("CHATTER", "forward")];
    vars.extend_from_slice(extra);
    flagger_relay_slack::relay_from_env(&env(&vars)).expect("valid configuration")
}

fn teams(server: &MockServer, extra: &[(&str, &str)]) -> Relay<flagger_relay_teams::TeamsWebhook> {
    let url = format!("{}{TEAMS_HOOK}", server.uri());
    let mut vars = vec![("TEAMS_WEBHOOK_URL", url.as_str()), ("CHATTER", "forward")];
    vars.extend_from_slice(extra);
    flagger_relay_teams::relay_from_env(&env(&vars)).expect("valid configuration")
}

/// Every body through the handler, each delivered; answers what the stand-in received, in
/// order, beside the body's name and severity.
async fn deliver_all<D: Destination>(
    relay: &Relay<D>,
    server: &MockServer,
) -> Vec<(String, Severity, Value)> {
    let bodies = bodies();
    for (name, body) in &bodies {
        let (status, answer) = read(relay.handle(Call::post(body).request()).await);
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("delivered")),
            "{name}: {answer}"
        );
    }
    let payloads = received(server).await;
    assert_eq!(payloads.len(), bodies.len(), "one message per event");
    bodies
        .into_iter()
        .zip(payloads)
        .map(|((name, body), payload)| (name, severity_of(&body), payload))
        .collect()
}

/// The `text` of every button of every actions block, in order.
fn slack_buttons(payload: &Value) -> Vec<(String, String)> {
    let mut blocks: Vec<&Value> = payload["blocks"].as_array().into_iter().flatten().collect();
    for attachment in payload["attachments"].as_array().into_iter().flatten() {
        blocks.extend(attachment["blocks"].as_array().into_iter().flatten());
    }
    blocks
        .into_iter()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .map(|button| {
            (
                button["text"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                button["url"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn slack_mention(severity: Severity) -> Option<&'static str> {
    match severity {
        Severity::Error => Some("<!subteam^S0123ABC> "),
        Severity::Warning => Some("<!here> "),
        Severity::Info => None,
    }
}

fn assert_slack_shaped(name: &str, severity: Severity, payload: &Value) {
    let text = payload["text"].as_str().expect("a text");
    match slack_mention(severity) {
        Some(mention) => assert!(text.starts_with(mention), "{name}: {text}"),
        None => assert!(
            !text.contains("<!"),
            "{name}: nobody mentioned at info: {text}"
        ),
    }
    let buttons = slack_buttons(payload);
    if is_flagger(name) {
        assert_eq!(
            buttons.first().map(|(label, _)| label.as_str()),
            Some("Dashboard"),
            "{name}"
        );
        assert!(
            buttons
                .iter()
                .all(|(_, url)| url.starts_with("https://") && !url.contains('{')),
            "{name}: {buttons:?}"
        );
    }
}

#[tokio::test]
async fn slack_shows_links_and_mentions_on_every_recorded_event() {
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let relay = slack(
        &server,
        &[("LINKS", LINKS), ("SLACK_MENTIONS", SLACK_MENTIONS)],
    );
    let delivered = deliver_all(&relay, &server).await;
    for (name, severity, payload) in &delivered {
        assert_slack_shaped(name, *severity, payload);
    }
    let revisions = delivered
        .iter()
        .filter(|(_, _, payload)| {
            slack_buttons(payload)
                .iter()
                .any(|(label, _)| label == "Revision")
        })
        .count();
    assert!(revisions > 0, "events with a checksum link their revision");
    let payloads: Vec<Value> = delivered.into_iter().map(|(_, _, p)| p).collect();
    write_payloads("slack-links.jsonl", &payloads);
}

#[tokio::test]
async fn the_slack_example_renders_every_recorded_event() {
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let template = example("slack.json.j2");
    let relay = slack(
        &server,
        &[
            ("SLACK_TEMPLATE", &template),
            ("LINKS", LINKS),
            ("SLACK_MENTIONS", SLACK_MENTIONS),
            ("SLACK_CHANNEL", "#deploys"),
        ],
    );
    let delivered = deliver_all(&relay, &server).await;
    for (name, severity, payload) in &delivered {
        assert_slack_shaped(name, *severity, payload);
        assert_eq!(
            payload["channel"], "#deploys",
            "{name}: the override applies"
        );
    }
    let rollback: Vec<&Value> = delivered
        .iter()
        .filter(|(name, _, _)| name.starts_with("canary-rollback-metrics"))
        .map(|(_, _, payload)| payload)
        .collect();
    insta::assert_json_snapshot!("slack-example-canary-rollback-metrics", rollback);
    let payloads: Vec<Value> = delivered.into_iter().map(|(_, _, p)| p).collect();
    write_payloads("slack-templates.jsonl", &payloads);
}

#[tokio::test]
async fn the_readme_example_renders_every_recorded_event() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("```jinja\n")
        .expect("a jinja example in the README")
        + 9;
    let template = &readme[start..start + readme[start..].find("```").expect("closed")];
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let relay = slack(
        &server,
        &[
            ("SLACK_TEMPLATE", template),
            ("SLACK_MENTIONS", SLACK_MENTIONS),
        ],
    );
    let delivered = deliver_all(&relay, &server).await;
    for (name, severity, payload) in &delivered {
        let text = payload["text"].as_str().unwrap_or_default();
        assert_eq!(
            text.starts_with("<!"),
            severity != &Severity::Info,
            "{name}: {text}"
        );
    }
    let payloads: Vec<Value> = delivered.into_iter().map(|(_, _, p)| p).collect();
    write_payloads("slack-templates-readme.jsonl", &payloads);
}

/// Slack's Web API, answering every `chat.postMessage` with a new `ts` and every
/// `chat.update` with the `ts` it names.
struct WebApi {
    next: AtomicU64,
}

impl Respond for WebApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let answer = if request.url.path().ends_with("/chat.update") {
            serde_json::json!({"ok": true, "channel": body["channel"], "ts": body["ts"]})
        } else {
            let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            serde_json::json!({"ok": true, "channel": "C0SHAPE", "ts": format!("1764000000.{:06}", n * 100)})
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// A thread table on the shared moto, as the stack creates it.
async fn thread_table(config: &aws_config::SdkConfig) -> String {
    moto::create_table(config, "shape-threads", "rollout").await
}

#[tokio::test]
async fn bot_mode_threads_the_templated_events_under_a_parent_with_the_links() {
    let config = Moto::shared().sdk_config().await;
    let table = thread_table(&config).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(WebApi {
            next: AtomicU64::new(0),
        })
        .mount(&server)
        .await;
    let api = format!("{}/api", server.uri());
    let template = example("slack.json.j2");
    let vars = env(&[
        ("SLACK_BOT_TOKEN", "xoxb-1-2-shapeBotToken"),
        ("SLACK_CHANNEL_ID", "C0SHAPE"),
        ("SLACK_API_URL", &api),
        ("THREADS_TABLE", &table),
        ("SLACK_TEMPLATE", &template),
        ("SLACK_MENTIONS", SLACK_MENTIONS),
        ("LINKS", LINKS),
        ("CHATTER", "forward"),
    ]);
    let bot = flagger_relay_slack::SlackBot::from_env(&vars)
        .expect("valid bot settings")
        .expect("bot mode")
        .with_sdk_config(config);
    let relay = Relay::new(
        RelaySettings::from_env(&vars).expect("valid settings"),
        flagger_relay_slack::Slack::Bot(Box::new(bot)),
    );
    let lifecycle: Vec<_> = fixtures()
        .into_iter()
        .filter(|fixture| fixture.lifecycle == "canary-rollback-metrics")
        .collect();
    for fixture in &lifecycle {
        let (status, answer) = read(relay.handle(Call::post(&fixture.body).request()).await);
        assert_eq!(status, 200, "{}: {answer}", fixture.name);
    }
    let calls: Vec<(String, Value)> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| {
            let body = serde_json::from_slice(&request.body).expect("JSON");
            (request.url.path().to_owned(), body)
        })
        .collect();
    let posts: Vec<&Value> = calls
        .iter()
        .filter(|(path, _)| path.ends_with("/chat.postMessage"))
        .map(|(_, body)| body)
        .collect();
    assert_eq!(posts.len(), lifecycle.len(), "one post per event");
    let parent = posts[0];
    assert!(parent.get("thread_ts").is_none(), "{parent}");
    assert_eq!(
        slack_buttons(parent)
            .first()
            .map(|(label, _)| label.as_str()),
        Some("Dashboard"),
        "the parent carries the links"
    );
    for (fixture, reply) in lifecycle.iter().zip(&posts).skip(1) {
        assert_eq!(reply["channel"], "C0SHAPE", "{}", fixture.name);
        assert_eq!(reply["thread_ts"], "1764000000.000100", "{}", fixture.name);
        assert_eq!(
            reply["attachments"][0]["blocks"][0]["type"], "context",
            "{}: the template's message",
            fixture.name
        );
        assert_slack_shaped(&fixture.name, severity_of(&fixture.body), reply);
    }
    let last = posts.last().expect("a last reply");
    assert_eq!(
        last["reply_broadcast"],
        Value::Null,
        "a check passing is no outcome"
    );
    assert!(
        posts.iter().any(|post| post["reply_broadcast"] == true),
        "the rollback is broadcast to the channel"
    );
    assert!(
        calls.iter().any(|(path, _)| path.ends_with("/chat.update")),
        "the parent is kept up to date"
    );
}

fn teams_card(payload: &Value) -> &Value {
    assert_eq!(payload["type"], "message", "{payload}");
    &payload["attachments"][0]["content"]
}

fn assert_teams_shaped(name: &str, severity: Severity, payload: &Value) {
    let card = teams_card(payload);
    let expected = match severity {
        Severity::Error => vec!["oncall@contoso.com"],
        Severity::Warning => vec!["jane@contoso.com"],
        Severity::Info => vec![],
    };
    let mentioned: Vec<&str> = card["msteams"]["entities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entity| entity["mentioned"]["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(mentioned, expected, "{name}");
    for entity in card["msteams"]["entities"].as_array().into_iter().flatten() {
        let text = entity["text"].as_str().unwrap_or_default();
        assert!(
            card["body"].to_string().contains(text),
            "{name}: every entity's {text} is in the card"
        );
    }
    let urls: Vec<&str> = card["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|action| action["url"].as_str().unwrap_or_default())
        .collect();
    if is_flagger(name) {
        assert!(
            urls.iter()
                .any(|url| url.starts_with("https://grafana.example.com/")),
            "{name}: {urls:?}"
        );
    }
    assert!(
        urls.iter().all(|url| !url.contains('{')),
        "{name}: {urls:?}"
    );
}

#[tokio::test]
async fn teams_shows_links_and_mentions_on_every_recorded_event() {
    let server = answering(ResponseTemplate::new(202)).await;
    let relay = teams(
        &server,
        &[("LINKS", LINKS), ("TEAMS_MENTIONS", TEAMS_MENTIONS)],
    );
    let delivered = deliver_all(&relay, &server).await;
    for (name, severity, payload) in &delivered {
        assert_teams_shaped(name, *severity, payload);
    }
    let payloads: Vec<Value> = delivered.into_iter().map(|(_, _, p)| p).collect();
    write_payloads("teams-links.jsonl", &payloads);
}

#[tokio::test]
async fn the_teams_example_renders_every_recorded_event() {
    let server = answering(ResponseTemplate::new(202)).await;
    let template = example("teams-card.json.j2");
    let relay = teams(
        &server,
        &[
            ("TEAMS_TEMPLATE", &template),
            ("LINKS", LINKS),
            ("TEAMS_MENTIONS", TEAMS_MENTIONS),
        ],
    );
    let delivered = deliver_all(&relay, &server).await;
    for (name, severity, payload) in &delivered {
        assert_teams_shaped(name, *severity, payload);
        let facts = teams_card(payload)["body"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|element| element["type"] == "FactSet");
        assert!(facts.is_some(), "{name}: a FactSet");
    }
    let rollback: Vec<&Value> = delivered
        .iter()
        .filter(|(name, _, _)| name.starts_with("canary-rollback-metrics"))
        .map(|(_, _, payload)| payload)
        .collect();
    insta::assert_json_snapshot!("teams-example-canary-rollback-metrics", rollback);
    let payloads: Vec<Value> = delivered.into_iter().map(|(_, _, p)| p).collect();
    write_payloads("teams-templates.jsonl", &payloads);
}

#[tokio::test]
async fn the_email_and_subject_examples_render_every_recorded_event() {
    let subject = example("subject.txt.j2");
    let email = example("email.txt.j2");
    let relay = flagger_relay_sns::relay_from_env(&env(&[
        ("DRY_RUN", "1"),
        ("CHATTER", "forward"),
        ("LINKS", LINKS),
        ("SNS_SUBJECT_TEMPLATE", &subject),
        ("SNS_EMAIL_TEMPLATE", &email),
    ]))
    .await
    .expect("valid configuration");
    let mut emails = BTreeMap::new();
    for (name, body) in bodies() {
        let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
        assert_eq!(status, 200, "{name}: {answer}");
        let payload = &answer["payload"];
        let subject = payload["Subject"].as_str().expect("a subject");
        let severity = severity_of(&body).as_str().to_uppercase();
        assert!(
            subject.starts_with(&format!("[{severity}] ")),
            "{name}: {subject}"
        );
        assert!(
            subject.len() < 100 && !subject.chars().any(char::is_control),
            "{name}: SNS's subject rules hold: {subject:?}"
        );
        let email = payload["Message"]["email"].as_str().expect("an email");
        let document = &payload["Message"]["default"];
        assert_eq!(
            document["schema"], 1,
            "{name}: the document is still the contract"
        );
        if is_flagger(&name) {
            assert!(
                email.contains("Dashboard: https://grafana.example.com/"),
                "{name}: {email}"
            );
            assert_eq!(document["links"][0]["label"], "Dashboard", "{name}");
        }
        if name.starts_with("canary-rollback-metrics") || name.starts_with("alertmanager-") {
            emails.insert(name, format!("Subject: {subject}\n\n{email}"));
        }
    }
    insta::assert_json_snapshot!("email-example", emails);
}

/// Event text that would break naive JSON, or act in Slack.
const HOSTILE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"say \"hi\" \\ back\\slash <!channel> <https://evil.example|click> </script>\n\tnext line & more","eventType":"Warning","timestamp":"1764000300959"}}"#;
const HOSTILE_TEXT: &str = "say \"hi\" \\ back\\slash <!channel> <https://evil.example|click> </script>\n\tnext line & more";

#[tokio::test]
async fn no_event_text_can_break_a_templates_json_or_act_in_slack() {
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let relay = slack(
        &server,
        &[(
            "SLACK_TEMPLATE",
            r#"{"text": "{{ event.metadata.eventMessage }}", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": {{ event.metadata.eventMessage|tojson }}}}]}"#,
        )],
    );
    let (status, answer) = read(relay.handle(Call::post(HOSTILE).request()).await);
    assert_eq!(status, 200, "{answer}");
    let payload = received(&server).await.remove(0);
    let inert = HOSTILE_TEXT
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert_eq!(payload["text"], inert.as_str());
    assert_eq!(payload["blocks"][0]["text"]["text"], inert.as_str());
    write_payloads("slack-templates-hostile.jsonl", &[payload]);

    let server = answering(ResponseTemplate::new(202)).await;
    let relay = teams(
        &server,
        &[(
            "TEAMS_TEMPLATE",
            r#"{"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "{{ event.metadata.eventMessage }}"}, {"type": "TextBlock", "text": {{ event.metadata.eventMessage|tojson }}}]}"#,
        )],
    );
    let (status, answer) = read(relay.handle(Call::post(HOSTILE).request()).await);
    assert_eq!(status, 200, "{answer}");
    let request = server
        .received_requests()
        .await
        .unwrap_or_default()
        .remove(0);
    let payload: Value = serde_json::from_slice(&request.body).expect("valid JSON");
    let card = teams_card(&payload);
    assert_eq!(card["body"][0]["text"], HOSTILE_TEXT, "the text exactly");
    assert_eq!(card["body"][1]["text"], HOSTILE_TEXT, "the text exactly");
    write_payloads("teams-templates-hostile.jsonl", &[payload]);
}

/// A fresh dead-letter queue on the shared moto, and a client to read it back.
async fn dead_letter_queue() -> (DeadLetterQueue, aws_sdk_sqs::Client, String) {
    moto::dead_letter_queue("shape-dlq").await
}

#[tokio::test]
async fn an_event_the_template_cannot_render_is_parked_with_the_error_and_answered_502() {
    let (queue, sqs, url) = dead_letter_queue().await;
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let relay = slack(
        &server,
        &[(
            "SLACK_TEMPLATE",
            "{\"text\": \"{{ title }}\",\n \"username\": \"{{ event.metadata.cluster }}\"}",
        )],
    )
    .with_dead_letter_queue(queue);
    let (status, answer) = read(relay.handle(Call::post(HOSTILE).request()).await);
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["dead_lettered"], true, "{answer}");
    let expected = "SLACK_TEMPLATE could not render this event: `event.metadata.cluster` is undefined, at line 2";
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains(expected),
        "{answer}"
    );
    let records = moto::take_parked(&sqs, &url).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].failure_class, "permanent");
    assert_eq!(records[0].reason, expected);
    assert_eq!(
        records[0].payload_bytes().expect("a payload that decodes"),
        HOSTILE,
        "kept byte for byte"
    );
    assert!(
        received(&server).await.is_empty(),
        "never half a message: Slack was not called"
    );
}

#[tokio::test]
async fn a_malformed_setting_ends_the_cold_start_naming_it() {
    let url = "https://hooks.slack.com/services/T/B/x";
    for (setting, value, expected) in [
        (
            "LINKS",
            "Dashboard",
            "LINKS is malformed: `Dashboard` is not Label=URL",
        ),
        (
            "SLACK_MENTIONS",
            "error=@oncall",
            "SLACK_MENTIONS is malformed: error: ",
        ),
        (
            "SLACK_TEMPLATE",
            "{\"text\":\n \"{% if %}\"}",
            "SLACK_TEMPLATE is malformed: syntax error at line 2, column ",
        ),
    ] {
        let err = flagger_relay_slack::relay_from_env(&env(&[
            ("SLACK_WEBHOOK_URL", url),
            (setting, value),
        ]))
        .err()
        .map(|err| err.to_string())
        .unwrap_or_default();
        assert!(err.starts_with(expected), "{setting}: {err}");
    }
    let err = flagger_relay_teams::relay_from_env(&env(&[
        ("DRY_RUN", "1"),
        ("TEAMS_TEMPLATE", "{{ title }"),
    ]))
    .err()
    .map(|err| err.to_string())
    .unwrap_or_default();
    assert!(
        err.starts_with("TEAMS_TEMPLATE is malformed: syntax error at line 1, column 10"),
        "{err}"
    );
    let err = flagger_relay_sns::relay_from_env(&env(&[
        ("DRY_RUN", "1"),
        ("SNS_EMAIL_TEMPLATE", "{% for %}"),
    ]))
    .await
    .err()
    .map(|err| err.to_string())
    .unwrap_or_default();
    assert!(
        err.starts_with("SNS_EMAIL_TEMPLATE is malformed: syntax error at line 1"),
        "{err}"
    );
}

/// A template too big for Lambda's 4 KB of environment: it lives in Parameter Store.
#[tokio::test]
async fn templates_from_parameter_store_reach_slack_and_teams() {
    let config = Moto::shared().sdk_config().await;
    let slack_template = example("slack.json.j2");
    let teams_template = example("teams-card.json.j2");
    let slack_arn = moto::put_parameter(
        &config,
        "/flagger-relay/e2e/slack-template",
        &slack_template,
        ParameterType::String,
    )
    .await;
    let slack_name = slack_arn
        .split_once(":parameter")
        .map(|(_, name)| name.to_owned())
        .expect("a parameter ARN");
    let teams_arn = moto::put_parameter(
        &config,
        "/flagger-relay/e2e/teams-template",
        &teams_template,
        ParameterType::SecureString,
    )
    .await;
    let body = fixtures()
        .into_iter()
        .find(|fixture| fixture.name == "canary-rollback-metrics-14")
        .expect("a recorded rollback")
        .body;

    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let hook = format!("{}{SLACK_HOOK}", server.uri());
    let vars: std::collections::HashMap<String, String> = [
        ("SLACK_WEBHOOK_URL", hook.as_str()),
        ("SLACK_TEMPLATE_PARAMETER", slack_name.as_str()),
        ("LINKS", LINKS),
        OPEN,
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let resolved = resolve_with(
        &vars,
        flagger_relay_slack::SECRETS,
        flagger_relay_slack::PARAMETERS,
        || async { config.clone() },
    )
    .await
    .expect("the parameter resolves by name");
    assert_eq!(resolved.from_store(), ["SLACK_TEMPLATE"]);
    assert_eq!(resolved.var("SLACK_TEMPLATE"), Some(slack_template.clone()));
    let relay = flagger_relay_slack::relay_from_env(&resolved).expect("valid configuration");
    let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
    assert_eq!(status, 200, "{answer}");
    let from_store = received(&server).await.remove(0);

    let inline_server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let inline = slack(
        &inline_server,
        &[("SLACK_TEMPLATE", &slack_template), ("LINKS", LINKS)],
    );
    read(inline.handle(Call::post(&body).request()).await);
    assert_eq!(
        from_store,
        received(&inline_server).await.remove(0),
        "the same message as the template given inline"
    );

    let server = answering(ResponseTemplate::new(202)).await;
    let hook = format!("{}{TEAMS_HOOK}", server.uri());
    let vars: std::collections::HashMap<String, String> = [
        ("TEAMS_WEBHOOK_URL", hook.as_str()),
        ("TEAMS_TEMPLATE_PARAMETER", teams_arn.as_str()),
        OPEN,
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let resolved = resolve_with(
        &vars,
        flagger_relay_teams::SECRETS,
        flagger_relay_teams::PARAMETERS,
        || async { config.clone() },
    )
    .await
    .expect("the SecureString parameter resolves by ARN");
    let relay = flagger_relay_teams::relay_from_env(&resolved).expect("valid configuration");
    let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
    assert_eq!(status, 200, "{answer}");
    let payload = received(&server).await.remove(0);
    assert_eq!(teams_card(&payload)["type"], "AdaptiveCard");
    write_payloads("teams-templates-store.jsonl", &[payload]);
}
