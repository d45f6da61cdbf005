use std::error::Error as _;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use super::{AttemptError, Verdict};

/// What a webhook answered with a 2xx status. Some destinations put their verdict in the body
/// (a legacy Teams connector answers 200 with `1` only when it posted), so it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: String,
}

/// The one HTTP client of a function, built at cold start and reused so that the TLS
/// connection to the destination survives between invocations.
pub fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("flagger-relay/", env!("CARGO_PKG_VERSION")))
        .build()
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
    let body = response.text().await.map_err(transport_error)?;
    match Verdict::of_http_status(status) {
        Verdict::Delivered => Ok(WebhookResponse { status, body }),
        Verdict::Transient => Err(AttemptError::Transient {
            reason: http_reason(status, &body),
            retry_after,
        }),
        Verdict::Permanent => Err(AttemptError::Permanent {
            reason: http_reason(status, &body),
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

fn transport_error(err: reqwest::Error) -> AttemptError {
    AttemptError::transient(describe_transport_error(err))
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
    fn quotes_a_bounded_part_of_the_error_body() {
        assert_eq!(http_reason(404, "no_service\n"), "HTTP 404: no_service");
        assert_eq!(http_reason(500, ""), "HTTP 500");
        let long = "é".repeat(1000);
        assert!(http_reason(400, &long).chars().count() < 320);
    }
}
