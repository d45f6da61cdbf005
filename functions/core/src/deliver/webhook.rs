use std::error::Error as _;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use super::{AttemptError, Verdict};

/// What a webhook answered with a 2xx status. Some destinations put their verdict in the body
/// (a legacy Teams connector answers 200 with `1` only when it posted), so it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    /// `None` when the connection failed before the body was read: for a destination whose
    /// verdict is the status, that changes nothing; for one whose verdict is the body, nobody
    /// can say whether it took the message.
    pub body: Option<String>,
}

/// Which certificate authorities the HTTP client trusts (`TLS_ROOTS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// Mozilla's roots, compiled in (`webpki`): Slack, Microsoft and AWS endpoints all chain to
    /// them, and building the client takes microseconds instead of the milliseconds that
    /// reading the system store costs every cold start (BENCHMARKS.md).
    #[default]
    Mozilla,
    /// The operating system's store, with its verifier (`os`): for private certificate
    /// authorities and TLS-inspecting proxies.
    Os,
}

impl TlsRoots {
    pub fn parse(value: &str) -> Option<TlsRoots> {
        match value.trim().to_ascii_lowercase().as_str() {
            "webpki" | "mozilla" => Some(TlsRoots::Mozilla),
            "os" | "system" => Some(TlsRoots::Os),
            _ => None,
        }
    }
}

/// The one HTTP client of a function, built at cold start and reused so that the TLS
/// connection to the destination survives between invocations. It follows no redirect: a POST
/// redirected may be replayed as a GET that "succeeds" having posted nothing.
pub fn http_client(
    connect_timeout: Duration,
    roots: TlsRoots,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("flagger-relay/", env!("CARGO_PKG_VERSION")));
    match roots {
        TlsRoots::Mozilla => builder.tls_backend_preconfigured(mozilla_roots()),
        TlsRoots::Os => builder,
    }
    .build()
}

fn mozilla_roots() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|config| {
        config
            .with_root_certificates(roots.clone())
            .with_no_client_auth()
    })
    // The provider supports the default versions; should that ever change, fall back to
    // rustls' own default configuration rather than fail the cold start.
    .unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth()
    })
}

/// Longest slice of an error body worth quoting back to Flagger.
const REASON_BODY_LIMIT: usize = 300;

/// POSTs a JSON document and sorts the answer into success, transient or permanent failure.
/// Reasons never contain the URL: reqwest puts it in its errors, so it is stripped here.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<WebhookResponse, AttemptError> {
    let response = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .timeout(timeout)
        .body(body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers(), SystemTime::now());
    // The status is in; a body cut off after it only matters where the body is the verdict.
    let body = response.text().await.ok();
    let said = body.as_deref().unwrap_or_default();
    match Verdict::of_http_status(status) {
        Verdict::Delivered => Ok(WebhookResponse { status, body }),
        Verdict::Transient => Err(AttemptError::Transient {
            reason: http_reason(status, said),
            retry_after,
        }),
        Verdict::Permanent if (300..400).contains(&status) => Err(AttemptError::Permanent {
            reason: format!(
                "HTTP {status}: the webhook URL redirects, and redirects are not followed (use the URL it points to)"
            ),
        }),
        Verdict::Permanent => Err(AttemptError::Permanent {
            reason: http_reason(status, said),
        }),
    }
}

/// `HTTP 400: invalid_payload`: the status and the start of what the destination said.
pub fn http_reason(status: u16, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return format!("HTTP {status}");
    }
    let cut = crate::text::truncate(body, REASON_BODY_LIMIT);
    format!("HTTP {status}: {cut}")
}

/// The status a reason written by [`http_reason`] starts with (after a caller's prefix such
/// as `chat.postMessage failed: `), for logs and metrics; `None` when the destination gave no
/// HTTP answer (a refused connection, an AWS error code, a Slack `ok:false` code).
pub fn http_status_in(reason: &str) -> Option<u16> {
    let at = reason
        .match_indices("HTTP ")
        .find(|(at, _)| *at == 0 || reason[..*at].ends_with(": "))?
        .0;
    let rest = &reason[at + "HTTP ".len()..];
    let digits = rest.get(..3)?;
    let after = &rest[3..];
    let status = digits.parse::<u16>().ok()?;
    ((100..=599).contains(&status) && (after.is_empty() || after.starts_with(':')))
        .then_some(status)
}

/// No connection: nothing was delivered. Connected and then no answer (timed out, cut off):
/// the request may have been taken.
fn transport_error(err: reqwest::Error) -> AttemptError {
    if err.is_connect() {
        AttemptError::transient(describe_transport_error(err))
    } else {
        AttemptError::unanswered(describe_transport_error(err))
    }
}

/// What kept a request from getting an answer, with its causes, and without the URL that
/// reqwest puts in its errors (webhook URLs are credentials).
pub fn describe_transport_error(err: reqwest::Error) -> String {
    let err = err.without_url();
    let what = if err.is_timeout() {
        "request timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "connection failed while reading the response"
    } else {
        "request failed"
    };
    let mut reason = what.to_owned();
    let mut source = err.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn reads_retry_after_in_seconds() {
        assert_eq!(
            retry_after(&headers("7"), SystemTime::now()),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn reads_retry_after_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let later = headers("Wed, 21 Oct 2015 07:28:03 GMT");
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(3)));
        let past = headers("Wed, 21 Oct 2015 07:27:00 GMT");
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
    }

    #[test]
    fn ignores_a_retry_after_it_cannot_read() {
        assert_eq!(retry_after(&headers("soon"), SystemTime::now()), None);
        assert_eq!(retry_after(&HeaderMap::new(), SystemTime::now()), None);
    }

    #[test]
    fn reads_the_status_back_from_a_reason() {
        assert_eq!(http_status_in(&http_reason(429, "slow down")), Some(429));
        assert_eq!(http_status_in(&http_reason(500, "")), Some(500));
        assert_eq!(
            http_status_in("chat.postMessage failed: HTTP 503: busy"),
            Some(503)
        );
        for none in [
            "chat.postMessage failed: channel_not_found",
            "could not connect: tcp connect error: Connection refused",
            "AuthorizationError: not authorized",
            "no answer within 3000 ms",
            "request failed: received HTTP 1.1 response",
            "HTTP 42: short",
        ] {
            assert_eq!(http_status_in(none), None, "{none}");
        }
    }

    #[test]
    fn quotes_a_bounded_part_of_the_error_body() {
        assert_eq!(http_reason(404, "no_service\n"), "HTTP 404: no_service");
        assert_eq!(http_reason(500, ""), "HTTP 500");
        let long = "é".repeat(1000);
        assert!(http_reason(400, &long).chars().count() < 320);
    }
}
