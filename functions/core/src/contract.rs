//! The HTTP contract every function keeps with its caller (Flagger, or anyone who can reach the
//! Function URL): what it accepts, and the one status and JSON body each outcome answers with.
//!
//! Flagger treats only 200–202 as success and puts the response body into its own error log,
//! so every failure says plainly what went wrong, and never shows a secret.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::classify::{Severity, Stage};
use crate::config::RelayToken;
use crate::deliver::{Delivered, DeliveryFailure, FailureClass};
use crate::event::EventError;

/// Largest body accepted. Flagger's events are a few hundred bytes; anything near this is not
/// an event, and refusing it early keeps memory and rendering bounded.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why a request was refused before anything was forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("method {0} is not allowed: send the event with POST")]
    MethodNotAllowed(String),
    #[error("request body is {0} bytes; the limit is {MAX_BODY_BYTES}")]
    PayloadTooLarge(usize),
    #[error("unauthorized")]
    Unauthorized,
    #[error("content-type {0:?} is not supported: send application/json")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    InvalidEvent(#[from] EventError),
}

impl RequestError {
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RequestError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::Unauthorized => StatusCode::UNAUTHORIZED,
            RequestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestError::InvalidEvent(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// How one invocation ended; each maps to exactly one status.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered {
        delivered: Delivered,
        stage: Stage,
        severity: Severity,
    },
    DryRun {
        payload: Value,
        stage: Stage,
        severity: Severity,
    },
    Filtered {
        stage: Stage,
        severity: Severity,
    },
    /// The same body reached this destination moments ago (Flagger retrying): nothing sent.
    /// `parked`: that earlier copy failed and is in the dead-letter queue, answered with this
    /// status, which this copy gets too.
    Duplicate {
        stage: Stage,
        severity: Severity,
        parked: Option<StatusCode>,
    },
    Refused(RequestError),
    Failed {
        failure: DeliveryFailure,
        dead_letter: DeadLetter,
    },
}

/// What became of an event its destination did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// No `DEAD_LETTER_QUEUE_URL`: the event is only in the function's error log.
    NotConfigured,
    /// A record is in the dead-letter queue, ready to redrive.
    Parked,
    /// The queue refused the record too; the event is only in the function's error log.
    WriteFailed(String),
    /// Left to the caller to retry: an SNS delivery that failed transiently is returned to
    /// Lambda as an error, whose retries and `OnFailure` destination take it from there.
    LeftToRetry,
}

impl Outcome {
    pub fn status(&self) -> StatusCode {
        match self {
            Outcome::Duplicate {
                parked: Some(status),
                ..
            } => *status,
            Outcome::Delivered { .. }
            | Outcome::DryRun { .. }
            | Outcome::Filtered { .. }
            | Outcome::Duplicate { .. } => StatusCode::OK,
            Outcome::Refused(err) => err.status(),
            Outcome::Failed {
                dead_letter: DeadLetter::WriteFailed(_),
                ..
            } => StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::Failed { failure, .. } => match failure.class {
                FailureClass::Permanent => StatusCode::BAD_GATEWAY,
                FailureClass::Transient => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// Short name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::DryRun { .. } => "dry-run",
            Outcome::Filtered { .. } => "filtered",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Refused(_) => "refused",
            Outcome::Failed { failure, .. } => match failure.class {
                FailureClass::Permanent => "rejected",
                FailureClass::Transient => "unavailable",
            },
        }
    }

    pub fn attempts(&self) -> u32 {
        match self {
            Outcome::Delivered { delivered, .. } => delivered.attempts,
            Outcome::Failed { failure, .. } => failure.attempts,
            _ => 0,
        }
    }

    /// The JSON body for the caller. `destination` is the kind (`slack`), never its address.
    pub fn body(&self, destination: &str) -> Value {
        match self {
            Outcome::Delivered {
                delivered,
                stage,
                severity,
            } => json!({
                "status": "delivered",
                "destination": destination,
                "stage": stage.as_str(),
                "severity": severity.as_str(),
                "attempts": delivered.attempts,
            }),
            Outcome::DryRun {
                payload,
                stage,
                severity,
            } => json!({
                "status": "dry-run",
                "destination": destination,
                "stage": stage.as_str(),
                "severity": severity.as_str(),
                "payload": payload,
            }),
            Outcome::Filtered { stage, severity } => json!({
                "status": "filtered",
                "stage": stage.as_str(),
                "severity": severity.as_str(),
            }),
            Outcome::Duplicate {
                stage,
                severity,
                parked: None,
            } => json!({
                "status": "duplicate",
                "destination": destination,
                "stage": stage.as_str(),
                "severity": severity.as_str(),
            }),
            Outcome::Duplicate {
                stage,
                severity,
                parked: Some(_),
            } => json!({
                "error": format!("{destination} did not take an earlier copy of this event, which is parked in the dead-letter queue; this copy is not sent again"),
                "status": "duplicate",
                "destination": destination,
                "stage": stage.as_str(),
                "severity": severity.as_str(),
                "dead_lettered": true,
            }),
            Outcome::Refused(err) => json!({ "error": err.to_string() }),
            Outcome::Failed {
                failure,
                dead_letter,
            } => {
                let what = match failure.class {
                    FailureClass::Permanent => format!("{destination} rejected the message"),
                    FailureClass::Transient => format!("{destination} is unavailable"),
                };
                let mut error = format!("{what}: {}", failure.reason);
                if let DeadLetter::WriteFailed(reason) = dead_letter {
                    error.push_str(&format!("; parking it failed too ({reason})"));
                }
                let mut body = json!({
                    "error": error,
                    "status": self.label(),
                    "destination": destination,
                    "attempts": failure.attempts,
                    "dead_lettered": *dead_letter == DeadLetter::Parked,
                });
                // Said only when true: the caller learns that a retry may show the event twice.
                if failure.maybe_delivered {
                    body["maybe_delivered"] = json!(true);
                }
                body
            }
        }
    }

    pub fn into_response(self, destination: &str) -> Response<Body> {
        json_response(self.status(), &self.body(destination))
    }
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The checks that come before reading the body as an event.
pub fn admit<'r>(
    request: &'r Request,
    token: Option<&RelayToken>,
) -> Result<&'r [u8], RequestError> {
    if request.method() != Method::POST {
        return Err(RequestError::MethodNotAllowed(request.method().to_string()));
    }
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::PayloadTooLarge(body.len()));
    }
    if let Some(token) = token {
        authenticate(request, token)?;
    }
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let value = content_type.to_str().unwrap_or("").to_owned();
        if !is_json(&value) {
            return Err(RequestError::UnsupportedMediaType(
                crate::text::truncate(&value, 80).into_owned(),
            ));
        }
    }
    Ok(body)
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Flagger can carry a secret only in the URL, so `?token=` is the usual form; tools that can
/// send headers (Alertmanager, curl) may use `Authorization: Bearer`. Every token presented must
/// match and at least one must be present; comparisons are constant-time. Public for routes
/// that are not event posts (the gate's `GET /decisions/…`).
pub fn authenticate(request: &Request, expected: &RelayToken) -> Result<(), RequestError> {
    let expected = expected.expose().as_bytes();
    let matches = |presented: &str| bool::from(presented.as_bytes().ct_eq(expected));
    let query = request.query_string_parameters_ref();
    let from_query = query
        .map(|q| q.all("token").unwrap_or_default())
        .unwrap_or_default();
    let from_header: Vec<&str> = request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .unwrap_or("")
        })
        .collect();
    let presented: Vec<&str> = from_query.into_iter().chain(from_header).collect();
    if !presented.is_empty() && presented.iter().all(|token| matches(token.trim())) {
        Ok(())
    } else {
        Err(RequestError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request: Request = builder.body(Body::from(body)).unwrap();
        let query: std::collections::HashMap<String, Vec<String>> =
            url::Url::parse(&format!("http://x{uri}"))
                .unwrap()
                .query_pairs()
                .fold(Default::default(), |mut map, (k, v)| {
                    map.entry(k.into_owned()).or_default().push(v.into_owned());
                    map
                });
        request.with_query_string_parameters(query)
    }

    fn token() -> RelayToken {
        RelayToken::new("s3cret-token".into())
    }

    #[test]
    fn accepts_a_post_without_token_when_none_is_configured() {
        assert!(admit(&request("POST", "/", &[], "{}"), None).is_ok());
    }

    #[test]
    fn refuses_other_methods() {
        let err = admit(&request("GET", "/", &[], ""), None).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn refuses_bodies_over_the_limit() {
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        let err = admit(&request("POST", "/", &[], &big), None).unwrap_err();
        assert_eq!(err, RequestError::PayloadTooLarge(MAX_BODY_BYTES + 1));
        let exact = "x".repeat(MAX_BODY_BYTES);
        assert!(admit(&request("POST", "/", &[], &exact), None).is_ok());
    }

    #[test]
    fn accepts_the_token_in_the_query_or_as_bearer() {
        let t = token();
        assert!(
            admit(
                &request("POST", "/?token=s3cret-token", &[], "{}"),
                Some(&t)
            )
            .is_ok()
        );
        let bearer = [("authorization", "Bearer s3cret-token")];
        assert!(admit(&request("POST", "/", &bearer, "{}"), Some(&t)).is_ok());
        assert!(
            admit(
                &request("POST", "/?token=s3cret-token", &bearer, "{}"),
                Some(&t)
            )
            .is_ok()
        );
    }

    #[test]
    fn refuses_a_missing_wrong_or_conflicting_token() {
        let t = token();
        for (uri, headers) in [
            ("/", &[][..]),
            ("/?token=wrong", &[][..]),
            ("/?token=", &[][..]),
            ("/?token=s3cret-token&token=wrong", &[][..]),
            (
                "/?token=s3cret-token",
                &[("authorization", "Bearer wrong")][..],
            ),
            ("/", &[("authorization", "Basic czNjcmV0LXRva2Vu")][..]),
        ] {
            let err = admit(&request("POST", uri, headers, "{}"), Some(&t)).unwrap_err();
            assert_eq!(err, RequestError::Unauthorized, "{uri} {headers:?}");
        }
    }

    #[test]
    fn accepts_json_content_types_only() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/vnd.x+json",
        ] {
            assert!(
                admit(&request("POST", "/", &[("content-type", ok)], "{}"), None).is_ok(),
                "{ok}"
            );
        }
        let err = admit(
            &request("POST", "/", &[("content-type", "text/plain")], "{}"),
            None,
        )
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
