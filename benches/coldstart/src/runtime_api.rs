//! The Lambda Runtime API, as much of it as a function built on `lambda_runtime` uses: it
//! long-polls `GET /2018-06-01/runtime/invocation/next`, answers with
//! `POST …/invocation/{id}/response` (or `…/error`), and reports a failed start with
//! `POST /2018-06-01/runtime/init/error`.
//!
//! Time is taken where Lambda would take it: init ends when the first `/next` arrives; an
//! invocation lasts from the moment its event is handed out to the moment its result arrives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};
use tokio::task::JoinHandle;

/// The function's timeout in template.yaml: what the deadline header promises.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Invocation {
    pub id: String,
    pub event: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Response,
    Error,
    InitError,
}

pub struct Completion {
    pub id: String,
    pub ending: Ending,
    pub body: Bytes,
    /// From the event leaving `/next` to the result arriving; zero for an init error.
    pub latency: Duration,
}

struct Shared {
    function_arn: String,
    first_poll: watch::Sender<Option<Instant>>,
    queue: AsyncMutex<mpsc::UnboundedReceiver<Invocation>>,
    handed_out: Mutex<HashMap<String, Instant>>,
    /// The most invocations the function has held at once.
    most_in_flight: AtomicUsize,
    completions: mpsc::UnboundedSender<Completion>,
}

/// One Runtime API for one function process.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    invocations: mpsc::UnboundedSender<Invocation>,
    completions: mpsc::UnboundedReceiver<Completion>,
    first_poll: watch::Receiver<Option<Instant>>,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (invocations, queue) = mpsc::unbounded_channel();
        let (completions_tx, completions) = mpsc::unbounded_channel();
        let (first_poll_tx, first_poll) = watch::channel(None);
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"),
            first_poll: first_poll_tx,
            queue: AsyncMutex::new(queue),
            handed_out: Mutex::new(HashMap::new()),
            most_in_flight: AtomicUsize::new(0),
            completions: completions_tx,
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(RuntimeApi {
            addr,
            invocations,
            completions,
            first_poll,
            shared,
            server,
        })
    }

    /// When the function first asked for work; what it reported instead if its init failed.
    pub async fn first_poll(&mut self, limit: Duration) -> Result<Instant, String> {
        let polled = async {
            tokio::select! {
                polled = self.first_poll.wait_for(Option::is_some) => {
                    polled.ok().and_then(|at| *at).ok_or_else(|| "the Runtime API stopped".to_owned())
                }
                Some(completion) = self.completions.recv() => {
                    Err(format!("init error: {}", String::from_utf8_lossy(&completion.body)))
                }
            }
        };
        tokio::time::timeout(limit, polled)
            .await
            .unwrap_or_else(|_| Err(format!("no /next within {limit:?}")))
    }

    /// Queues one event for the next `/next` poll.
    pub fn invoke(&self, invocation: Invocation) {
        // The receiver lives in the server task, which outlives every caller of `invoke`.
        let _ = self.invocations.send(invocation);
    }

    /// The most invocations the function has held at once: above 1 only when it polls for
    /// more work before answering (`run_concurrent` with `AWS_LAMBDA_MAX_CONCURRENCY` > 1).
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::Acquire)
    }

    /// The next result the function posted (or its init error), or `None` after `limit`.
    pub async fn completion(&mut self, limit: Duration) -> Option<Completion> {
        tokio::time::timeout(limit, self.completions.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| handle(Arc::clone(&shared), request));
        connections.push(AbortOnDrop(tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        })));
    }
}

/// Connection tasks end with the server task, so a long poll left hanging by a killed
/// function does not outlive the measurement.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_owned();
    let route = path
        .strip_prefix("/2018-06-01/runtime/")
        .unwrap_or_default();
    match (request.method().clone(), route) {
        (Method::GET, "invocation/next") => {
            let polled = Instant::now();
            shared
                .first_poll
                .send_if_modified(|first| first.is_none() && first.replace(polled).is_none());
            let next = shared.queue.lock().await.recv().await;
            let Some(invocation) = next else {
                return Ok(plain(StatusCode::GONE, "the harness has stopped"));
            };
            let mut handed_out = shared.handed_out.lock().unwrap_or_else(|p| p.into_inner());
            handed_out.insert(invocation.id.clone(), Instant::now());
            shared
                .most_in_flight
                .fetch_max(handed_out.len(), Ordering::AcqRel);
            drop(handed_out);
            Ok(next_event(&shared, invocation))
        }
        (Method::POST, "init/error") => {
            let body = request.into_body().collect().await?.to_bytes();
            let _ = shared.completions.send(Completion {
                id: String::new(),
                ending: Ending::InitError,
                body,
                latency: Duration::ZERO,
            });
            Ok(accepted())
        }
        (Method::POST, route) => {
            let Some((id, ending)) = route
                .strip_prefix("invocation/")
                .and_then(|rest| rest.split_once('/'))
            else {
                return Ok(plain(StatusCode::NOT_FOUND, "unknown route"));
            };
            let ending = match ending {
                "response" => Ending::Response,
                "error" => Ending::Error,
                _ => return Ok(plain(StatusCode::NOT_FOUND, "unknown route")),
            };
            let id = id.to_owned();
            let body = request.into_body().collect().await?.to_bytes();
            let arrived = Instant::now();
            let handed_out = shared
                .handed_out
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            let Some(handed_out) = handed_out else {
                return Ok(plain(StatusCode::BAD_REQUEST, "no such invocation"));
            };
            let latency = arrived.duration_since(handed_out);
            let _ = shared.completions.send(Completion {
                id,
                ending,
                body,
                latency,
            });
            Ok(accepted())
        }
        _ => Ok(plain(StatusCode::NOT_FOUND, "unknown route")),
    }
}

fn next_event(shared: &Shared, invocation: Invocation) -> Response<Full<Bytes>> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + FUNCTION_TIMEOUT;
    let mut response = Response::new(Full::new(invocation.event));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let values = [
        ("lambda-runtime-aws-request-id", invocation.id),
        (
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            shared.function_arn.clone(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-674455f0-3c5a7c1f2b9e4d6a8f0e1d2c;Parent=53995c3f42cd8ad8;Sampled=0".into(),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// What Lambda answers to a posted result.
fn accepted() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
