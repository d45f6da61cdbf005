//! The Teams function, driven through its real handler against a local Teams stand-in: a
//! Workflows webhook (Adaptive Cards, 202) or a legacy connector (MessageCards, 200 `1`).

use std::time::Duration;

use flagger_relay_core::Relay;
use flagger_relay_core::contract::MAX_BODY_BYTES;
use flagger_relay_teams::render::MAX_PAYLOAD_BYTES;
use flagger_relay_teams::{TeamsWebhook, relay_from_env};
use flagger_relay_tests::{Call, OPEN, env, fixtures, lifecycles, read, write_payloads};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HOOK_PATH: &str = "/workflows/0f1e2d3c/triggers/manual/paths/invoke/sigsecretXYZ";

const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"cluster":"prod-eu","eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

/// The two kinds of Teams webhook, and what each answers when it took a message.
#[derive(Debug, Clone, Copy)]
enum Webhook {
    Workflows,
    Connector,
}

impl Webhook {
    /// A local server has neither kind of host, so the connector is chosen by format.
    fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Webhook::Workflows => &[],
            Webhook::Connector => &[("TEAMS_CARD_FORMAT", "messagecard")],
        }
    }

    fn accepted(self) -> ResponseTemplate {
        match self {
            Webhook::Workflows => ResponseTemplate::new(202),
            Webhook::Connector => ResponseTemplate::new(200).set_body_string("1"),
        }
    }
}

fn relay(server: &MockServer, webhook: Webhook, extra: &[(&str, &str)]) -> Relay<TeamsWebhook> {
    let url = format!("{}{HOOK_PATH}", server.uri());
    let mut vars = vec![("TEAMS_WEBHOOK_URL", url.as_str())];
    vars.extend_from_slice(webhook.env());
    vars.extend_from_slice(extra);
    // A token a test sets is still required; OPEN only says that none is needed otherwise.
    vars.push(OPEN);
    relay_from_env(&env(&vars)).expect("valid test configuration")
}

async fn answers(server: &MockServer, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

async fn received(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).expect("Teams got JSON"))
        .collect()
}

async fn received_sizes(server: &MockServer) -> Vec<usize> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| request.body.len())
        .collect()
}

/// Every fixture through the handler to a stand-in of `webhook`; returns what it received.
async fn relay_every_fixture(webhook: Webhook, snapshot_prefix: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for (lifecycle, events) in lifecycles() {
        let server = MockServer::start().await;
        answers(&server, webhook.accepted(), events.len() as u64).await;
        let relay = relay(&server, webhook, &[("CHATTER", "forward")]);
        for fixture in &events {
            let (status, body) = read(relay.handle(Call::post(&fixture.body).request()).await);
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("delivered")),
                "{}: {body}",
                fixture.name
            );
            assert_eq!(body["destination"], "teams");
        }
        let payloads = received(&server).await;
        assert!(
            received_sizes(&server)
                .await
                .iter()
                .all(|size| *size <= MAX_PAYLOAD_BYTES)
        );
        insta::assert_json_snapshot!(format!("{snapshot_prefix}-{lifecycle}"), payloads);
        all.extend(payloads);
    }
    assert_eq!(all.len(), fixtures().len());
    all
}

#[tokio::test]
async fn every_recorded_event_reaches_workflows_as_an_adaptive_card_as_snapshotted() {
    let all = relay_every_fixture(Webhook::Workflows, "adaptive").await;
    for payload in &all {
        assert_eq!(payload["type"], "message");
        assert_eq!(
            payload["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(payload["attachments"][0]["content"]["version"], "1.4");
    }
    write_payloads("teams.jsonl", &all);
}

#[tokio::test]
async fn every_recorded_event_reaches_a_connector_as_a_messagecard_as_snapshotted() {
    let all = relay_every_fixture(Webhook::Connector, "messagecard").await;
    for payload in &all {
        assert_eq!(payload["@type"], "MessageCard");
        assert_eq!(payload["sections"].as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn a_dry_run_renders_and_sends_nothing() {
    let relay = relay_from_env(&env(&[OPEN, ("DRY_RUN", "1")])).unwrap();
    let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("dry-run")),
        "{body}"
    );
    let title = body["payload"]["attachments"][0]["content"]["body"][0]["items"][1]["text"]
        .as_str()
        .expect("title");
    assert!(title.starts_with("podinfo.test: "), "{title}");
}

/// A gating hook posts no `eventMessage`: the card says so instead of showing nothing.
#[tokio::test]
async fn a_payload_without_an_event_message_still_makes_a_card() {
    let body = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f","metadata":{"approver":"team-a"}}"#;
    let relay = relay_from_env(&env(&[OPEN, ("DRY_RUN", "1")])).unwrap();
    let (status, body) = read(relay.handle(Call::post(body).request()).await);
    assert_eq!(status, 200, "{body}");
    let card = &body["payload"]["attachments"][0]["content"];
    assert_eq!(card["body"][1]["isSubtle"], true);
    assert!(
        card["body"][1]["text"]
            .as_str()
            .unwrap()
            .contains("without an event message")
    );
    assert!(
        card["body"][2]["facts"]
            .as_array()
            .unwrap()
            .contains(&json!({"title": "approver", "value": "team-a"}))
    );
}

mod card_format {
    use super::*;

    async fn dry_run(url: &str, format: Option<&str>) -> Value {
        let mut vars = vec![OPEN, ("DRY_RUN", "1"), ("TEAMS_WEBHOOK_URL", url)];
        vars.extend(format.map(|format| ("TEAMS_CARD_FORMAT", format)));
        let relay = relay_from_env(&env(&vars)).expect("valid configuration");
        let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
        assert_eq!(status, 200, "{body}");
        body["payload"].clone()
    }

    fn is_messagecard(payload: &Value) -> bool {
        payload["@type"] == "MessageCard"
    }

    fn is_adaptive(payload: &Value) -> bool {
        payload["type"] == "message"
            && payload["attachments"][0]["content"]["type"] == "AdaptiveCard"
    }

    const CONNECTOR: &str = "https://contoso.webhook.office.com/webhookb2/1@2/IncomingWebhook/3/4";
    const OLD_CONNECTOR: &str = "https://outlook.office.com/webhook/1@2/IncomingWebhook/3/4";
    const WORKFLOWS: &[&str] = &[
        "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x",
        "https://default0a1b.2c.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?sig=x",
    ];

    #[tokio::test]
    async fn auto_sends_a_messagecard_to_a_connector_host() {
        assert!(is_messagecard(&dry_run(CONNECTOR, None).await));
        assert!(is_messagecard(&dry_run(OLD_CONNECTOR, Some("auto")).await));
    }

    #[tokio::test]
    async fn auto_sends_an_adaptive_card_to_a_workflows_host() {
        for url in WORKFLOWS {
            assert!(is_adaptive(&dry_run(url, None).await), "{url}");
        }
    }

    #[tokio::test]
    async fn an_explicit_format_wins_over_the_host() {
        assert!(is_adaptive(&dry_run(CONNECTOR, Some("adaptive")).await));
        assert!(is_messagecard(
            &dry_run(WORKFLOWS[0], Some("messagecard")).await
        ));
    }

    #[test]
    fn an_unknown_format_stops_the_function_at_start() {
        let err = relay_from_env(&env(&[
            OPEN,
            ("TEAMS_WEBHOOK_URL", CONNECTOR),
            ("TEAMS_CARD_FORMAT", "html"),
        ]))
        .err();
        assert!(err.unwrap().to_string().contains("TEAMS_CARD_FORMAT"));
    }
}

mod delivery {
    use super::*;

    async fn outcome(server: &MockServer, webhook: Webhook) -> (u16, Value) {
        read(
            relay(server, webhook, &[])
                .handle(Call::post(ADVANCE).request())
                .await,
        )
    }

    #[tokio::test]
    async fn a_202_from_workflows_is_delivered() {
        let server = MockServer::start().await;
        answers(&server, ResponseTemplate::new(202), 1).await;
        let (status, body) = outcome(&server, Webhook::Workflows).await;
        assert_eq!(
            (status, body["status"].as_str(), body["attempts"].as_u64()),
            (200, Some("delivered"), Some(1))
        );
    }

    #[tokio::test]
    async fn a_200_from_workflows_is_delivered() {
        let server = MockServer::start().await;
        answers(&server, ResponseTemplate::new(200), 1).await;
        let (status, body) = outcome(&server, Webhook::Workflows).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("delivered")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_connector_answering_1_is_delivered() {
        let server = MockServer::start().await;
        answers(&server, ResponseTemplate::new(200).set_body_string("1"), 1).await;
        let (status, body) = outcome(&server, Webhook::Connector).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("delivered")),
            "{body}"
        );
    }

    /// A connector that failed to post still answers 200, with its error as the body.
    #[tokio::test]
    async fn a_connector_200_without_1_is_a_permanent_rejection_with_its_body_as_the_reason() {
        let server = MockServer::start().await;
        let failure = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tcid=0,server=msgapi-production-weu-azsc1-3-7,cv=abc.";
        answers(
            &server,
            ResponseTemplate::new(200).set_body_string(failure),
            1,
        )
        .await;
        let (status, body) = outcome(&server, Webhook::Connector).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["status"], "rejected");
        assert_eq!(body["attempts"], 1);
        assert_eq!(
            body["error"],
            format!("teams rejected the message: HTTP 200: {failure}")
        );
    }

    #[tokio::test]
    async fn a_connector_200_with_an_empty_body_is_a_permanent_rejection() {
        let server = MockServer::start().await;
        answers(&server, ResponseTemplate::new(200), 1).await;
        let (status, body) = outcome(&server, Webhook::Connector).await;
        assert_eq!(status, 502, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("empty body instead of `1`"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_413_or_400_from_teams_is_permanent_and_not_retried() {
        for (code, reason) in [
            (413, "Payload too large"),
            (400, "Bad payload received by generic incoming webhook."),
        ] {
            for webhook in [Webhook::Workflows, Webhook::Connector] {
                let server = MockServer::start().await;
                answers(
                    &server,
                    ResponseTemplate::new(code).set_body_string(reason),
                    1,
                )
                .await;
                let (status, body) = outcome(&server, webhook).await;
                assert_eq!(
                    (status, body["attempts"].as_u64()),
                    (502, Some(1)),
                    "{webhook:?} {code}: {body}"
                );
                assert_eq!(
                    body["error"],
                    format!("teams rejected the message: HTTP {code}: {reason}")
                );
            }
        }
    }

    /// Teams throttles above 4 requests per second per webhook.
    #[tokio::test]
    async fn waits_as_long_as_teams_asks_after_a_429() {
        for webhook in [Webhook::Workflows, Webhook::Connector] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
                .up_to_n_times(1)
                .with_priority(1)
                .expect(1)
                .mount(&server)
                .await;
            answers(&server, webhook.accepted(), 1).await;
            let started = std::time::Instant::now();
            let (status, body) = outcome(&server, webhook).await;
            assert_eq!(
                (status, body["attempts"].as_u64()),
                (200, Some(2)),
                "{webhook:?}: {body}"
            );
            assert!(
                started.elapsed() >= Duration::from_secs(1),
                "{webhook:?}: Retry-After was not honoured"
            );
        }
    }

    #[tokio::test]
    async fn a_429_asking_for_longer_than_the_deadline_is_503() {
        let server = MockServer::start().await;
        answers(
            &server,
            ResponseTemplate::new(429).insert_header("retry-after", "60"),
            1,
        )
        .await;
        let (status, body) = outcome(&server, Webhook::Workflows).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (503, Some("unavailable")),
            "{body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("asked to retry after 60 s"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn never_shows_the_webhook_url_even_when_teams_echoes_it() {
        let server = MockServer::start().await;
        answers(
            &server,
            ResponseTemplate::new(404).set_body_string(format!("no flow at {HOOK_PATH}")),
            1,
        )
        .await;
        let (status, body) = outcome(&server, Webhook::Workflows).await;
        assert_eq!(status, 502);
        assert!(!body.to_string().contains("sigsecretXYZ"), "{body}");
    }
}

mod limits {
    use super::*;

    /// The longest event message a request may carry (the whole 256 KiB body limit), made of
    /// what grows most when escaped, with multi-byte characters so that a cut could split one.
    fn longest_event(unit: &str) -> Vec<u8> {
        let envelope = |message: &str| {
            json!({
                "name": "podinfo", "namespace": "test", "phase": "Failed", "checksum": "85d557f47b",
                "metadata": {"eventMessage": message, "eventType": "Warning", "timestamp": "1763996400137", "cluster": "prod-eu"}
            })
            .to_string()
        };
        let room = MAX_BODY_BYTES - envelope("").len();
        let unit_size = serde_json::to_string(unit).unwrap().len() - 2;
        let body = envelope(&unit.repeat(room / unit_size));
        assert!(
            body.len() > MAX_BODY_BYTES - unit_size && body.len() <= MAX_BODY_BYTES,
            "{}",
            body.len()
        );
        body.into_bytes()
    }

    const UNITS: &[&str] = &[
        "[x](https://evil.example) <at>all</at> & **é🚀** ",
        "&",
        "x",
        "\u{1}",
    ];

    #[tokio::test]
    async fn the_longest_message_is_cut_so_that_the_whole_card_fits_in_28_kb() {
        let mut adaptive = Vec::new();
        for unit in UNITS {
            let body = longest_event(unit);
            for webhook in [Webhook::Workflows, Webhook::Connector] {
                let server = MockServer::start().await;
                answers(&server, webhook.accepted(), 1).await;
                let (status, outcome) = read(
                    relay(&server, webhook, &[])
                        .handle(Call::post(&body).request())
                        .await,
                );
                assert_eq!(status, 200, "{webhook:?} {unit:?}: {outcome}");
                let size = received_sizes(&server).await[0];
                assert!(
                    size <= MAX_PAYLOAD_BYTES,
                    "{webhook:?} {unit:?}: {size} bytes"
                );
                assert!(
                    size > MAX_PAYLOAD_BYTES - 64,
                    "{webhook:?} {unit:?}: {size} bytes leaves room unused"
                );
                let payload = received(&server).await.remove(0);
                let message = match webhook {
                    Webhook::Workflows => {
                        payload["attachments"][0]["content"]["body"][1]["text"].clone()
                    }
                    Webhook::Connector => payload["sections"][0]["text"].clone(),
                };
                assert!(
                    message.as_str().unwrap().ends_with('…'),
                    "{webhook:?} {unit:?}"
                );
                if let Webhook::Workflows = webhook {
                    adaptive.push(payload);
                }
            }
        }
        // For the Adaptive Card validator, beside the fixtures' cards.
        write_payloads("teams-limits.jsonl", &adaptive);
    }
}

mod escaping {
    use super::*;

    const HOSTILE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"Halt [click here](https://evil.example) <at>General</at> **now** & 1. go","eventType":"Warning","timestamp":"1763996400137","<at>x</at>":"[a](https://evil.example)"}}"#;

    async fn dry_run(format: &str) -> Value {
        let relay = relay_from_env(&env(&[
            OPEN,
            ("DRY_RUN", "1"),
            ("TEAMS_CARD_FORMAT", format),
        ]))
        .unwrap();
        let (status, body) = read(relay.handle(Call::post(HOSTILE).request()).await);
        assert_eq!(status, 200, "{body}");
        body["payload"].clone()
    }

    #[tokio::test]
    async fn event_text_cannot_make_links_or_mentions_in_an_adaptive_card() {
        let payload = dry_run("adaptive").await;
        let card = &payload["attachments"][0]["content"];
        assert_eq!(
            card["body"][1]["text"],
            r"Halt \[click here\](https://evil.example) \<at>General\</at> \*\*now\*\* & 1. go"
        );
        assert!(
            card["body"][2]["facts"]
                .as_array()
                .unwrap()
                .contains(&json!({
                    "title": r"\<at>x\</at>", "value": r"\[a\](https://evil.example)"
                }))
        );
        assert!(
            card.get("msteams")
                .and_then(|m| m.get("entities"))
                .is_none(),
            "no mention entities, ever"
        );
    }

    #[tokio::test]
    async fn event_text_cannot_add_markup_to_a_messagecard() {
        let payload = dry_run("messagecard").await;
        let section = &payload["sections"][0];
        assert_eq!(section["markdown"], false);
        assert_eq!(
            section["text"],
            "Halt [click here](https://evil.example) &lt;at&gt;General&lt;/at&gt; **now** &amp; 1. go"
        );
        assert!(section["facts"].as_array().unwrap().contains(&json!({
            "name": "&lt;at&gt;x&lt;/at&gt;", "value": "[a](https://evil.example)"
        })));
    }
}

mod auth {
    use super::*;

    const TOKEN: &[(&str, &str)] = &[("RELAY_TOKEN", "tok-0123456789abcdef")];

    #[tokio::test]
    async fn a_missing_or_wrong_token_is_401_and_nothing_is_sent() {
        let server = MockServer::start().await;
        answers(&server, Webhook::Workflows.accepted(), 0).await;
        let relay = relay(&server, Webhook::Workflows, TOKEN);
        for call in [
            Call::post(ADVANCE),
            Call::post(ADVANCE).query("token=tok-guess"),
        ] {
            let (status, body) = read(relay.handle(call.request()).await);
            assert_eq!((status, body), (401, json!({"error": "unauthorized"})));
        }
    }

    #[tokio::test]
    async fn the_right_token_is_accepted() {
        let server = MockServer::start().await;
        answers(&server, Webhook::Workflows.accepted(), 1).await;
        let relay = relay(&server, Webhook::Workflows, TOKEN);
        let (status, _) = read(
            relay
                .handle(
                    Call::post(ADVANCE)
                        .query("token=tok-0123456789abcdef")
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 200);
    }
}
