//! No secret in any log line or response body.
//!
//! Every secret here (webhook URLs, the relay token, values kept in the secret stores) carries
//! the marker `LeakCanary`. The suite's scenarios run with them: the recorded lifecycles, refused
//! requests, destinations that echo the webhook back in errors, broken connections, invalid
//! configuration, and secret-store failures. Everything the relay writes through `tracing`, at
//! every level down to TRACE and from every crate (the SDK's included), is captured, and so are
//! every metrics line and every response body; the marker must appear in none of it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ssm::types::ParameterType;
use flagger_relay_core::config::Env;
use flagger_relay_core::metrics::MetricsSink;
use flagger_relay_core::secrets::{SecretSetting, resolve_with};
use flagger_relay_core::{Destination, Relay};
use flagger_relay_tests::moto::{self, ACCOUNT, Moto};
use flagger_relay_tests::{Call, OPEN, answering, emf, fixtures, read, skip_without};
use lambda_http::{Body, Response};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every destination's secret settings: these tests resolve Slack's and Teams' alike.
const DESTINATIONS: &[SecretSetting] = &[
    flagger_relay_slack::SECRETS[0],
    flagger_relay_slack::SECRETS[1],
    flagger_relay_teams::SECRETS[0],
];

const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

/// In every secret; compared without regard to case.
const MARKER: &str = "leakcanary";
const TOKEN: &str = "LeakCanaryRelayToken4e6f";
/// Slack's workspace and app ids (`T…`, `B…`) are not secret; the last segment is the key.
const SLACK_PATH: &str = "/services/T0RELAY01/B0RELAY02/LeakCanarySlackHook7f3a9c";
/// A Workflows URL: the credential is the `sig` parameter.
const TEAMS_PATH: &str = "/workflows/LeakCanaryTeamsFlow5d2e/triggers/manual/paths/invoke?api-version=2016-06-01&sig=LeakCanaryTeamsSig8b1c";

/// Everything every thread of this test process logs.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            // Test threads carry the test's name: a leak names the test it came from.
            .with_thread_names(true)
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the only subscriber of this test process");
        logs
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> String {
    String::from_utf8_lossy(
        &logs()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
    .into_owned()
}

/// Fails naming where the marker showed up, with what surrounds it.
fn assert_clean(what: &str, text: &str) {
    if let Some(at) = text.to_ascii_lowercase().find(MARKER) {
        let start = text.floor_char_boundary(at.saturating_sub(200));
        let end = text.ceil_char_boundary((at + 200).min(text.len()));
        panic!("a secret leaked into {what}:\n…{}…", &text[start..end]);
    }
}

/// Every metrics line any relay of this test process wrote.
fn metrics_lines() -> &'static Arc<Mutex<Vec<String>>> {
    static LINES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LINES.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

/// The relay, writing its metrics lines where the checks read them.
fn metered<D: Destination>(relay: Relay<D>) -> Relay<D> {
    relay.with_metrics_sink(MetricsSink::Collect(Arc::clone(metrics_lines())))
}

fn captured_metrics() -> Vec<String> {
    metrics_lines()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Each test ends by checking the whole process's logs and metrics lines: a leak from another
/// test running at the same time is caught too.
fn assert_logs_clean() {
    assert_clean("the logs", &captured_logs());
    let metrics = captured_metrics();
    assert_clean("the metrics lines", &metrics.join("\n"));
    for line in &metrics {
        emf::assert_valid(line);
    }
}

/// The suite left metrics lines for `function`, failures with their reasons among them: the
/// metrics checks above had something to read.
fn assert_metered(function: &str) {
    let documents: Vec<Value> = captured_metrics()
        .iter()
        .map(|line| serde_json::from_str(line).expect("checked as EMF"))
        .filter(|document: &Value| document["Function"] == function)
        .collect();
    assert!(
        documents.iter().any(|d| d["Reason"].is_string()),
        "{function}: no metrics line with a reason among {}",
        documents.len()
    );
    assert!(
        documents.iter().any(|d| d["Outcome"] == "delivered"),
        "{function}: no delivered event among {} metrics lines",
        documents.len()
    );
}

fn body_text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    }
}

/// Sends `call` and checks the answer's body; answers status and JSON.
async fn answer_clean<F, Fut>(what: &str, handle: F, call: Call<'_>) -> (u16, Value)
where
    F: Fn(lambda_http::Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let response = handle(call.request()).await;
    assert_clean(&format!("the response to {what}"), &body_text(&response));
    read(response)
}

fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

fn store() -> SdkConfig {
    sdk_config(Moto::shared().endpoint())
}

async fn put_secret(name: &str, value: &str) -> String {
    moto::put_secret(&store(), name, value).await
}

async fn put_parameter(name: &str, value: &str, kind: ParameterType) -> String {
    moto::put_parameter(&store(), name, value, kind).await
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn accepting(status: u16, reply: &str) -> MockServer {
    answering(ResponseTemplate::new(status).set_body_string(reply)).await
}

/// The requests every function gets: each recorded event with the token (in the query or as
/// bearer), and refused ones around them.
async fn run_the_suite<F, Fut>(destination: &str, handle: F)
where
    F: Fn(lambda_http::Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let with_query = format!("token={TOKEN}");
    let bearer = format!("Bearer {TOKEN}");
    let half_token = format!("token={}", &TOKEN[..TOKEN.len() / 2]);
    for (n, fixture) in fixtures().iter().enumerate() {
        let call = if n % 2 == 0 {
            Call::post(&fixture.body).query(&with_query)
        } else {
            Call::post(&fixture.body).header("authorization", &bearer)
        };
        let (status, body) =
            answer_clean(&format!("{destination} {}", fixture.name), &handle, call).await;
        assert!(
            status == 200,
            "{destination} {}: {status} {body}",
            fixture.name
        );
    }
    let body = ADVANCE;
    for (what, call) in [
        ("no token", Call::post(body)),
        ("a wrong token", Call::post(body).query("token=guess")),
        ("half the token", Call::post(body).query(&half_token)),
        (
            "a wrong bearer",
            Call::post(body)
                .query(&with_query)
                .header("authorization", "Bearer guess"),
        ),
        ("not JSON", Call::post(b"{\"name\":").query(&with_query)),
        ("a GET", Call::post(body).query(&with_query).method("GET")),
        (
            "text/plain",
            Call::post(body)
                .query(&with_query)
                .header("content-type", "text/plain"),
        ),
    ] {
        let (status, _) = answer_clean(&format!("{destination}: {what}"), &handle, call).await;
        assert!(status >= 400, "{destination}: {what} answered {status}");
    }
}

#[tokio::test]
async fn slack_with_secrets_from_the_stores_leaks_nothing() {
    skip_without!(moto::available());
    logs();
    let server = accepting(200, "ok").await;
    let webhook = put_secret(
        "no-leaks/slack-webhook",
        &format!("{}{SLACK_PATH}", server.uri()),
    )
    .await;
    let token = put_parameter("/no-leaks/relay-token", TOKEN, ParameterType::SecureString).await;
    let env = vars(&[
        ("SLACK_WEBHOOK_URL_SECRET_ARN", &webhook),
        ("RELAY_TOKEN_SECRET_ARN", &token),
        ("CHATTER", "forward"),
    ]);
    let resolved = resolve_with(&env, DESTINATIONS, &[], || async { store() })
        .await
        .expect("both secrets resolve");
    assert_eq!(resolved.var("RELAY_TOKEN").as_deref(), Some(TOKEN));
    assert_clean("the resolved environment's Debug", &format!("{resolved:?}"));
    let relay =
        metered(flagger_relay_slack::relay_from_env(&resolved).expect("valid configuration"));
    run_the_suite("slack", |request| relay.handle(request)).await;
    assert_metered("slack");
    assert!(
        !server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
    // The capture sees the relay's own lines and the SDK's wire-level tracing.
    let logs = captured_logs();
    for expected in [
        "event delivered",
        "request refused",
        "aws_smithy_runtime",
        "read HTTP response body",
    ] {
        assert!(
            logs.contains(expected),
            "the captured logs have no {expected:?}"
        );
    }
    assert_logs_clean();
}

#[tokio::test]
async fn teams_with_secrets_from_the_stores_leaks_nothing() {
    skip_without!(moto::available());
    logs();
    let server = accepting(202, "").await;
    let webhook = put_secret(
        "no-leaks/teams-webhook",
        &format!("{}{TEAMS_PATH}", server.uri()),
    )
    .await;
    let env = vars(&[
        ("TEAMS_WEBHOOK_URL_SECRET_ARN", &webhook),
        ("RELAY_TOKEN", TOKEN),
        ("CHATTER", "forward"),
    ]);
    let resolved = resolve_with(&env, DESTINATIONS, &[], || async { store() })
        .await
        .expect("the secret resolves");
    let relay =
        metered(flagger_relay_teams::relay_from_env(&resolved).expect("valid configuration"));
    run_the_suite("teams", |request| relay.handle(request)).await;
    assert_metered("teams");
    assert_logs_clean();
}

/// What a destination may say back when it refuses a message: the whole URL, its path, its
/// query, encoded or escaped.
fn echoes(url: &str) -> Vec<(&'static str, String)> {
    let parsed = url::Url::parse(url).expect("a URL");
    let path_and_query = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    vec![
        ("the whole URL", format!("no_service for {url}")),
        ("the path", format!("invalid_token {path_and_query}")),
        (
            "the URL percent-encoded",
            url::form_urlencoded::byte_serialize(url.as_bytes()).collect(),
        ),
        (
            "the URL in HTML",
            format!("<p>Not found: {}</p>", url.replace('&', "&amp;")),
        ),
        (
            "the URL in JSON",
            serde_json::json!({"error": {"message": format!("bad request to {url}")}}).to_string(),
        ),
    ]
}

async fn echoing_destinations_leak_nothing(destination: &str, path: &str) {
    logs();
    for status in [400, 401, 403, 404, 413, 500, 503] {
        let server = MockServer::start().await;
        let url = format!("{}{path}", server.uri());
        for (echo, reply) in echoes(&url) {
            server.reset().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(status)
                        .set_body_string(reply)
                        .insert_header("retry-after", "0"),
                )
                .mount(&server)
                .await;
            let what = format!("{destination} answering {status} with {echo}");
            let call = Call::post(ADVANCE)
                .query("")
                .time_left(Duration::from_secs(2));
            let (status, body) = match destination {
                "slack" => {
                    let relay = metered(
                        flagger_relay_slack::relay_from_env(&HashMap::from([
                            OPEN,
                            ("SLACK_WEBHOOK_URL", url.as_str()),
                        ]))
                        .expect("valid configuration"),
                    );
                    answer_clean(&what, |request| relay.handle(request), call).await
                }
                _ => {
                    let env = HashMap::from([OPEN, ("TEAMS_WEBHOOK_URL", url.as_str())]);
                    let relay = metered(
                        flagger_relay_teams::relay_from_env(&env).expect("valid configuration"),
                    );
                    answer_clean(&what, |request| relay.handle(request), call).await
                }
            };
            assert!(status >= 500, "{what}: {status} {body}");
        }
    }
    assert_logs_clean();
}

#[tokio::test]
async fn a_slack_echoing_the_webhook_in_errors_leaks_nothing() {
    echoing_destinations_leak_nothing("slack", SLACK_PATH).await;
}

#[tokio::test]
async fn a_teams_workflow_echoing_the_webhook_in_errors_leaks_nothing() {
    echoing_destinations_leak_nothing("teams", TEAMS_PATH).await;
}

/// A legacy connector answers 200 with its refusal as the body, which the relay quotes.
#[tokio::test]
async fn a_teams_connector_quoting_the_webhook_in_a_200_leaks_nothing() {
    logs();
    let server = MockServer::start().await;
    let url = format!(
        "{}/webhookb2/LeakCanaryConnector3a4b/IncomingWebhook/LeakCanaryHook9c8d/x",
        server.uri()
    );
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(format!("Webhook message delivery failed for {url}")),
        )
        .mount(&server)
        .await;
    let env = HashMap::from([
        OPEN,
        ("TEAMS_WEBHOOK_URL", url.as_str()),
        ("TEAMS_CARD_FORMAT", "messagecard"),
    ]);
    let relay = metered(flagger_relay_teams::relay_from_env(&env).expect("valid configuration"));
    let (status, _) = answer_clean(
        "a connector's refusal",
        |request| relay.handle(request),
        Call::post(ADVANCE),
    )
    .await;
    assert_eq!(status, 502);
    assert_logs_clean();
}

#[tokio::test]
async fn broken_connections_leak_nothing() {
    logs();
    // Nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let refused = format!("http://{}{SLACK_PATH}", closed.local_addr().expect("bound"));
    drop(closed);
    // Accepts, then hangs up without answering.
    let hang_up = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let hung_up = format!(
        "http://{}{SLACK_PATH}",
        hang_up.local_addr().expect("bound")
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = hang_up.accept().await {
            drop(stream);
        }
    });
    // Accepts, then never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let silent_url = format!("http://{}{SLACK_PATH}", silent.local_addr().expect("bound"));
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    // Speaks TLS to a plain HTTP server.
    let plain = MockServer::start().await;
    let tls_to_plain = format!("https://{}{SLACK_PATH}", plain.address());

    for (what, url) in [
        ("refused", &refused),
        ("hung up", &hung_up),
        ("silent", &silent_url),
        ("TLS to plain HTTP", &tls_to_plain),
    ] {
        let relay = metered(
            flagger_relay_slack::relay_from_env(&HashMap::from([
                OPEN,
                ("SLACK_WEBHOOK_URL", url.as_str()),
            ]))
            .expect("valid"),
        );
        let call = Call::post(ADVANCE).time_left(Duration::from_secs(4));
        let (status, body) = answer_clean(what, |request| relay.handle(request), call).await;
        assert!(status >= 500, "{what}: {status} {body}");
    }
    assert_logs_clean();
}

#[tokio::test]
async fn invalid_configuration_leaks_nothing() {
    logs();
    let slack = |value: &str| {
        flagger_relay_slack::relay_from_env(&HashMap::from([OPEN, ("SLACK_WEBHOOK_URL", value)]))
            .err()
            .map(|e| e.to_string())
    };
    let teams = |value: &str| {
        flagger_relay_teams::relay_from_env(&HashMap::from([OPEN, ("TEAMS_WEBHOOK_URL", value)]))
            .err()
            .map(|e| e.to_string())
    };
    for value in [
        "LeakCanary not a URL",
        "http://hooks.slack.com/services/T/B/LeakCanaryPlainHttp",
        "ftp://hooks.slack.com/services/T/B/LeakCanaryFtp",
        "hooks.slack.com/services/T/B/LeakCanaryNoScheme",
    ] {
        for (function, error) in [("slack", slack(value)), ("teams", teams(value))] {
            let error = error.unwrap_or_else(|| panic!("{function} accepted {value:?}"));
            assert_clean(
                &format!("the {function} configuration error for {value:?}"),
                &error,
            );
        }
    }
    // A value pasted into the wrong setting, and a setting given both ways.
    for env in [
        vars(&[(
            "SLACK_WEBHOOK_URL_SECRET_ARN",
            "https://hooks.slack.com/services/T/B/LeakCanaryWrongSetting",
        )]),
        vars(&[(
            "RELAY_TOKEN_SECRET_ARN",
            "arn:aws:LeakCanary:us-east-1:123456789012:secret:x",
        )]),
        vars(&[("RELAY_TOKEN_SECRET_ARN", "LeakCanaryPastedToken")]),
        vars(&[
            ("RELAY_TOKEN", "LeakCanaryBoth"),
            (
                "RELAY_TOKEN_SECRET_ARN",
                "arn:aws:ssm:us-east-1:123456789012:parameter/x",
            ),
        ]),
    ] {
        let err = resolve_with(&env, DESTINATIONS, &[], || async { store() })
            .await
            .expect_err("refused");
        assert_clean("a secret reference error", &err.to_string());
        assert_clean("a secret reference error's Debug", &format!("{err:?}"));
    }
    assert_logs_clean();
}

/// Values the store holds but the relay refuses are read by the SDK, then dropped: neither the
/// error nor the SDK's own logging may show them.
#[tokio::test]
async fn secret_store_failures_leak_nothing() {
    skip_without!(moto::available());
    logs();
    let plain = put_parameter(
        "/no-leaks/plain",
        "LeakCanaryPlainParameter",
        ParameterType::String,
    )
    .await;
    let json = put_secret(
        "no-leaks/json",
        r#"{"url":"https://hooks.slack.com/services/T/B/LeakCanaryJson"}"#,
    )
    .await;
    let deleted = put_secret("no-leaks/deleted", "LeakCanaryDeleted").await;
    aws_sdk_secretsmanager::Client::new(&store())
        .delete_secret()
        .secret_id(&deleted)
        .send()
        .await
        .expect("moto schedules the deletion");
    let missing =
        format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:no-leaks/never-created");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let unreachable = format!("http://{}", closed.local_addr().expect("bound"));
    drop(closed);

    for (what, arn, endpoint) in [
        ("a String parameter", &plain, Moto::shared().endpoint()),
        ("a key/value secret", &json, Moto::shared().endpoint()),
        ("a deleted secret", &deleted, Moto::shared().endpoint()),
        ("a missing secret", &missing, Moto::shared().endpoint()),
        ("an unreachable store", &missing, unreachable.as_str()),
    ] {
        let env = vars(&[("RELAY_TOKEN_SECRET_ARN", arn.as_str())]);
        let err = resolve_with(&env, DESTINATIONS, &[], || async { sdk_config(endpoint) })
            .await
            .expect_err(what);
        assert_clean(&format!("the error for {what}"), &err.to_string());
        assert_clean(
            &format!("the Debug of the error for {what}"),
            &format!("{err:?}"),
        );
    }
    assert_logs_clean();
}

#[tokio::test]
async fn a_dry_run_leaks_nothing() {
    logs();
    let env = HashMap::from([
        ("DRY_RUN", "1"),
        ("RELAY_TOKEN", TOKEN),
        ("SLACK_CHANNEL", "#deploys"),
    ]);
    let relay = metered(flagger_relay_slack::relay_from_env(&env).expect("valid configuration"));
    run_the_suite("slack dry run", |request| relay.handle(request)).await;
    assert_logs_clean();
}

/// Bot mode: the token travels in an `Authorization` header to the Web API, which may quote
/// it back in an error.
#[tokio::test]
async fn slack_bot_mode_leaks_nothing() {
    skip_without!(moto::available());
    logs();
    let bot_token = "xoxb-1234-5678-LeakCanaryBotToken2c4e";
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"ok":true,"ts":"1721556000.000100","channel":"C0RELAY01"}"#),
        )
        .mount(&api)
        .await;
    let token = put_secret("no-leaks/bot-token", bot_token).await;
    let env = vars(&[
        ("SLACK_BOT_TOKEN_SECRET_ARN", &token),
        ("SLACK_CHANNEL_ID", "C0RELAY01"),
        ("SLACK_API_URL", &api.uri()),
        ("RELAY_TOKEN", TOKEN),
        ("CHATTER", "forward"),
    ]);
    let resolved = resolve_with(&env, DESTINATIONS, &[], || async { store() })
        .await
        .expect("the bot token resolves");
    let relay =
        metered(flagger_relay_slack::relay_from_env(&resolved).expect("valid configuration"));
    run_the_suite("slack bot", |request| relay.handle(request)).await;
    assert!(!api.received_requests().await.unwrap_or_default().is_empty());

    let with_token = format!("token={TOKEN}");
    for (status, reply) in [
        (
            200,
            format!(
                r#"{{"ok":false,"error":"invalid_auth","detail":"token {bot_token} is revoked"}}"#
            ),
        ),
        (401, format!("Bearer {bot_token} rejected")),
        (
            500,
            format!("upstream saw Authorization: Bearer {bot_token}"),
        ),
    ] {
        api.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(reply))
            .mount(&api)
            .await;
        let call = Call::post(ADVANCE)
            .query(&with_token)
            .time_left(Duration::from_secs(2));
        let (answered, body) = answer_clean(
            &format!("the Web API answering {status}"),
            |request| relay.handle(request),
            call,
        )
        .await;
        assert!(answered >= 500, "{status}: {answered} {body}");
    }
    assert_logs_clean();
}

/// The gate, its secrets from the stores: Slack's Web API and a Teams workflow answer with
/// errors that quote the bot token and the webhook's signature, a click comes forged, the
/// decisions API is called with a wrong token. The gate's answers and logs stay clean.
#[tokio::test]
async fn the_gate_leaks_nothing() {
    skip_without!(moto::available());
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let table = moto::create_table(&config, "gates", "rollout").await;
    let bot_token = "xoxb-1-2-LeakCanaryGateBot";
    let signing_secret = "LeakCanarySigningSecret0123456789";
    let link_key = "LeakCanaryLinkKey0123456789abcdef0123";
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500).set_body_string(format!("upstream saw Bearer {bot_token}")),
        )
        .mount(&slack)
        .await;
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string(format!("bad card for {}{TEAMS_PATH}", teams.uri())),
        )
        .mount(&teams)
        .await;
    let env = vars(&[
        (
            "RELAY_TOKEN_SECRET_ARN",
            &put_secret("gate-token", TOKEN).await,
        ),
        (
            "SLACK_BOT_TOKEN_SECRET_ARN",
            &put_secret("gate-bot", bot_token).await,
        ),
        (
            "SLACK_SIGNING_SECRET_SECRET_ARN",
            &put_secret("gate-signing", signing_secret).await,
        ),
        (
            "APPROVAL_LINK_KEY_SECRET_ARN",
            &put_secret("gate-links", link_key).await,
        ),
        ("TEAMS_WEBHOOK_URL", &format!("{}{TEAMS_PATH}", teams.uri())),
        ("TEAMS_APPROVAL_LINKS", "true"),
        ("GATES_TABLE", &table),
        ("SLACK_CHANNEL_ID", "C0RELAY"),
        ("SLACK_API_URL", &format!("{}/api", slack.uri())),
        ("APPROVERS", "U0ALICE"),
    ]);
    let resolved = resolve_with(&env, flagger_relay_gate::SECRETS, &[], || async { store() })
        .await
        .expect("the gate's secrets resolve");
    let gate = flagger_relay_gate::GateFunction::from_env(&resolved)
        .expect("valid configuration")
        .with_sdk_config(config);
    let handle = |request| gate.handle(request);

    let gate_call = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{}}"#;
    let with_token = format!("token={TOKEN}");
    let call = Call::post(gate_call)
        .path("/confirm-promotion")
        .query(&with_token);
    let (status, body) = answer_clean("a closed gate whose prompt failed", handle, call).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["prompt"].as_str().unwrap().starts_with("not posted"),
        "{body}"
    );
    for (what, call) in [
        (
            "a gate call without the token",
            Call::post(gate_call).path("/rollback"),
        ),
        (
            "a forged click",
            Call::post(b"payload=%7B%7D")
                .path("/slack/interactions")
                .header("x-slack-request-timestamp", "1")
                .header("x-slack-signature", "v0=00"),
        ),
        (
            "the decisions API with a wrong token",
            Call::post(b"")
                .method("GET")
                .path("/decisions/test/podinfo")
                .header("authorization", "Bearer wrong"),
        ),
    ] {
        let response = gate.handle(call.request()).await;
        assert_clean(&format!("the response to {what}"), &body_text(&response));
        assert!(response.status().as_u16() >= 400, "{what}");
    }
    let err = flagger_relay_gate::GateFunction::from_env(&vars(&[
        ("RELAY_TOKEN", TOKEN),
        ("GATES_TABLE", "gates"),
        ("SLACK_BOT_TOKEN", bot_token),
        ("SLACK_CHANNEL_ID", "C0RELAY"),
        ("SLACK_SIGNING_SECRET", "LeakCanary"),
    ]))
    .err()
    .expect("a signing secret too short to be one");
    assert_clean("a configuration error", &err.to_string());
    assert_logs_clean();
}
