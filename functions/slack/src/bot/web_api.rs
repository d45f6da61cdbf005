//! A small client for the two Slack Web API methods the bot uses: `chat.postMessage` and
//! `chat.update`.
//!
//! Slack's Web API answers HTTP 200 whether or not it did what was asked: the verdict is the
//! JSON body, `{"ok":true,"ts":"…","channel":"…"}` or `{"ok":false,"error":"not_in_channel"}`.
//! Only rate limiting (HTTP 429 with `Retry-After`) and Slack's own outages show in the status.
//! One call here is one attempt; the caller retries each call on its own (see
//! [`flagger_relay_core::deliver::with_retries`]), so a retry never repeats a call that
//! already succeeded.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use flagger_relay_core::config::ConfigError;
use flagger_relay_core::deliver::{
    AttemptError, Verdict, describe_transport_error, http_reason, retry_after,
};

/// The Web API method, as Slack names it in its URL and its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    PostMessage,
    Update,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::PostMessage => "chat.postMessage",
            Method::Update => "chat.update",
        }
    }
}

/// A bot token (`xoxb-…`). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Accepts a bot token only: a user token (`xoxp-`) would post as a person, and anything
    /// else is a misplaced value (a webhook URL, a signing secret).
    pub fn parse(setting: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let token = raw.trim();
        let well_formed = token.len() > "xoxb-".len()
            && token.starts_with("xoxb-")
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !well_formed {
            return Err(ConfigError::Invalid {
                name: setting,
                expected: "a Slack bot token (xoxb-…)",
            });
        }
        Ok(BotToken(token.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

/// What Slack answered to a successful post or update: where the message is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// Every Web API answer, successful or not.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// What to do about the errors a person can fix, said where Flagger and the logs show it.
fn hint(error: &str) -> Option<&'static str> {
    match error {
        "not_in_channel" => Some("invite the app to the channel, or grant it chat:write.public"),
        "channel_not_found" => {
            Some("check SLACK_CHANNEL_ID, and invite the app if the channel is private")
        }
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            Some("check SLACK_BOT_TOKEN")
        }
        "missing_scope" => Some("the app needs the chat:write scope"),
        "is_archived" => Some("the channel is archived"),
        _ => None,
    }
}

/// The Web API at `base` (`https://slack.com/api`), called with one bot token.
#[derive(Clone)]
pub struct WebApi {
    client: reqwest::Client,
    base: String,
    authorization: HeaderValue,
}

impl WebApi {
    pub fn new(client: reqwest::Client, base: &str, token: &BotToken) -> Result<Self, ConfigError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| ConfigError::Invalid {
                name: "SLACK_BOT_TOKEN",
                expected: "a Slack bot token (xoxb-…)",
            })?;
        // Keeps the header out of any debug output of the request.
        authorization.set_sensitive(true);
        Ok(WebApi {
            client,
            base: base.trim_end_matches('/').to_owned(),
            authorization,
        })
    }

    /// One call of `method` with a JSON body, cut off after `timeout`.
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        body: &B,
        timeout: Duration,
    ) -> Result<Posted, AttemptError> {
        let body =
            serde_json::to_vec(body).map_err(|err| AttemptError::permanent(err.to_string()))?;
        let response = self
            .client
            .post(format!("{}/{}", self.base, method.as_str()))
            .header(AUTHORIZATION, self.authorization.clone())
            // Without the charset Slack warns `missing_charset` on every call.
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|err| transport_error(method, err))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        // Without the body there is no verdict: the call may have gone through.
        let text = response.text().await.map_err(|err| {
            AttemptError::unanswered(format!(
                "{} failed: {}",
                method.as_str(),
                describe_transport_error(err)
            ))
        })?;
        let reason = |what: String| format!("{} failed: {what}", method.as_str());
        // The Web API answers 200 for every call it read, failed or not; its verdict is in
        // the body.
        match (status, Verdict::of_http_status(status)) {
            (200, _) => {}
            (_, Verdict::Transient) => {
                return Err(AttemptError::Transient {
                    reason: reason(http_reason(status, &text)),
                    retry_after,
                });
            }
            _ => return Err(AttemptError::permanent(reason(http_reason(status, &text)))),
        }
        // A 200 that is not a Web API answer (a proxy's page) might still have posted: not
        // retried, so that it cannot post twice.
        let answer: Answer = serde_json::from_str(&text).map_err(|_| {
            AttemptError::permanent(reason("HTTP 200 without a Web API answer".to_owned()))
        })?;
        if !answer.ok {
            let error = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
            let error = flagger_relay_core::text::truncate(&error, 100).into_owned();
            if Verdict::of_slack_error(&error) == Verdict::Transient {
                return Err(AttemptError::Transient {
                    reason: reason(error),
                    retry_after,
                });
            }
            let described = match hint(&error) {
                Some(hint) => format!("{error} ({hint})"),
                None => error,
            };
            return Err(AttemptError::permanent(reason(described)));
        }
        match (answer.channel, answer.ts) {
            (Some(channel), Some(ts)) => Ok(Posted { channel, ts }),
            _ => Err(AttemptError::permanent(reason(
                "ok without channel and ts".to_owned(),
            ))),
        }
    }
}

/// The Slack error code in the reason of a failed call (`chat.postMessage failed: is_archived
/// (the channel is archived)` → `is_archived`), as [`WebApi::call`] writes it.
pub fn slack_error(reason: &str) -> Option<&str> {
    let (_, said) = reason.split_once(" failed: ")?;
    let code = said.split([' ', '(']).next()?;
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')).then_some(code)
}

/// Why a call did not get an answer. Without a connection nothing was posted; with one, the
/// call may have gone through. The token travels in a header, never in the URL, so reqwest's
/// errors cannot quote it; the URL is stripped all the same.
fn transport_error(method: Method, err: reqwest::Error) -> AttemptError {
    let connected = !err.is_connect();
    let reason = format!(
        "{} failed: {}",
        method.as_str(),
        describe_transport_error(err)
    );
    if connected {
        AttemptError::unanswered(reason)
    } else {
        AttemptError::transient(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bot_tokens_only() {
        assert!(BotToken::parse("T", "xoxb-123-456-abcDEF").is_ok());
        assert!(BotToken::parse("T", " xoxb-123-456-abcDEF\n").is_ok());
        assert!(BotToken::parse("T", "xoxb-").is_err());
        for bad in [
            "xoxp-123-456",
            "https://hooks.slack.com/services/T/B/x",
            "xoxb-12 34",
        ] {
            let err = BotToken::parse("SLACK_BOT_TOKEN", bad).unwrap_err();
            assert!(
                !err.to_string().contains(bad),
                "the value is not echoed: {err}"
            );
        }
    }

    #[test]
    fn never_shows_the_token_in_debug_output() {
        let token = BotToken::parse("T", "xoxb-123-456-sekrit").unwrap();
        assert_eq!(format!("{token:?}"), "BotToken(<redacted>)");
    }

    #[test]
    fn reads_slacks_error_back_from_a_reason() {
        assert_eq!(
            slack_error("chat.postMessage failed: is_archived (the channel is archived)"),
            Some("is_archived")
        );
        assert_eq!(
            slack_error("chat.postMessage failed: message_not_found"),
            Some("message_not_found")
        );
        assert_eq!(slack_error("chat.postMessage failed: HTTP 503"), None);
        assert_eq!(slack_error("request timed out"), None);
    }

    #[test]
    fn hints_at_the_fix_for_configuration_errors() {
        assert!(
            hint("not_in_channel")
                .unwrap()
                .contains("chat:write.public")
        );
        assert!(hint("missing_scope").unwrap().contains("chat:write"));
        assert_eq!(hint("msg_too_long"), None);
    }
}
