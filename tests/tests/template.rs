//! What a deployment of `template.yaml` really has, parameters applied and conditions decided
//! (the SAM transform included): the ceilings, the doors and the alarms the README promises.

use std::process::{Command, Stdio};

use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::skip_without;
use flagger_relay_tests::template::Stack;
use serde_json::{Value, json};

const SLACK: (&str, &str) = (
    "SlackWebhookUrl",
    "https://hooks.slack.com/services/T0/B0/x",
);
const TEAMS: (&str, &str) = ("TeamsWebhookUrl", "https://example.webhook.office.com/x");
/// Slack in bot mode with the gate: every function the template has.
const GATE: [(&str, &str); 4] = [
    ("SlackBotToken", "xoxb-1-2-template"),
    ("SlackChannelId", "C0RELAY"),
    ("SlackSigningSecret", "signing-secret"),
    ("Approvers", "U0APPROVER"),
];
const ALARMS: (&str, &str) = ("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:oncall");

fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

/// The Function URL resources aimed at `function`.
fn urls<'a>(stack: &'a Stack, function: &str) -> Vec<&'a Value> {
    stack
        .of_type("AWS::Lambda::Url")
        .into_iter()
        .map(|(_, url)| url)
        .filter(|url| url["Properties"]["TargetFunctionArn"] == reference(function))
        .collect()
}

/// Permissions that let anyone (`*`) invoke `function`.
fn public_permissions<'a>(stack: &'a Stack, function: &str) -> Vec<&'a Value> {
    stack
        .of_type("AWS::Lambda::Permission")
        .into_iter()
        .map(|(_, permission)| permission)
        .filter(|p| p["Properties"]["FunctionName"] == reference(function))
        .filter(|p| p["Properties"]["Principal"] == "*")
        .collect()
}

fn notifies_the_alarm_topic(alarm: &Value) {
    assert_eq!(
        alarm["Properties"]["AlarmActions"],
        json!([ALARMS.1]),
        "{alarm}"
    );
}

#[test]
fn every_function_reserves_max_concurrency_and_zero_leaves_it_unreserved() {
    let stack = Stack::deploy(&[&GATE[..], &[TEAMS]].concat());
    assert_eq!(stack.functions().len(), 4);
    for function in stack.functions() {
        let properties = &stack.resource(function).unwrap()["Properties"];
        assert_eq!(
            properties["ReservedConcurrentExecutions"], "10",
            "{function}: the default ceiling"
        );
    }
    let stack = Stack::deploy(&[SLACK, TEAMS, ("MaxConcurrency", "3")]);
    for function in stack.functions() {
        assert_eq!(
            stack.resource(function).unwrap()["Properties"]["ReservedConcurrentExecutions"],
            "3"
        );
    }
    let stack = Stack::deploy(&[SLACK, TEAMS, ("MaxConcurrency", "0")]);
    for function in stack.functions() {
        let properties = &stack.resource(function).unwrap()["Properties"];
        assert!(
            properties.get("ReservedConcurrentExecutions").is_none(),
            "{function}: 0 leaves the account's pool"
        );
    }
}

#[test]
fn every_function_has_a_throttles_alarm() {
    let stack = Stack::deploy(&[&GATE[..], &[TEAMS, ALARMS]].concat());
    assert_eq!(stack.functions().len(), 4);
    for function in stack.functions() {
        let alarms = stack.alarms_on("Throttles", Some(function));
        assert_eq!(alarms.len(), 1, "{function}");
        notifies_the_alarm_topic(alarms[0]);
    }
}

#[test]
fn in_fan_out_mode_slack_and_teams_have_no_public_url_unless_direct_urls() {
    // Fan-out is on by default when the stack creates the topic.
    let stack = Stack::deploy(&[SLACK, TEAMS]);
    assert!(stack.holds("DoFanOut"));
    for function in ["SlackFunction", "TeamsFunction"] {
        assert!(urls(&stack, function).is_empty(), "{function} has a URL");
        assert!(
            public_permissions(&stack, function).is_empty(),
            "{function} can be invoked by anyone"
        );
    }
    assert_eq!(urls(&stack, "SnsFunction").len(), 1, "Flagger's one door");
    assert!(stack.resource("SlackFunctionUrl").is_none());

    let direct = Stack::deploy(&[SLACK, TEAMS, ("DirectUrls", "true")]);
    let no_fan_out = Stack::deploy(&[SLACK, TEAMS, ("FanOut", "false")]);
    for stack in [direct, no_fan_out] {
        for function in ["SlackFunction", "TeamsFunction", "SnsFunction"] {
            let url = urls(&stack, function);
            assert_eq!(url.len(), 1, "{function}");
            assert_eq!(url[0]["Properties"]["AuthType"], "NONE");
            // Both grants a public Function URL needs: the URL and the invocation behind it.
            let actions: Vec<&Value> = public_permissions(&stack, function)
                .into_iter()
                .map(|p| &p["Properties"]["Action"])
                .collect();
            assert!(
                actions.contains(&&json!("lambda:InvokeFunctionUrl"))
                    && actions.contains(&&json!("lambda:InvokeFunction")),
                "{function}: {actions:?}"
            );
        }
    }
}

#[test]
fn the_dead_letter_queue_takes_a_mebibyte() {
    let stack = Stack::deploy(&[]);
    let size = &stack.resource("DeadLetterQueue").unwrap()["Properties"]["MaximumMessageSize"];
    assert_eq!(size.to_string().trim_matches('"'), "1048576");
}

#[test]
fn the_dead_letter_alarm_fires_on_records_arriving_not_on_records_waiting() {
    let stack = Stack::deploy(&[ALARMS]);
    let queue_name = json!({ "Fn::GetAtt": ["DeadLetterQueue", "QueueName"] });
    let on_queue = |metric: &str| -> Vec<&Value> {
        stack
            .alarms_on(metric, None)
            .into_iter()
            .filter(|alarm| alarm["Properties"]["Dimensions"][0]["Value"] == queue_name)
            .collect()
    };
    let arriving = on_queue("NumberOfMessagesSent");
    assert_eq!(arriving.len(), 1);
    assert_eq!(arriving[0]["Properties"]["Statistic"], "Sum");
    assert_eq!(arriving[0]["Properties"]["Threshold"], 0);
    notifies_the_alarm_topic(arriving[0]);
    assert!(
        on_queue("ApproximateNumberOfMessagesVisible").is_empty(),
        "an alarm on waiting records stays red for as long as old poison is kept"
    );
}

#[test]
fn alarms_see_every_way_to_lose() {
    let stack = Stack::deploy(&[SLACK, TEAMS, ALARMS]);
    assert!(stack.holds("DoFanOut"));
    for function in ["SlackFunction", "TeamsFunction"] {
        for metric in ["AsyncEventsDropped", "DestinationDeliveryFailures"] {
            let alarms = stack.alarms_on(metric, Some(function));
            assert_eq!(alarms.len(), 1, "{function} {metric}");
            notifies_the_alarm_topic(alarms[0]);
        }
    }
    let stack = Stack::deploy(&[&GATE[..], &[TEAMS, ALARMS]].concat());
    assert_eq!(stack.functions().len(), 4);
    for function in stack.functions() {
        for metric in ["Errors", "Throttles"] {
            let alarms = stack.alarms_on(metric, Some(function));
            assert_eq!(alarms.len(), 1, "{function} {metric}");
            notifies_the_alarm_topic(alarms[0]);
        }
    }
    // A start that failed: every function's log group is filtered into one metric, alarmed on.
    let filters = stack.of_type("AWS::Logs::MetricFilter");
    for log_group in [
        "SlackLogGroup",
        "TeamsLogGroup",
        "SnsLogGroup",
        "GateLogGroup",
    ] {
        let filter = filters
            .iter()
            .find(|(_, f)| f["Properties"]["LogGroupName"] == reference(log_group))
            .unwrap_or_else(|| panic!("no metric filter on {log_group}"));
        let metric = &filter.1["Properties"]["MetricTransformations"][0];
        let alarms: Vec<&Value> = stack
            .alarms_on(metric["MetricName"].as_str().unwrap(), None)
            .into_iter()
            .filter(|alarm| alarm["Properties"]["Namespace"] == metric["MetricNamespace"])
            .collect();
        assert_eq!(alarms.len(), 1, "{log_group}");
        notifies_the_alarm_topic(alarms[0]);
    }
    // Outside fan-out mode there is no asynchronous invocation to watch.
    let direct = Stack::deploy(&[SLACK, TEAMS, ALARMS, ("FanOut", "false")]);
    assert!(direct.alarms_on("AsyncEventsDropped", None).is_empty());
}

/// A CloudWatch Logs JSON filter pattern of the one form the template uses,
/// `{ $.a.b = "text" }`, applied to one log line.
fn matches(pattern: &str, line: &str) -> bool {
    let inner = pattern
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .expect("a JSON filter pattern")
        .trim();
    let (selector, value) = inner.split_once(" = ").expect("`$.path = \"value\"`");
    let path = selector.trim().strip_prefix("$.").expect("a $. selector");
    let expected: String = serde_json::from_str(value.trim()).expect("a quoted value");
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    let found = path.split('.').try_fold(&event, |v, key| v.get(key));
    found.and_then(Value::as_str) == Some(expected.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_start_that_cannot_read_its_secrets_is_counted() {
    skip_without!(moto::available());
    let stack = Stack::deploy(&[SLACK]);
    let pattern = stack
        .of_type("AWS::Logs::MetricFilter")
        .into_iter()
        .find(|(_, f)| f["Properties"]["LogGroupName"] == reference("SlackLogGroup"))
        .map(|(_, f)| {
            f["Properties"]["FilterPattern"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .expect("a metric filter on the Slack function's logs");
    // The function as Lambda runs it from this template: JSON logs, the webhook in a secret
    // that (here) does not exist.
    let missing = format!(
        "arn:aws:secretsmanager:{}:{}:secret:{}-AbCdEf",
        moto::REGION,
        moto::ACCOUNT,
        moto::unique("gone")
    );
    let binary = flagger_relay_tests::binary("flagger-relay-slack");
    let output = Command::new(binary)
        .env_clear()
        .envs([
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_FUNCTION_NAME", "flagger-relay-slack"),
            ("AWS_ENDPOINT_URL", Moto::shared().endpoint()),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("SLACK_WEBHOOK_URL_SECRET_ARN", missing.as_str()),
            ("ALLOW_UNAUTHENTICATED", "true"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("the function runs");
    assert!(!output.status.success(), "it must not start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let counted: Vec<&str> = stdout.lines().filter(|l| matches(&pattern, l)).collect();
    assert_eq!(
        counted.len(),
        1,
        "the metric filter {pattern} must count the failed start once in:\n{stdout}"
    );
    assert!(
        counted[0].contains("SLACK_WEBHOOK_URL_SECRET_ARN"),
        "{}",
        counted[0]
    );
}

#[test]
fn only_require_token_false_lets_a_function_run_without_a_token() {
    for (require, allowed) in [("true", "false"), ("false", "true")] {
        let stack = Stack::deploy(&[SLACK, TEAMS, ("RequireToken", require)]);
        for function in stack.functions() {
            let variables =
                &stack.resource(function).unwrap()["Properties"]["Environment"]["Variables"];
            assert_eq!(
                variables["ALLOW_UNAUTHENTICATED"], allowed,
                "{function} with RequireToken={require}"
            );
            let token = variables["RELAY_TOKEN_SECRET_ARN"].clone();
            assert_eq!(
                token == json!(""),
                require == "false",
                "{function}: a token exactly when one is required ({token})"
            );
        }
    }
}

/// A function's first lines when it starts as Lambda would run it (JSON logs, no Runtime API
/// to reach, so it stops right after configuration): its stdout, and whether it exited 0.
fn start(binary: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(flagger_relay_tests::binary(binary))
        .env_clear()
        .envs([
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_FUNCTION_NAME", binary),
            ("AWS_REGION", moto::REGION),
        ])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function runs");
    let started = std::time::Instant::now();
    while child.try_wait().expect("waitable").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("its output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn a_function_with_no_token_and_no_allow_refuses_to_start_in_one_line() {
    for (binary, destination) in [
        (
            "flagger-relay-slack",
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T0/B0/x",
            ),
        ),
        ("flagger-relay-teams", TEAMS_URL),
        (
            "flagger-relay-sns",
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
        ),
    ] {
        for token in [None, Some(("RELAY_TOKEN", " ")), Some(("RELAY_TOKEN", ""))] {
            let mut env = vec![destination];
            env.extend(token);
            let (ok, stdout) = start(binary, &env);
            assert!(!ok, "{binary} started without a token: {stdout}");
            let lines: Vec<Value> = stdout
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            assert_eq!(lines.len(), 1, "{binary}: one line, not {stdout}");
            let error = lines[0]["fields"]["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("RELAY_TOKEN") && error.contains("ALLOW_UNAUTHENTICATED"),
                "{binary}: the line names both settings: {}",
                lines[0]
            );
        }
        // Told that an open URL is meant, it gets past its configuration.
        let (_, stdout) = start(binary, &[destination, ("ALLOW_UNAUTHENTICATED", "true")]);
        assert!(!stdout.contains("ALLOW_UNAUTHENTICATED"), "{stdout}");
    }
}

const TEAMS_URL: (&str, &str) = (
    "TEAMS_WEBHOOK_URL",
    "https://example.logic.azure.com/workflows/x/triggers/manual/paths/invoke",
);
