//! End to end: each function's real binary under the Lambda runtime emulator, reached over
//! HTTP at its Function URL, delivering to a local destination.

use std::time::Duration;

use flagger_relay_tests::watch::{self, Emulator};
use flagger_relay_tests::{fixtures, skip_without};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client() -> reqwest::Client {
    // The first invocation compiles the function; give it time.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "builds the function under cargo lambda watch; run with --include-ignored (make test does)"]
async fn slack_function_delivers_a_recorded_event_through_its_function_url() {
    skip_without!(watch::available());
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/e2e"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&slack)
        .await;
    let hook = format!("{}/services/T0/B0/e2e", slack.uri());
    let emulator = Emulator::start(
        "flagger-relay-slack",
        &[
            ("SLACK_WEBHOOK_URL", &hook),
            ("RELAY_TOKEN", "e2e-token-123456"),
        ],
        &[],
    );
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.name == "canary-rollback-metrics-13")
        .unwrap();

    let refused = client()
        .post(emulator.function_url())
        .header("content-type", "application/json")
        .body(fixture.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let response = client()
        .post(format!(
            "{}?token=e2e-token-123456",
            emulator.function_url()
        ))
        .header("content-type", "application/json")
        .body(fixture.body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "delivered");
    let received = slack.received_requests().await.unwrap();
    let message: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .starts_with("podinfo.test"),
        "{message}"
    );
}

/// The gate under the emulator: Flagger's call is refused and prompts, a click signed as
/// Slack signs it approves, and Flagger's next call is let through: a promotion decided from
/// a button, end to end.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs cargo-lambda and moto; run by `make test`"]
async fn gate_function_promotes_a_canary_when_an_approver_clicks() {
    use flagger_relay_gate::slack::SigningSecret;
    use flagger_relay_tests::moto::{self, Moto};

    skip_without!(watch::available() && moto::available());

    const TOKEN: &str = "e2e-gate-token-123456";
    const SECRET: &str = "e2e0signing0secret0123456789abcd";
    let moto = Moto::shared();
    let table = moto::create_table(&moto.sdk_config().await, "gates", "rollout").await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"ok": true, "channel": "C0RELAY", "ts": "1764000000.000100"}),
        ))
        .expect(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"ok": true, "channel": "C0RELAY", "ts": "1764000000.000100"}),
        ))
        .expect(1)
        .mount(&slack)
        .await;
    let api = format!("{}/api", slack.uri());
    let emulator = Emulator::start(
        "flagger-relay-gate",
        &[
            ("RELAY_TOKEN", TOKEN),
            ("GATES_TABLE", &table),
            ("SLACK_BOT_TOKEN", "xoxb-1-2-e2eBotToken"),
            ("SLACK_CHANNEL_ID", "C0RELAY"),
            ("SLACK_SIGNING_SECRET", SECRET),
            ("SLACK_API_URL", &api),
            ("APPROVERS", "U0ALICE"),
            ("AWS_ENDPOINT_URL", moto.endpoint()),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
        &[],
    );
    let url = emulator.function_url();
    let flagger = |client: reqwest::Client| {
        let url = format!("{url}confirm-promotion?token={TOKEN}");
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"bd5c8f7946","metadata":{}}"#)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            (status, body)
        }
    };

    let (status, body) = flagger(client()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["prompt"], "posted");
    let prompt: serde_json::Value =
        serde_json::from_slice(&slack.received_requests().await.unwrap()[0].body).unwrap();
    let value = prompt["blocks"][3]["elements"][0]["value"]
        .as_str()
        .unwrap();

    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "alice"},
        "response_url": format!("{}/actions/T0/1/e2e", slack.uri()),
        "actions": [{"action_id": "gate-approve", "type": "button", "value": value}]
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let timestamp = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs())
    .to_string();
    let signature = SigningSecret::parse(SECRET)
        .unwrap()
        .sign(&timestamp, body.as_bytes());
    let forged = client()
        .post(format!("{url}slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", "v0=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let click = client()
        .post(format!("{url}slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(click.status(), 200);

    let (status, body) = flagger(client()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "open");
    assert_eq!(body["decision"]["by"], "U0ALICE");
}
