//! Secret settings from Secrets Manager and Parameter Store, read at cold start from a real
//! local store (moto), then used by a real relay.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ssm::types::ParameterType;
use flagger_relay_core::config::Env;
use flagger_relay_core::secrets::{ResolvedEnv, SecretError, SecretSetting, resolve_with};
use flagger_relay_tests::moto::{self, ACCOUNT, Moto};
use flagger_relay_tests::{Call, read, skip_without};
use std::collections::HashMap;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every destination's secret settings: these tests resolve Slack's and Teams' alike.
const DESTINATIONS: &[SecretSetting] = &[
    flagger_relay_slack::SECRETS[0],
    flagger_relay_slack::SECRETS[1],
    flagger_relay_teams::SECRETS[0],
];

const HOOK_PATH: &str = "/services/T0STORE/B0STORE/fromthestore";
const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

fn sdk_config(endpoint: &str, region: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

fn dummy_credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "tests")
}

/// The SDK configuration a function in us-east-1 would have, pointed at the shared moto.
fn function_sdk() -> SdkConfig {
    sdk_config(Moto::shared().endpoint(), "us-east-1", dummy_credentials())
}

/// Stores `value` in a secret, through a moto at `endpoint` in `region`; answers its ARN.
async fn put_secret(endpoint: &str, region: &str, name: &str, value: &str) -> String {
    let config = sdk_config(endpoint, region, dummy_credentials());
    moto::put_secret(&config, name, value).await
}

/// The same for a parameter in the shared moto; answers its ARN.
async fn put_parameter(name: &str, value: &str, kind: ParameterType) -> String {
    moto::put_parameter(&function_sdk(), name, value, kind).await
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn resolve(
    env: &HashMap<String, String>,
) -> Result<ResolvedEnv<'_, HashMap<String, String>>, SecretError> {
    resolve_with(env, DESTINATIONS, &[], || async { function_sdk() }).await
}

async fn slack() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_webhook_url_from_secrets_manager_reaches_slack() {
    skip_without!(moto::available());
    let server = slack().await;
    let url = format!("{}{HOOK_PATH}", server.uri());
    let arn = put_secret(
        Moto::shared().endpoint(),
        "us-east-1",
        "flagger-relay/e2e/slack-webhook",
        &format!("{url}\n"),
    )
    .await;
    let env = vars(&[
        ("SLACK_WEBHOOK_URL_SECRET_ARN", &arn),
        ("ALLOW_UNAUTHENTICATED", "true"),
    ]);
    let resolved = resolve(&env).await.expect("the secret resolves");
    assert_eq!(resolved.from_store(), ["SLACK_WEBHOOK_URL"]);
    assert_eq!(
        resolved.var("SLACK_WEBHOOK_URL"),
        Some(url),
        "the value, without its trailing newline"
    );

    let relay = flagger_relay_slack::relay_from_env(&resolved).expect("valid configuration");
    let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("delivered")),
        "{body}"
    );
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        1
    );
}

#[tokio::test]
async fn a_relay_token_from_a_securestring_parameter_guards_the_function() {
    skip_without!(moto::available());
    let server = slack().await;
    let url = format!("{}{HOOK_PATH}", server.uri());
    let arn = put_parameter(
        "/flagger-relay/e2e/relay-token",
        "tok-from-parameter-store",
        ParameterType::SecureString,
    )
    .await;
    let env = vars(&[
        ("SLACK_WEBHOOK_URL", &url),
        ("RELAY_TOKEN_SECRET_ARN", &arn),
    ]);
    let resolved = resolve(&env).await.expect("the parameter resolves");
    assert_eq!(resolved.from_store(), ["RELAY_TOKEN"]);

    let relay = flagger_relay_slack::relay_from_env(&resolved).expect("valid configuration");
    let (status, _) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(status, 401);
    let (status, _) = read(
        relay
            .handle(
                Call::post(ADVANCE)
                    .query("token=tok-from-parameter-store")
                    .request(),
            )
            .await,
    );
    assert_eq!(status, 200);
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        1
    );
}

#[tokio::test]
async fn reads_every_reference_and_leaves_plain_settings_alone() {
    skip_without!(moto::available());
    let webhook = put_secret(
        Moto::shared().endpoint(),
        "us-east-1",
        "flagger-relay/both/teams",
        "https://contoso.example/workflows/x",
    )
    .await;
    let token = put_parameter(
        "/flagger-relay/both/relay-token",
        "tok-both",
        ParameterType::SecureString,
    )
    .await;
    let env = vars(&[
        ("TEAMS_WEBHOOK_URL_SECRET_ARN", &webhook),
        ("RELAY_TOKEN_SECRET_ARN", &token),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/plain",
        ),
        ("MIN_SEVERITY", "warning"),
    ]);
    let resolved = resolve(&env).await.expect("both resolve");
    assert_eq!(resolved.from_store(), ["TEAMS_WEBHOOK_URL", "RELAY_TOKEN"]);
    assert_eq!(
        resolved.var("TEAMS_WEBHOOK_URL").as_deref(),
        Some("https://contoso.example/workflows/x")
    );
    assert_eq!(resolved.var("RELAY_TOKEN").as_deref(), Some("tok-both"));
    assert_eq!(
        resolved.var("SLACK_WEBHOOK_URL").as_deref(),
        Some("https://hooks.slack.com/services/T/B/plain")
    );
    assert_eq!(resolved.var("MIN_SEVERITY").as_deref(), Some("warning"));
}

#[tokio::test]
async fn reads_a_secret_in_the_region_its_arn_names() {
    skip_without!(moto::available());
    // The function runs in us-east-1; the secret lives in eu-west-1.
    let arn = put_secret(
        Moto::shared().endpoint(),
        "eu-west-1",
        "flagger-relay/elsewhere/token",
        "tok-eu",
    )
    .await;
    assert!(
        arn.starts_with("arn:aws:secretsmanager:eu-west-1:"),
        "{arn}"
    );
    let env = vars(&[("RELAY_TOKEN_SECRET_ARN", &arn)]);
    let resolved = resolve(&env).await.expect("read from eu-west-1");
    assert_eq!(resolved.var("RELAY_TOKEN").as_deref(), Some("tok-eu"));
}

mod cold_start_errors {
    use super::*;

    async fn error_of(pairs: &[(&str, &str)]) -> SecretError {
        let env = vars(pairs);
        match resolve(&env).await {
            Ok(resolved) => panic!("resolved although it should not: {resolved:?}"),
            Err(err) => err,
        }
    }

    #[tokio::test]
    async fn a_missing_secret_names_the_setting_and_the_aws_code() {
        skip_without!(moto::available());
        let arn = format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:flagger-relay/never-created-AbCdEf"
        );
        let err = error_of(&[("RELAY_TOKEN_SECRET_ARN", &arn)]).await;
        assert_eq!(
            err.to_string(),
            "RELAY_TOKEN_SECRET_ARN: GetSecretValue failed: ResourceNotFoundException: Secrets Manager can't find the specified secret."
        );
    }

    #[tokio::test]
    async fn a_missing_parameter_names_the_setting_and_the_aws_code() {
        skip_without!(moto::available());
        let arn = format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/flagger-relay/never-created");
        let err = error_of(&[("SLACK_WEBHOOK_URL_SECRET_ARN", &arn)]).await;
        assert_eq!(err.code(), Some("ParameterNotFound"), "{err}");
        assert!(
            err.to_string().starts_with(
                "SLACK_WEBHOOK_URL_SECRET_ARN: GetParameter failed: ParameterNotFound"
            ),
            "{err}"
        );
    }

    /// A secret scheduled for deletion still exists but can no longer be read: what a
    /// function sees after someone deletes its secret (deletion waits 7 to 30 days).
    #[tokio::test]
    async fn a_secret_scheduled_for_deletion_names_the_setting_and_the_aws_code() {
        skip_without!(moto::available());
        let arn = put_secret(
            Moto::shared().endpoint(),
            "us-east-1",
            "flagger-relay/deleted/token",
            "tok-deleted",
        )
        .await;
        let admin = aws_sdk_secretsmanager::Client::new(&function_sdk());
        admin
            .delete_secret()
            .secret_id(&arn)
            .recovery_window_in_days(7)
            .send()
            .await
            .expect("moto schedules the deletion");
        let err = error_of(&[("RELAY_TOKEN_SECRET_ARN", &arn)]).await;
        assert_eq!(err.code(), Some("InvalidRequestException"), "{err}");
        assert!(
            err.to_string().starts_with(
                "RELAY_TOKEN_SECRET_ARN: GetSecretValue failed: InvalidRequestException: "
            ),
            "{err}"
        );
        assert!(err.to_string().contains("marked deleted"), "{err}");
    }

    /// A moto of its own that enforces IAM, as AWS does: the function's role (an IAM user
    /// here) has no policy allowing it to read the secret or the parameter. This is what a
    /// template without the `secretsmanager:GetSecretValue` / `ssm:GetParameter` grant gives.
    #[tokio::test]
    async fn a_secret_the_role_may_not_read_names_the_setting_and_access_denied() {
        skip_without!(moto::can_start());
        let moto = Moto::start();
        let secret = put_secret(
            moto.endpoint(),
            "us-east-1",
            "flagger-relay/denied/token",
            "tok-denied",
        )
        .await;
        let role = iam_user_without_policies(moto.endpoint()).await;
        enforce_iam(moto.endpoint()).await;
        let denied_sdk = sdk_config(moto.endpoint(), "us-east-1", role);
        let parameter =
            format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/flagger-relay/denied/webhook");

        for (reference, arn, operation) in [
            ("RELAY_TOKEN_SECRET_ARN", secret.as_str(), "GetSecretValue"),
            (
                "SLACK_WEBHOOK_URL_SECRET_ARN",
                parameter.as_str(),
                "GetParameter",
            ),
        ] {
            let env = vars(&[(reference, arn)]);
            let err = resolve_with(&env, DESTINATIONS, &[], || async { denied_sdk.clone() })
                .await
                .expect_err("access is denied");
            // AWS answers `AccessDeniedException` in a JSON body, which the SDK reads with its
            // message; moto answers IAM's XML `AccessDenied`, of which the code is taken.
            assert_eq!(
                err.to_string(),
                format!("{reference}: {operation} failed: AccessDenied: HTTP 403")
            );
        }
    }

    #[tokio::test]
    async fn a_plain_string_parameter_is_refused_without_showing_its_value() {
        skip_without!(moto::available());
        let arn = put_parameter(
            "/flagger-relay/plain/relay-token",
            "tok-plain-visible",
            ParameterType::String,
        )
        .await;
        let err = error_of(&[("RELAY_TOKEN_SECRET_ARN", &arn)]).await;
        assert_eq!(
            err.to_string(),
            "RELAY_TOKEN_SECRET_ARN: the parameter is not a SecureString; store credentials encrypted"
        );
    }

    #[tokio::test]
    async fn a_key_value_secret_is_refused_without_showing_its_value() {
        skip_without!(moto::available());
        let arn = put_secret(
            Moto::shared().endpoint(),
            "us-east-1",
            "flagger-relay/json/webhook",
            r#"{"url":"https://hooks.slack.com/services/T/B/json"}"#,
        )
        .await;
        let err = error_of(&[("SLACK_WEBHOOK_URL_SECRET_ARN", &arn)]).await;
        assert_eq!(
            err.to_string(),
            "SLACK_WEBHOOK_URL_SECRET_ARN: the secret holds key/value JSON; store the value itself as plain text"
        );
    }

    #[tokio::test]
    async fn an_empty_secret_is_refused() {
        skip_without!(moto::available());
        let arn = put_parameter(
            "/flagger-relay/empty/relay-token",
            " ",
            ParameterType::SecureString,
        )
        .await;
        let err = error_of(&[("RELAY_TOKEN_SECRET_ARN", &arn)]).await;
        assert_eq!(
            err.to_string(),
            "RELAY_TOKEN_SECRET_ARN: the stored value is empty"
        );
    }

    /// A cold start happens while Flagger waits: a store that takes connections and never
    /// answers ends it within the store budget, however many secrets there are to read.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_that_never_answers_ends_the_cold_start_within_its_budget() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let endpoint = format!("http://{}", silent.local_addr().expect("bound"));
        // Accepts, reads, never answers.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in silent.incoming().flatten() {
                held.push(stream);
            }
        });
        let webhook =
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:flagger-relay/silent-hook");
        let token =
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:flagger-relay/silent-token");
        let env = vars(&[
            ("SLACK_WEBHOOK_URL_SECRET_ARN", &webhook),
            ("RELAY_TOKEN_SECRET_ARN", &token),
        ]);
        let started = std::time::Instant::now();
        let err = resolve_with(&env, DESTINATIONS, &[], || async {
            sdk_config(&endpoint, "us-east-1", dummy_credentials())
        })
        .await
        .expect_err("the store never answers");
        let took = started.elapsed();
        assert!(
            took < flagger_relay_core::secrets::STORE_BUDGET + std::time::Duration::from_secs(1),
            "the cold start took {took:?} on its secrets, leaving Flagger's 10 s for little else"
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with("SLACK_WEBHOOK_URL_SECRET_ARN: GetSecretValue failed"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_store_names_the_setting() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let endpoint = format!("http://{}", closed.local_addr().expect("bound"));
        drop(closed);
        let arn =
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:flagger-relay/unreachable");
        let env = vars(&[("RELAY_TOKEN_SECRET_ARN", &arn)]);
        let err = resolve_with(&env, DESTINATIONS, &[], || async {
            sdk_config(&endpoint, "us-east-1", dummy_credentials())
        })
        .await
        .expect_err("nothing listens there");
        assert_eq!(err.code(), None);
        let shown = err.to_string();
        assert!(
            shown.starts_with("RELAY_TOKEN_SECRET_ARN: GetSecretValue failed: dispatch failure"),
            "{shown}"
        );
    }
}

/// IAM by its query protocol, which moto routes by the credential scope of the Authorization
/// header; the tests have no IAM client of their own.
async fn iam(endpoint: &str, params: &[(&str, &str)]) -> String {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().copied().chain([("Version", "2010-05-08")]))
        .finish();
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .expect("moto answers IAM");
    assert!(
        response.status().is_success(),
        "IAM {params:?}: {}",
        response.status()
    );
    response.text().await.expect("an IAM answer")
}

fn xml_text<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .map(|at| at + open.len())
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
    let end = xml[start..]
        .find('<')
        .map(|len| start + len)
        .unwrap_or(xml.len());
    &xml[start..end]
}

async fn iam_user_without_policies(endpoint: &str) -> Credentials {
    iam(
        endpoint,
        &[
            ("Action", "CreateUser"),
            ("UserName", "flagger-relay-function"),
        ],
    )
    .await;
    let key = iam(
        endpoint,
        &[
            ("Action", "CreateAccessKey"),
            ("UserName", "flagger-relay-function"),
        ],
    )
    .await;
    Credentials::new(
        xml_text(&key, "AccessKeyId"),
        xml_text(&key, "SecretAccessKey"),
        None,
        None,
        "iam-user",
    )
}

/// From here on this moto checks signatures and IAM policies on every request.
async fn enforce_iam(endpoint: &str) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset-auth"))
        .body("0")
        .send()
        .await
        .expect("moto's API answers");
    assert!(response.status().is_success());
}
