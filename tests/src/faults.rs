//! AWS that fails on cue: a loopback proxy in front of moto that passes every request through,
//! except the ones a test asked to fail. A request is picked by its operation (the
//! `X-Amz-Target` header of the JSON protocols, `AmazonSQS.DeleteMessage`,
//! `DynamoDB_20120810.UpdateItem`) and, optionally, a piece of its body; it is answered with the
//! status and error body given, as many times as asked, and then passed through again. Every
//! operation seen is counted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One cue: which requests fail, how, and how many more times.
#[derive(Debug, Clone)]
struct Cue {
    target: String,
    body_contains: Option<String>,
    times: usize,
    status: u16,
    body: String,
}

#[derive(Default)]
struct State {
    cues: Vec<Cue>,
    seen: Vec<String>,
    failed: Vec<String>,
}

pub struct Faults {
    endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Faults {
    /// A proxy to `upstream` (moto's endpoint) on a free loopback port.
    pub async fn start(upstream: &str) -> Faults {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address: SocketAddr = listener.local_addr().expect("bound");
        let state = Arc::new(Mutex::new(State::default()));
        let client = reqwest::Client::new();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, client, upstream) =
                    (Arc::clone(&shared), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let (state, client, upstream) =
                            (Arc::clone(&state), client.clone(), upstream.clone());
                        async move {
                            Ok::<_, Infallible>(handle(request, &state, &client, &upstream).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Faults {
            endpoint: format!("http://{address}"),
            state,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`: give it to the SDK instead of moto's.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Fails the next `times` requests for `target` with `status` and an AWS error of `code`.
    pub fn fail(&self, target: &str, times: usize, status: u16, code: &str) {
        self.fail_when(target, None, times, status, code);
    }

    /// Like [`Faults::fail`], for requests whose body contains `body_contains` only.
    pub fn fail_when(
        &self,
        target: &str,
        body_contains: Option<&str>,
        times: usize,
        status: u16,
        code: &str,
    ) {
        let body = serde_json::json!({"__type": code, "message": "injected by the test"});
        self.state.lock().expect("faults state").cues.push(Cue {
            target: target.to_owned(),
            body_contains: body_contains.map(str::to_owned),
            times,
            status,
            body: body.to_string(),
        });
    }

    /// Requests for `target` seen so far (failed ones included).
    pub fn calls(&self, target: &str) -> usize {
        let state = self.state.lock().expect("faults state");
        state.seen.iter().filter(|seen| *seen == target).count()
    }

    /// Requests for `target` answered with an injected failure so far.
    pub fn failed(&self, target: &str) -> usize {
        let state = self.state.lock().expect("faults state");
        state.failed.iter().filter(|seen| *seen == target).count()
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    request: Request<Incoming>,
    state: &Mutex<State>,
    client: &reqwest::Client,
    upstream: &str,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let injected = {
        let mut state = state.lock().expect("faults state");
        state.seen.push(target.clone());
        let text = String::from_utf8_lossy(&body);
        let cue = state.cues.iter_mut().find(|cue| {
            cue.times > 0
                && cue.target == target
                && cue
                    .body_contains
                    .as_deref()
                    .is_none_or(|piece| text.contains(piece))
        });
        let injected = cue.map(|cue| {
            cue.times -= 1;
            (cue.status, cue.body.clone())
        });
        if injected.is_some() {
            state.failed.push(target.clone());
        }
        injected
    };
    if let Some((status, body)) = injected {
        return Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response");
    }
    let uri = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let mut forward = client.request(parts.method.clone(), uri).body(body);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if !matches!(
                    name.as_str(),
                    "content-length" | "connection" | "transfer-encoding"
                ) {
                    response = response.header(name, value);
                }
            }
            let body = answer.bytes().await.unwrap_or_default();
            response.body(Full::new(body)).expect("a valid response")
        }
        Err(err) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("upstream: {err}"))))
            .expect("a valid response"),
    }
}
