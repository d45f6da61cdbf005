//! Stand-ins for Slack, Teams and SNS on loopback that answer at once, and keep count of how
//! long they themselves took so that it can be taken out of the function's latency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the real destination says "taken".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Slack incoming webhook: `200 ok`.
    SlackOk,
    /// Teams Workflows webhook: `202 Accepted`, empty body.
    TeamsAccepted,
    /// SNS Query API `Publish`: `200` with a `PublishResponse` XML document.
    SnsPublish,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    refused: AtomicU64,
    busy_nanos: AtomicU64,
}

/// Requests served so far and the time spent serving them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    pub refused: u64,
    pub busy: Duration,
}

impl std::ops::Sub for Served {
    type Output = Served;

    fn sub(self, earlier: Served) -> Served {
        Served {
            requests: self.requests - earlier.requests,
            refused: self.refused - earlier.refused,
            busy: self.busy.saturating_sub(earlier.busy),
        }
    }
}

pub struct Destination {
    pub addr: SocketAddr,
    tally: Arc<Tally>,
    server: JoinHandle<()>,
}

impl Destination {
    pub async fn start(answer: Answer) -> std::io::Result<Destination> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Tally::default());
        let server = tokio::spawn(serve(listener, answer, Arc::clone(&tally)));
        Ok(Destination {
            addr,
            tally,
            server,
        })
    }

    pub fn served(&self) -> Served {
        Served {
            requests: self.tally.requests.load(Ordering::Acquire),
            refused: self.tally.refused.load(Ordering::Acquire),
            busy: Duration::from_nanos(self.tally.busy_nanos.load(Ordering::Acquire)),
        }
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, answer: Answer, tally: Arc<Tally>) {
    let mut connections = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let tally = Arc::clone(&tally);
        let service = service_fn(move |request| respond(answer, Arc::clone(&tally), request));
        connections.push(AbortOnDrop(tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        })));
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn respond(
    answer: Answer,
    tally: Arc<Tally>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let started = Instant::now();
    let body = request.into_body().collect().await?.to_bytes();
    let number = tally.requests.fetch_add(1, Ordering::AcqRel);
    let response = match answer {
        // A body that is not what the destination expects is refused, as the real one would:
        // a benchmark that delivered nothing must not look fast.
        _ if body.is_empty() => refuse(&tally, "empty body"),
        Answer::SlackOk | Answer::TeamsAccepted if body.first() != Some(&b'{') => {
            refuse(&tally, "not JSON")
        }
        Answer::SlackOk => reply(StatusCode::OK, "text/plain", Bytes::from_static(b"ok")),
        Answer::TeamsAccepted => reply(StatusCode::ACCEPTED, "text/plain", Bytes::new()),
        Answer::SnsPublish if !contains(&body, b"Action=Publish") => {
            refuse(&tally, "not a Publish call")
        }
        Answer::SnsPublish => {
            let id = format!("{number:08x}-0000-4000-8000-000000000000");
            let xml = format!(
                "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>\
                 <MessageId>{id}</MessageId></PublishResult><ResponseMetadata><RequestId>{id}</RequestId>\
                 </ResponseMetadata></PublishResponse>"
            );
            reply(StatusCode::OK, "text/xml", Bytes::from(xml))
        }
    };
    let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    tally.busy_nanos.fetch_add(busy, Ordering::AcqRel);
    Ok(response)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn refuse(tally: &Tally, why: &'static str) -> Response<Full<Bytes>> {
    tally.refused.fetch_add(1, Ordering::AcqRel);
    reply(
        StatusCode::BAD_REQUEST,
        "text/plain",
        Bytes::from_static(why.as_bytes()),
    )
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
