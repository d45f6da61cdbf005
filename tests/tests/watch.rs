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
