//! The functions under test: their binary, their destination stand-in, their configuration, and
//! the budgets the issue set for them.

use std::net::SocketAddr;
use std::time::Duration;

use crate::destination::Answer;

/// The token the harness presents, so that every invocation pays for authentication as it
/// would in production.
pub const RELAY_TOKEN: &str = "coldstart-bench-token-0123456789abcdef";

pub struct Function {
    /// `slack`, `teams`, `sns`.
    pub name: &'static str,
    pub binary: &'static str,
    pub answer: Answer,
    /// Whether a successful invocation is a delivery (all but the calibration function).
    pub delivers: bool,
    pub budget: Option<Budget>,
    configure: fn(SocketAddr) -> Vec<(&'static str, String)>,
}

/// The limits from the issue, on this machine.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub init: Duration,
    pub warm_p50: Duration,
    pub peak_rss_bytes: u64,
    pub arm64_bytes: u64,
    pub render: Duration,
}

const MIB: u64 = 1024 * 1024;

const WEBHOOK_BUDGET: Budget = Budget {
    init: Duration::from_millis(5),
    warm_p50: Duration::from_micros(300),
    peak_rss_bytes: 16 * MIB,
    arm64_bytes: 4 * MIB,
    render: Duration::from_micros(5),
};

/// The functions `make bench` measures by default.
pub const ALL: [Function; 3] = [
    Function {
        name: "slack",
        binary: "flagger-relay-slack",
        answer: Answer::SlackOk,
        delivers: true,
        budget: Some(WEBHOOK_BUDGET),
        configure: |destination| {
            vec![(
                "SLACK_WEBHOOK_URL",
                format!("http://{destination}/services/T0BENCH/B0BENCH/coldstart"),
            )]
        },
    },
    Function {
        name: "teams",
        binary: "flagger-relay-teams",
        answer: Answer::TeamsAccepted,
        delivers: true,
        budget: Some(WEBHOOK_BUDGET),
        configure: |destination| {
            vec![
                (
                    "TEAMS_WEBHOOK_URL",
                    format!(
                        "http://{destination}/workflows/coldstart/triggers/manual/paths/invoke"
                    ),
                ),
                ("TEAMS_CARD_FORMAT", "adaptive".into()),
            ]
        },
    },
    Function {
        name: "sns",
        binary: "flagger-relay-sns",
        answer: Answer::SnsPublish,
        delivers: true,
        // The SDK reads its configuration (region, credentials, endpoint) from the environment
        // at init; nothing goes over the network before the first request.
        budget: Some(Budget {
            init: Duration::from_millis(15),
            arm64_bytes: 8 * MIB,
            ..WEBHOOK_BUDGET
        }),
        configure: |destination| {
            vec![
                (
                    "SNS_TOPIC_ARN",
                    "arn:aws:sns:eu-west-1:123456789012:flagger-events".into(),
                ),
                ("AWS_ENDPOINT_URL", format!("http://{destination}")),
                // What Lambda puts in every function's environment: the role's session
                // credentials and the region, so the SDK never looks further.
                ("AWS_ACCESS_KEY_ID", "ASIABENCHMARKEXAMPLE".into()),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "bench/secret/access/key/example/0000000".into(),
                ),
                ("AWS_SESSION_TOKEN", "bench-session-token".into()),
                ("AWS_REGION", "eu-west-1".into()),
                ("AWS_DEFAULT_REGION", "eu-west-1".into()),
            ]
        },
    },
];

/// A hello-world Function URL function (`src/bin/coldstart-hello.rs`): the floor under the
/// others on this machine.
pub const HELLO: Function = Function {
    name: "hello",
    binary: "coldstart-hello",
    answer: Answer::SlackOk,
    delivers: false,
    budget: None,
    configure: |_| Vec::new(),
};

impl Function {
    pub fn named(name: &str) -> Option<&'static Function> {
        ALL.iter()
            .chain([&HELLO])
            .find(|function| function.name == name || function.binary == name)
    }

    /// The whole environment of the function process: what Lambda sets for every function
    /// (template.yaml: 128 MB, JSON logs), the Runtime API address, and the destination.
    pub fn environment(
        &self,
        runtime_api: SocketAddr,
        destination: SocketAddr,
        max_concurrency: Option<u32>,
    ) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.binary.to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.binary),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]coldstart".to_owned(),
            ),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
            ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
            ("TZ", ":UTC".to_owned()),
            ("RELAY_TOKEN", RELAY_TOKEN.to_owned()),
        ];
        if let Some(concurrency) = max_concurrency {
            env.push(("AWS_LAMBDA_MAX_CONCURRENCY", concurrency.to_string()));
        }
        env.extend((self.configure)(destination));
        env
    }
}
