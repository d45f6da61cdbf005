//! Starting a function process against the harness's Runtime API and timing what it does.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::Options;
use crate::destination::{Destination, Served};
use crate::functions::{Function, RELAY_TOKEN};
use crate::runtime_api::{Ending, Invocation, RuntimeApi};

/// Longer than any start or invocation should take; reaching it is a failure, not a figure.
const PATIENCE: Duration = Duration::from_secs(15);

/// Everything measured for one function.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// One per process start: exec to the first `/next`.
    pub init: Vec<Duration>,
    /// One per process start: the first invocation, which opens the destination connection.
    pub first: Vec<Duration>,
    /// Warm invocations, event handed out to result posted.
    pub warm: Vec<Duration>,
    /// The same, less the time the destination stand-in spent on the request.
    pub warm_net: Vec<Duration>,
    /// VmHWM of the long-running process after every invocation, in bytes.
    pub peak_rss: u64,
    /// VmRSS at the same moment.
    pub rss: u64,
    pub delivered: usize,
    /// Invocations that did not end in `delivered` (filtered chatter and the like).
    pub not_delivered: usize,
    /// The warm run with several invocations in flight (`--max-concurrency`).
    pub concurrent: Option<Concurrent>,
}

/// How a process with `AWS_LAMBDA_MAX_CONCURRENCY` > 1 did with that many events queued.
#[derive(Debug, Clone, Copy)]
pub struct Concurrent {
    pub width: usize,
    /// The most invocations the process held at once: above 1 only if it ran them concurrently.
    pub most_in_flight: usize,
    pub per_second: f64,
}

impl Measured {
    fn record_warm(&mut self, ended: &Ended, net: Duration) {
        if ended.delivered {
            self.delivered += 1;
            self.warm.push(ended.latency);
            self.warm_net.push(net);
        } else {
            self.not_delivered += 1;
        }
    }
}

/// Every recorded Flagger body as the Function URL (HTTP API v2) envelope Lambda hands the
/// function, with the relay token in the query string as Flagger sends it.
pub fn function_url_events(dir: &Path) -> Result<Vec<Bytes>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|err| format!("{}: {err}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no recorded events", dir.display()));
    }
    files
        .iter()
        .map(|path| {
            let body = std::fs::read_to_string(path)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            Ok(Bytes::from(envelope(&body).to_string()))
        })
        .collect()
}

fn envelope(body: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": format!("token={RELAY_TOKEN}"),
        "queryStringParameters": {"token": RELAY_TOKEN},
        "headers": {
            "content-type": "application/json",
            "user-agent": "Go-http-client/1.1",
            "accept-encoding": "gzip",
            "content-length": body.len().to_string(),
            "host": "coldstart.lambda-url.eu-west-1.on.aws"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "coldstart",
            "domainName": "coldstart.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "coldstart",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "Go-http-client/1.1"},
            "requestId": "coldstart",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// One function under measurement: its binary, its destination stand-in, and what has been
/// measured so far. Starts of different functions are interleaved by the caller, so that a busy
/// moment on a shared machine lands on all of them alike.
pub struct Bench {
    pub function: &'static Function,
    binary: PathBuf,
    destination: Destination,
    /// The first event in rotation the function delivers; found by the first start.
    opening: Option<usize>,
    pub measured: Measured,
}

impl Bench {
    pub async fn new(function: &'static Function, options: &Options) -> Result<Bench, String> {
        let binary = options.bin_dir.join(function.binary);
        let binary = std::fs::canonicalize(&binary)
            .map_err(|_| format!("{} is not built (make bench builds it)", binary.display()))?;
        let destination = Destination::start(function.answer)
            .await
            .map_err(|err| err.to_string())?;
        Ok(Bench {
            function,
            binary,
            destination,
            opening: None,
            measured: Measured::default(),
        })
    }

    /// Starts the function, measures init and its first invocation, then `warm` more, and
    /// stops it.
    pub async fn start(
        &mut self,
        options: &Options,
        events: &[Bytes],
        warm: usize,
    ) -> Result<(), String> {
        let mut process =
            Process::start(self.function, &self.binary, &self.destination, options).await?;
        let result = process
            .run(
                events,
                &mut self.opening,
                warm,
                options.max_concurrency.map_or(1, |n| n.max(1) as usize),
                &mut self.measured,
            )
            .await;
        let (peak, rss) = process.memory();
        self.measured.peak_rss = self.measured.peak_rss.max(peak);
        self.measured.rss = rss;
        process.stop();
        result.map_err(|err| {
            format!(
                "{err}\n--- function output (last lines) ---\n{}",
                process.output()
            )
        })
    }
}

struct Process<'b> {
    function: &'static Function,
    destination: &'b Destination,
    child: Child,
    api: RuntimeApi,
    spawned: Instant,
    invocations: u64,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl<'b> Process<'b> {
    async fn start(
        function: &'static Function,
        binary: &Path,
        destination: &'b Destination,
        options: &Options,
    ) -> Result<Process<'b>, String> {
        let api = RuntimeApi::start(function.binary)
            .await
            .map_err(|err| err.to_string())?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(function.environment(api.addr, destination.addr, options.max_concurrency))
            .envs(
                options
                    .extra_env
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.as_str())),
            )
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|err| format!("{}: {err}", binary.display()))?;
        let output = Arc::new(Mutex::new(VecDeque::new()));
        // Lambda reads the function's stdout through a pipe; so does the harness, keeping only
        // the tail for when something goes wrong.
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, Arc::clone(&output));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, Arc::clone(&output));
        }
        Ok(Process {
            function,
            destination,
            child,
            api,
            spawned,
            invocations: 0,
            output,
        })
    }

    /// Waits for the first `/next`, then serves the opening event and `warm` more. `opening` is
    /// the first event in rotation the function delivers: recorded lifecycles open with
    /// per-tick chatter the default filter drops, and a first invocation that never reaches the
    /// destination would not pay for the connection. The first start finds it.
    async fn run(
        &mut self,
        events: &[Bytes],
        opening: &mut Option<usize>,
        warm: usize,
        width: usize,
        measured: &mut Measured,
    ) -> Result<(), String> {
        let polled = tokio::select! {
            polled = self.api.first_poll(PATIENCE) => polled,
            status = exit(&mut self.child) => Err(format!("the function exited during init ({status})")),
        }?;
        measured.init.push(polled.duration_since(self.spawned));
        let first = match *opening {
            Some(index) => index,
            None => {
                let mut found = None;
                for (index, event) in events.iter().enumerate() {
                    let ended = self.invoke(event).await?;
                    if ended.delivered {
                        found = Some(index);
                        if index == 0 {
                            measured.first.push(ended.latency);
                        }
                        measured.delivered += 1;
                        break;
                    }
                    measured.not_delivered += 1;
                }
                *opening = found;
                found.ok_or("not one recorded event was delivered")?
            }
        };
        if measured.init.len() > 1 {
            let ended = self.invoke(&events[first]).await?;
            if !ended.delivered {
                return Err("the opening event was not delivered this time".into());
            }
            measured.delivered += 1;
            measured.first.push(ended.latency);
        }
        let event = |n: usize| &events[(first + n) % events.len()];
        if width == 1 {
            for n in 1..=warm {
                let ended = self.invoke(event(n)).await?;
                measured.record_warm(&ended, ended.latency.saturating_sub(ended.destination.busy));
            }
            return Ok(());
        }
        // Keep `width` events queued, as Lambda Managed Instances would with that much traffic.
        let started = Instant::now();
        let mut sent = 0;
        while sent < warm.min(width) {
            sent += 1;
            self.send(event(sent));
        }
        for _ in 0..warm {
            let ended = self.receive(self.destination.served()).await?;
            // With several invocations at the destination at once, its time cannot be told
            // apart per invocation; the raw latency stands.
            measured.record_warm(&ended, ended.latency);
            if sent < warm {
                sent += 1;
                self.send(event(sent));
            }
        }
        measured.concurrent = Some(Concurrent {
            width,
            most_in_flight: self.api.most_in_flight(),
            per_second: warm as f64 / started.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    /// One invocation, start to end, alone.
    async fn invoke(&mut self, event: &Bytes) -> Result<Ended, String> {
        let before = self.destination.served();
        let id = self.send(event);
        let ended = self.receive(before).await?;
        if ended.id != id {
            return Err(format!("invocation {id} was answered as {}", ended.id));
        }
        Ok(ended)
    }

    /// Queues an event for the function's next poll.
    fn send(&mut self, event: &Bytes) -> String {
        self.invocations += 1;
        let id = format!("{:08}-coldstart", self.invocations);
        self.api.invoke(Invocation {
            id: id.clone(),
            event: event.clone(),
        });
        id
    }

    /// The next result, with what the destination did since `before`.
    async fn receive(&mut self, before: Served) -> Result<Ended, String> {
        let Some(completion) = self.api.completion(PATIENCE).await else {
            return Err(format!("no result within {PATIENCE:?}"));
        };
        let served = self.destination.served() - before;
        let id = completion.id;
        if completion.ending != Ending::Response {
            return Err(format!(
                "invocation {id} failed: {}",
                String::from_utf8_lossy(&completion.body)
            ));
        }
        if served.refused > 0 {
            return Err(format!(
                "the destination stand-in refused a request (invocation {id})"
            ));
        }
        Ok(Ended {
            delivered: succeeded(self.function, &completion.body),
            latency: completion.latency,
            destination: served,
            id,
        })
    }

    /// `VmHWM` and `VmRSS` in bytes.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map_or(0, |kib| kib * 1024)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn output(&self) -> String {
        let lines = self.output.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Process<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resolves when the process has ended (a function that cannot start exits).
async fn exit(child: &mut Child) -> String {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(err) => return err.to_string(),
        }
    }
}

struct Ended {
    id: String,
    latency: Duration,
    /// What the destination stand-in did during the invocation.
    destination: Served,
    delivered: bool,
}

/// The Function URL response the function posted says the destination took the event (or,
/// for the calibration function, says 200).
fn succeeded(function: &Function, result: &[u8]) -> bool {
    let Ok(result) = serde_json::from_slice::<Value>(result) else {
        return false;
    };
    let body = result["body"]
        .as_str()
        .and_then(|body| serde_json::from_str::<Value>(body).ok());
    result["statusCode"] == 200
        && (!function.delivers || body.is_some_and(|body| body["status"] == "delivered"))
}

fn drain(stream: impl Read + Send + 'static, tail: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == 20 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
}
