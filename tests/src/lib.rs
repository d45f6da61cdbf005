//! Test harness shared by the fixture-driven tests: recorded fixtures, Function URL requests
//! as Lambda delivers them, and responses read back as JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::{Body, Context, Request, RequestExt, Response};
use serde_json::{Value, json};

pub mod emf;
pub mod faults;
pub mod monitoring;
pub mod moto;
pub mod template;
pub mod watch;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A program the project's tools environment provides (`make tools` fills `.venv/bin`), or
/// else the first on `PATH`: a plain `cargo test` finds the project's own, and a user's own
/// installation still serves when the project has none.
pub fn tool(name: &str) -> Option<PathBuf> {
    let local = std::iter::once(root().join(".venv/bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    local
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Says once per test binary, on the terminal even when libtest captures the tests' output,
/// that the tests needing a missing tool are skipped and how to run them.
pub fn say_skipped(once: &'static std::sync::Once, what: &str, how: &str) {
    once.call_once(|| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped: {what}; {how}");
    });
}

/// Ends the calling test early, passing, when `$available` is false: the harness has said,
/// once for the binary, how to get what is missing. `skip_without!(moto::available())`.
#[macro_export]
macro_rules! skip_without {
    ($available:expr) => {
        if !$available {
            return;
        }
    };
}

/// One recorded Flagger body, named after its file (`canary-success-09`).
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub lifecycle: String,
    pub body: Vec<u8>,
}

/// Every recorded Flagger event in `events/flagger/`, in lifecycle order.
pub fn fixtures() -> Vec<Fixture> {
    let dir = root().join("events/flagger");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("readable fixture directory").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 100,
        "expected every recorded lifecycle in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name")
                .to_owned();
            let lifecycle = name
                .rsplit_once('-')
                .map(|(l, _)| l.to_owned())
                .unwrap_or_else(|| name.clone());
            let body = std::fs::read(&path).expect("readable fixture");
            Fixture {
                name,
                lifecycle,
                body,
            }
        })
        .collect()
}

/// Fixtures grouped by lifecycle, each group in emission order.
pub fn lifecycles() -> Vec<(String, Vec<Fixture>)> {
    let mut groups: Vec<(String, Vec<Fixture>)> = Vec::new();
    for fixture in fixtures() {
        match groups.last_mut() {
            Some((name, group)) if *name == fixture.lifecycle => group.push(fixture),
            _ => groups.push((fixture.lifecycle.clone(), vec![fixture])),
        }
    }
    groups
}

/// How a test wants its request to look; the default is what Flagger sends.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub method: &'a str,
    /// The Function URL's path: `/` for the relay functions, a route for the gate.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
    pub base64: bool,
    /// Time left before Lambda's deadline; `None` sends no Lambda context at all.
    pub time_left: Option<Duration>,
    /// When the Function URL received the request (`requestContext.timeEpoch`); `None` is a
    /// fixed moment long past, which no deadline counts from.
    pub arrived: Option<SystemTime>,
}

impl<'a> Call<'a> {
    pub fn post(body: &'a [u8]) -> Self {
        Call {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![
                ("content-type", "application/json"),
                ("user-agent", "Go-http-client/1.1"),
            ],
            body,
            base64: false,
            time_left: Some(Duration::from_secs(10)),
            arrived: None,
        }
    }

    pub fn path(mut self, path: &'a str) -> Self {
        self.path = path;
        self
    }

    pub fn query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value));
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(existing, _)| *existing != name);
        self
    }

    pub fn method(mut self, method: &'a str) -> Self {
        self.method = method;
        self
    }

    pub fn base64(mut self) -> Self {
        self.base64 = true;
        self
    }

    pub fn time_left(mut self, time_left: Duration) -> Self {
        self.time_left = Some(time_left);
        self
    }

    /// The request reached the Function URL `ago` before now (a cold start in between).
    pub fn arrived_ago(mut self, ago: Duration) -> Self {
        self.arrived = Some(SystemTime::now() - ago);
        self
    }

    /// The Function URL (HTTP API v2) envelope Lambda would deliver for this call.
    pub fn envelope(&self) -> Value {
        let body = if self.base64 {
            Value::String(base64_encode(self.body))
        } else {
            Value::String(String::from_utf8_lossy(self.body).into_owned())
        };
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let query: serde_json::Map<String, Value> =
            url_pairs(self.query)
                .into_iter()
                .fold(serde_json::Map::new(), |mut map, (k, v)| {
                    // HTTP API v2 joins repeated parameters with a comma.
                    let joined = match map.get(&k).and_then(Value::as_str) {
                        Some(existing) => format!("{existing},{v}"),
                        None => v,
                    };
                    map.insert(k, Value::String(joined));
                    map
                });
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.query,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "relaytest",
                "domainName": "relaytest.lambda-url.eu-west-1.on.aws",
                "domainPrefix": "relaytest",
                "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Go-http-client/1.1"},
                "requestId": "test-request",
                "routeKey": "$default",
                "stage": "$default",
                "time": "24/Nov/2025:15:00:00 +0000",
                "timeEpoch": self.arrived.map_or(1_763_996_400_000u64, |at| {
                    u64::try_from(at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
                        .unwrap_or(0)
                })
            },
            "body": body,
            "isBase64Encoded": self.base64
        })
    }

    /// The request as `lambda_http` hands it to the handler, with a Lambda context whose
    /// deadline is `time_left` from now.
    pub fn request(&self) -> Request {
        let request = lambda_http::request::from_str(&self.envelope().to_string())
            .expect("a valid Function URL envelope");
        match self.time_left {
            None => request,
            Some(left) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock after 1970");
                let mut context = Context::default();
                context.request_id = "test-request".into();
                context.deadline =
                    u64::try_from((now + left).as_millis()).expect("deadline fits u64");
                request.with_lambda_context(context)
            }
        }
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Status and JSON body of a handler's response; a body that is not JSON fails the test.
pub fn read(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8(bytes.clone()).expect("utf-8 body"),
        Body::Empty => String::new(),
        _ => panic!("unexpected body kind"),
    };
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("status {status}: body is not JSON ({err}): {text}"));
    (status, body)
}

/// Where tests leave every payload they produced, one JSON per line, for the providers'
/// validators (`make test` feeds them to `validators/validate`).
pub fn write_payloads(file: &str, payloads: &[Value]) {
    let dir = root().join("target/payloads");
    std::fs::create_dir_all(&dir).expect("target/payloads is writable");
    let lines: String = payloads.iter().map(|p| format!("{p}\n")).collect();
    std::fs::write(dir.join(file), lines).expect("payload file is writable");
}

/// A function binary as `cargo lambda watch` builds it (dev profile), built once per test
/// process.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let target: PathBuf =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), Into::into);
    let path = target.join("debug").join(name);
    if !built.iter().any(|done| done == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(root())
            .args(["build", "--quiet", "--bin", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --bin {name} failed");
        built.push(name.to_owned());
    }
    path
}

/// A function serving without a relay token, on purpose: what the tests that are not about
/// authentication run with. A function given neither this nor a token does not start.
pub const OPEN: (&str, &str) = ("ALLOW_UNAUTHENTICATED", "true");

/// Environment for building a function's configuration in a test.
pub fn env<'a>(pairs: &[(&'a str, &'a str)]) -> std::collections::HashMap<&'a str, &'a str> {
    pairs.iter().copied().collect()
}

/// A stand-in destination on loopback that answers every POST with `answer`.
pub async fn answering(answer: impl wiremock::Respond + 'static) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_base64_like_the_function_url_does() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn round_trips_a_base64_body_through_lambda_http() {
        let request = Call::post(b"{\"a\":\"\xc3\xa9\"}").base64().request();
        assert_eq!(request.body().as_ref(), b"{\"a\":\"\xc3\xa9\"}");
    }
}
