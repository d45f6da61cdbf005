//! Fan-out mode: Flagger → SNS function → topic → Slack and Teams functions, each invoked by
//! Lambda with an SNS event. The topic and queues are moto; Slack and Teams are wiremock.

use std::time::Duration;

use flagger_relay_core::dead_letter::{DeadLetterQueue, DeadLetterRecord};
use flagger_relay_core::redrive::redrive;
use flagger_relay_core::{Destination, Relay};
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{Call, OPEN, env, fixtures, read, root, skip_without};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

/// Lambda's SNS event for one message, as a subscribed function receives it.
fn sns_event(topic: &str, message: &str) -> String {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{topic}:0b8ea2d6-4e4f-4a4b-9c7e-1f1f2d2e3c4d"),
        "Sns": {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": topic,
            "Subject": null,
            "Message": message,
            "Timestamp": "2025-11-24T16:05:01.002Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {}
        }
    }]})
    .to_string()
}

fn invocation(event: &str) -> lambda_http::Request {
    use lambda_http::RequestExt;
    let request = lambda_http::request::from_str(event)
        .expect("an SNS event is accepted as a pass-through request");
    let mut context = lambda_http::Context::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    context.deadline = (now + Duration::from_secs(10)).as_millis() as u64;
    request.with_lambda_context(context)
}

async fn answering(status: u16, body: &str) -> MockServer {
    flagger_relay_tests::answering(ResponseTemplate::new(status).set_body_string(body)).await
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn slack(uri: &str) -> Relay<flagger_relay_slack::Slack> {
    let url = format!("{uri}/services/T0/B0/fanout0123456789");
    flagger_relay_slack::relay_from_env(&env(&[OPEN, ("SLACK_WEBHOOK_URL", &url)])).unwrap()
}

fn teams(uri: &str) -> Relay<flagger_relay_teams::TeamsWebhook> {
    let url = format!("{uri}/workflows/fanout0123456789/invoke");
    flagger_relay_teams::relay_from_env(&env(&[
        OPEN,
        ("TEAMS_WEBHOOK_URL", &url),
        ("TEAMS_CARD_FORMAT", "adaptive"),
    ]))
    .unwrap()
}

async fn queue() -> (DeadLetterQueue, aws_sdk_sqs::Client, String) {
    moto::dead_letter_queue("fanout-dlq").await
}

/// Publishes `body` through the SNS function to a moto topic and returns the messages an SQS
/// subscription of the topic received: what Lambda would hand a subscribed function.
async fn through_the_topic(bodies: &[Vec<u8>]) -> (String, Vec<String>) {
    let config = Moto::shared().sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(moto::unique("fanout"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = moto::subscribed_queue(&config, &topic, "fanout", None, false).await;
    let relay =
        flagger_relay_sns::relay_with_sdk_config(&env(&[OPEN, ("SNS_TOPIC_ARN", &topic)]), &config)
            .unwrap();
    for body in bodies {
        let (status, answer) = read(relay.handle(Call::post(body).request()).await);
        assert_eq!(status, 200, "{answer}");
    }
    let messages = moto::drain(&config, &queue, bodies.len())
        .await
        .iter()
        .map(|message| {
            let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            envelope["Message"]
                .as_str()
                .expect("an SNS envelope")
                .to_owned()
        })
        .collect();
    (topic, messages)
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_and_teams_send_through_the_topic_exactly_what_they_send_directly() {
    skip_without!(moto::available());
    let chosen: Vec<_> = fixtures()
        .into_iter()
        .filter(|f| {
            [
                "canary-rollback-metrics-07",
                "canary-success-09",
                "canary-success-18",
                "gated-success-03",
            ]
            .contains(&f.name.as_str())
        })
        .collect();
    let bodies: Vec<Vec<u8>> = chosen.iter().map(|f| f.body.clone()).collect();
    let (topic, messages) = through_the_topic(&bodies).await;
    assert_eq!(messages.len(), chosen.len());

    for make in [
        |uri: &str| Box::new(slack(uri)) as Box<dyn Invoke>,
        |uri: &str| Box::new(teams(uri)) as Box<dyn Invoke>,
    ] {
        let (direct, fanned) = (answering(200, "ok").await, answering(200, "ok").await);
        let (direct_relay, fanned_relay) = (make(&direct.uri()), make(&fanned.uri()));
        for body in &bodies {
            let response = direct_relay.call(Call::post(body).request()).await.unwrap();
            assert_eq!(response.status(), 200);
        }
        for message in &messages {
            let response = fanned_relay
                .call(invocation(&sns_event(&topic, message)))
                .await
                .expect("delivered");
            assert_eq!(response.status(), 200);
        }
        let (mut direct_bodies, mut fanned_bodies) =
            (bodies_of(&direct).await, bodies_of(&fanned).await);
        direct_bodies.sort();
        fanned_bodies.sort();
        assert_eq!(
            direct_bodies, fanned_bodies,
            "the same messages, whichever way the events came"
        );
    }
}

async fn bodies_of(server: &MockServer) -> Vec<String> {
    bodies(server)
        .await
        .into_iter()
        .map(|b| b.to_string())
        .collect()
}

/// Lets one test drive both functions.
trait Invoke {
    fn call(
        &self,
        request: lambda_http::Request,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>,
                > + '_,
        >,
    >;
}

impl<D: Destination> Invoke for Relay<D> {
    fn call(
        &self,
        request: lambda_http::Request,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>,
                > + '_,
        >,
    > {
        Box::pin(self.invoke(request))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recorded_sns_events_are_delivered() {
    let dir = root().join("events/sns");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "SNS event fixtures in {}", dir.display());
    for path in files {
        let server = answering(200, "ok").await;
        let event = std::fs::read_to_string(&path).unwrap();
        let response = slack(&server.uri())
            .invoke(invocation(&event))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(response.status(), 200, "{}", path.display());
        assert_eq!(bodies(&server).await.len(), 1, "{}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_is_returned_to_lambda_to_retry_and_not_parked() {
    skip_without!(moto::available());
    let server = answering(503, "").await;
    let (dlq, sqs, url) = queue().await;
    let relay = slack(&server.uri()).with_dead_letter_queue(dlq);
    let message =
        std::fs::read_to_string(root().join("events/sns/slack-subscription.json")).unwrap();
    let err = relay
        .invoke(invocation(&message))
        .await
        .expect_err("Lambda must see a failure to retry");
    assert!(err.to_string().contains("left to Lambda to retry"), "{err}");
    assert!(
        !err.to_string().contains("fanout0123456789"),
        "no secret in the error: {err}"
    );
    assert!(
        moto::take_all(&sqs, &url).await.is_empty(),
        "Lambda's OnFailure destination parks it after the last retry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_refusal_is_parked_at_once_and_reported_as_handled() {
    skip_without!(moto::available());
    let server = answering(400, "invalid_payload").await;
    let (dlq, sqs, url) = queue().await;
    let relay = slack(&server.uri()).with_dead_letter_queue(dlq);
    let event = std::fs::read_to_string(root().join("events/sns/slack-subscription.json")).unwrap();
    let response = relay
        .invoke(invocation(&event))
        .await
        .expect("no pointless retries");
    assert_eq!(response.status(), 502);
    let records: Vec<DeadLetterRecord> = moto::take_all(&sqs, &url)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (
            records[0].source.as_str(),
            records[0].failure_class.as_str()
        ),
        ("sns", "permanent")
    );
    assert_eq!(bodies(&server).await.len(), 1, "one attempt");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_is_not_a_flagger_relay_document_is_parked_never_retried() {
    skip_without!(moto::available());
    let server = answering(200, "ok").await;
    let (dlq, sqs, url) = queue().await;
    let relay = slack(&server.uri()).with_dead_letter_queue(dlq);
    let event = sns_event(
        "arn:aws:sns:us-east-1:123456789012:flagger-events",
        "deploy finished, have a nice day",
    );
    let response = relay
        .invoke(invocation(&event))
        .await
        .expect("parked, not retried");
    assert_eq!(response.status(), 502);
    let records: Vec<DeadLetterRecord> = moto::take_all(&sqs, &url)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert!(
        records[0].reason.contains("not a flagger-relay document"),
        "{}",
        records[0].reason
    );
    assert_eq!(
        records[0].payload_bytes().unwrap(),
        b"deploy finished, have a nice day"
    );
    assert!(bodies(&server).await.is_empty(), "nothing forwarded");
}

#[tokio::test(flavor = "multi_thread")]
async fn redrive_reads_what_lambdas_on_failure_destination_parked() {
    skip_without!(moto::available());
    let (_, sqs, url) = queue().await;
    let message =
        std::fs::read_to_string(root().join("events/sns/slack-subscription.json")).unwrap();
    let request_payload: Value = serde_json::from_str(&message).unwrap();
    let lambda_record = json!({
        "version": "1.0",
        "timestamp": "2025-11-24T16:07:01.002Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4c5b-a0b0-7b0c1e1d2a3f",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:flagger-relay-slack:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": request_payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "slack delivery failed; left to Lambda to retry: HTTP 503"}
    });
    sqs.send_message()
        .queue_url(&url)
        .message_body(lambda_record.to_string())
        .send()
        .await
        .unwrap();
    let server = answering(200, "ok").await;
    let relay = slack(&server.uri());
    let queue = DeadLetterQueue::with_config(url.clone(), Moto::shared().sdk_config().await);
    let report = redrive(&relay, &queue, false).await.unwrap();
    assert_eq!((report.delivered, report.unreadable), (1, 0));
    assert_eq!(bodies(&server).await.len(), 1);
    assert!(moto::take_all(&sqs, &url).await.is_empty());
}
