//! A local AWS for tests: `moto_server` (PyPI `moto[server]`) on a loopback port.
//!
//! [`Moto::shared`] is the one server of a test process: the endpoint in `MOTO_ENDPOINT` when
//! set (a server someone else runs), otherwise a `moto_server` started the first time a test
//! asks and stopped when the process exits, however it exits. Tests share it safely by giving
//! every topic and queue a [`unique`] name. [`Moto::start`] is a server of the test's own,
//! stopped on [`Moto::stop`] or drop, for tests about AWS going away.
//!
//! `moto_server` is the project's own (`.venv/bin`, installed by `make tools`) or else one on
//! `PATH`. Without any, tests that need AWS begin with `skip_without!(moto::available())` and
//! pass skipped, after one line that says how to run them.
//!
//! Rust never drops statics, so the shared server cannot be stopped from a destructor. A
//! small shell watchdog starts it instead and holds the read end of a pipe whose write end
//! only this process holds: when the process ends (passed, failed, killed), the pipe closes
//! and the watchdog stops moto.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::Credentials;

/// moto's fixed account.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// `$1` port, `$2` log file, `$3` moto_server, `$4` the Python that starts moto with item
/// writes serialised ([`SERIAL_DYNAMODB`]), run by the Python beside `moto_server` (its own
/// environment's); plain `moto_server` when that Python cannot import moto. moto gets neither
/// the pipe (fd 3) nor a terminal; the watchdog waits on moto, so it exits, and the test sees
/// it, when moto does.
const WATCHDOG: &str = r#"
exec 3<&0
python="$(dirname "$3")/python3"
if "$python" -c 'import moto.server' 2>/dev/null; then
  "$python" -c "$4" -H 127.0.0.1 -p "$1" >"$2" 2>&1 3<&- </dev/null &
else
  "$3" -H 127.0.0.1 -p "$1" >"$2" 2>&1 3<&- </dev/null &
fi
moto=$!
{ cat <&3 >/dev/null; kill "$moto" 2>/dev/null; } &
wait "$moto"
"#;

/// DynamoDB checks a condition and writes an item as one step; moto serves each request on
/// its own thread and checks, then writes, so two conditional writes racing each other can both
/// succeed. Tests of "exactly one of concurrent writers wins" need DynamoDB's behaviour: one
/// lock around moto's DynamoDB operations gives it.
const SERIAL_DYNAMODB: &str = r#"
import functools, sys, threading
from moto.dynamodb.models import DynamoDBBackend
lock = threading.RLock()
def serialised(operation):
    @functools.wraps(operation)
    def locked(*args, **kwargs):
        with lock:
            return operation(*args, **kwargs)
    return locked
for name in ("get_item", "put_item", "update_item", "delete_item",
             "transact_write_items", "batch_write_item"):
    if hasattr(DynamoDBBackend, name):
        setattr(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))
from moto.server import main
sys.exit(main())
"#;

const STARTUP: Duration = Duration::from_secs(60);

pub struct Moto {
    endpoint: String,
    server: Option<Server>,
}

struct Server {
    watchdog: Child,
    /// Closing it stops moto.
    lifeline: Option<ChildStdin>,
    log: std::path::PathBuf,
}

static SHARED: OnceLock<Moto> = OnceLock::new();

/// The endpoint of a moto someone else runs, from `MOTO_ENDPOINT`.
fn external_endpoint() -> Option<String> {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .map(|endpoint| endpoint.trim().to_owned())
        .filter(|endpoint| !endpoint.is_empty())
}

fn moto_server() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(|| crate::tool("moto_server")).clone()
}

/// Whether this test process can have a moto ([`Moto::shared`]): `MOTO_ENDPOINT`, or a
/// `moto_server` to start. When it cannot, says so once, with how to run the tests that need it.
pub fn available() -> bool {
    external_endpoint().is_some() || can_start()
}

/// Whether a test can start a moto of its own ([`Moto::start`]), whatever `MOTO_ENDPOINT` says.
pub fn can_start() -> bool {
    static SAID: Once = Once::new();
    let found = moto_server().is_some();
    if !found {
        crate::say_skipped(
            &SAID,
            "tests that need AWS (moto_server is not in .venv/bin nor on PATH)",
            "run `make tools`, then `cargo test`",
        );
    }
    found
}

impl Moto {
    /// The test process's moto, started on first use.
    pub fn shared() -> &'static Moto {
        SHARED.get_or_init(|| match external_endpoint() {
            Some(endpoint) => Moto {
                endpoint,
                server: None,
            },
            None => Moto::start(),
        })
    }

    /// A moto of the caller's own, on a free loopback port, ready to answer.
    pub fn start() -> Moto {
        let Some(program) = moto_server() else {
            panic!(
                "no moto_server: a test that needs one starts with `skip_without!(moto::available())`"
            );
        };
        let mut last_log = String::new();
        // Another process may take the free port before moto binds it: try a few.
        for _ in 0..3 {
            let port = crate::watch::free_port();
            let dir = crate::root().join("target/moto");
            std::fs::create_dir_all(&dir).expect("target/moto is writable");
            let log = dir.join(format!("moto-{port}.log"));
            let mut watchdog = Command::new("sh")
                .args(["-c", WATCHDOG, "moto-watchdog", &port.to_string()])
                .arg(&log)
                .arg(&program)
                .arg(SERIAL_DYNAMODB)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("sh is available");
            let lifeline = watchdog.stdin.take();
            let mut server = Server {
                watchdog,
                lifeline,
                log,
            };
            match server.wait_until_listening(port) {
                Ok(()) => {
                    return Moto {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        server: Some(server),
                    };
                }
                Err(log) => last_log = log,
            }
        }
        panic!("{} did not start:\n{last_log}", program.display());
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for this server: dummy credentials, moto's region, its endpoint.
    /// Built explicitly, so that parallel tests never need to touch the process environment.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint).await
    }

    /// Stops a server started with [`Moto::start`] and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Server {
    fn wait_until_listening(&mut self, port: u16) -> Result<(), String> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        loop {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return Err(self.log_text());
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > STARTUP {
                self.stop();
                return Err(self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.watchdog.wait();
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

/// An SDK configuration for a moto (or any AWS stand-in) at `endpoint`.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            Some("testing".into()),
            None,
            "moto",
        ))
        .load()
        .await
}

/// A name no other test (or earlier run against the same moto) uses: `prefix-PID-N-TIME`,
/// within the 80 characters SNS topics and SQS queues allow when `prefix` is short.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{prefix}-{}-{n}-{millis}", std::process::id())
}

/// The ARN moto gives a topic or queue called `name`.
pub fn arn(service: &str, name: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{name}")
}

/// A new SQS queue subscribed to `topic_arn` (FIFO when the topic is), optionally with a filter
/// policy and raw delivery; returns the queue URL. Reading the queue back is how a test sees
/// what SNS delivered.
pub async fn subscribed_queue(
    config: &SdkConfig,
    topic_arn: &str,
    prefix: &str,
    filter_policy: Option<&str>,
    raw: bool,
) -> String {
    let fifo = topic_arn.ends_with(".fifo");
    let name = if fifo {
        format!("{}.fifo", unique(prefix))
    } else {
        unique(prefix)
    };
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut create = sqs.create_queue().queue_name(&name);
    if fifo {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let queue_url = create
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue URL");
    let sns = aws_sdk_sns::Client::new(config);
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn("sqs", &name));
    if let Some(policy) = filter_policy {
        subscribe = subscribe.attributes("FilterPolicy", policy);
    }
    if raw {
        subscribe = subscribe.attributes("RawMessageDelivery", "true");
    }
    subscribe.send().await.expect("moto subscribes the queue");
    queue_url
}

/// Reads and deletes messages until at least `expected` arrived and the queue is empty (or 20 s
/// passed), with every message and system attribute.
pub async fn drain(
    config: &SdkConfig,
    queue_url: &str,
    expected: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut received = Vec::new();
    let started = Instant::now();
    loop {
        let wait = if received.len() >= expected { 0 } else { 1 };
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("moto answers ReceiveMessage");
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty()
            && (received.len() >= expected || started.elapsed() > Duration::from_secs(20))
        {
            return received;
        }
        for message in messages {
            let handle = message.receipt_handle.clone().expect("a receipt handle");
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("deleted");
            received.push(message);
        }
    }
}

/// A fresh queue on the shared moto to park events in: the handle the relay parks with, and a
/// client and the queue's URL to read back what it holds.
pub async fn dead_letter_queue(
    prefix: &str,
) -> (
    flagger_relay_core::dead_letter::DeadLetterQueue,
    aws_sdk_sqs::Client,
    String,
) {
    let config = Moto::shared().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue URL");
    let queue = flagger_relay_core::dead_letter::DeadLetterQueue::with_config(url.clone(), config);
    (queue, sqs, url)
}

/// Every message body in the queue, removed as read; without waiting for more.
pub async fn take_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("moto answers ReceiveMessage");
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().expect("a receipt handle"))
                .send()
                .await
                .expect("deleted");
            bodies.push(message.body.unwrap_or_default());
        }
    }
}

/// Every dead-letter record in the queue, removed as read.
pub async fn take_parked(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<flagger_relay_core::dead_letter::DeadLetterRecord> {
    take_all(sqs, url)
        .await
        .iter()
        .map(|body| serde_json::from_str(body).expect("a dead-letter record"))
        .collect()
}

/// A fresh on-demand table named `prefix` plus a run-unique suffix, partition key `key` (String),
/// as the stack creates its tables; answers its name.
pub async fn create_table(config: &SdkConfig, prefix: &str, key: &str) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = unique(prefix);
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("a valid attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .expect("a valid key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("moto creates the table");
    name
}

/// Stores `value` in a Secrets Manager secret named `prefix` plus a run-unique suffix (a shared
/// moto, `MOTO_ENDPOINT`, outlives one run); answers its ARN.
pub async fn put_secret(config: &SdkConfig, prefix: &str, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(config);
    let created = client
        .create_secret()
        .name(unique(prefix))
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
    created.arn.expect("CreateSecret answers with the ARN")
}

/// Stores `value` in an SSM parameter of the given type, named like [`put_secret`]'s; answers
/// its ARN (in moto's region and account).
pub async fn put_parameter(
    config: &SdkConfig,
    prefix: &str,
    value: &str,
    kind: aws_sdk_ssm::types::ParameterType,
) -> String {
    let name = unique(prefix);
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(&name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .expect("moto stores the parameter");
    format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}")
}
