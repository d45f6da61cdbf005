//! Slack's side of the gate: verifying an interaction really comes from Slack, reading the
//! click out of it, and the Web API calls the gate makes (post and update its prompts, look up
//! user groups, answer a clicker privately).
//!
//! Verification follows Slack's "Verifying requests from Slack": `X-Slack-Signature` is `v0=`
//! and the hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}` keyed with the app's
//! signing secret. A request more than five minutes from now is refused, so that a captured
//! click cannot be replayed later.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use flagger_relay_core::config::SecretUrl;
use flagger_relay_core::deliver::{
    AttemptError, describe_transport_error, http_reason, post_json, retry_after,
};
use flagger_relay_slack::bot::web_api::{BotToken, Method, Posted, WebApi};

use crate::state::{Action, Gate};

/// Slack's replay window.
pub const MAX_AGE_SECS: i64 = 5 * 60;

/// The app's signing secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// `None` for a value that cannot be a signing secret (Slack's are 32 hex characters; a
    /// shorter or spaced value is a paste gone wrong).
    pub fn parse(raw: &str) -> Option<Self> {
        let secret = raw.trim();
        let plausible = secret.len() >= 16 && secret.bytes().all(|b| b.is_ascii_graphic());
        plausible.then(|| SigningSecret(secret.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `v0=<hex>` for `body` sent at `timestamp`: what Slack puts in `X-Slack-Signature`.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        format!("v0={}", hex(&self.mac(timestamp, body)))
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// Why a request was not accepted as Slack's. Shown to the caller: it names the problem, never
/// the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the request timestamp is more than 5 minutes from now; replays are refused")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";

/// Checks one request against the signing secret at `now` (epoch seconds).
pub fn verify(
    secret: &SigningSecret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed(TIMESTAMP_HEADER))?;
    if now.abs_diff(sent) > MAX_AGE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let presented = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(unhex)
        .ok_or(SignatureError::Malformed(SIGNATURE_HEADER))?;
    let expected = secret.mac(timestamp.trim(), body);
    if bool::from(presented.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What a prompt's button carries back: which rollout, revision and gate it was about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub rollout: String,
    pub revision: String,
    pub gate: Gate,
}

impl Target {
    /// The button's `value` (Slack allows 2,000 characters; Kubernetes names keep it far under).
    pub fn value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A click on one of the gate's buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    /// The Slack user ID of who clicked, as Slack signed it.
    pub user: String,
    pub user_name: Option<String>,
    pub action: Action,
    pub target: Target,
    /// Where to answer the clicker privately; valid for 30 minutes.
    pub response_url: Option<String>,
}

/// What an interaction request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Click(Click),
    /// Anything else Slack sends to the Request URL (a shortcut, a view, another app's button):
    /// acknowledged and otherwise ignored. The string says what it was, for the log.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the body has no `payload` field")]
    NoPayload,
    #[error("the `payload` field is not an interaction: {0}")]
    NotAnInteraction(String),
    #[error("the button's value is not one of the gate's: {0}")]
    UnknownButton(String),
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    actions: Vec<ActionPayload>,
    #[serde(default)]
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ActionPayload {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// The approve button's `action_id`.
pub const APPROVE: &str = "gate-approve";
/// The roll back button's `action_id`.
pub const ROLLBACK: &str = "gate-rollback";

/// Reads Slack's `application/x-www-form-urlencoded` body, field `payload`.
pub fn interaction(body: &[u8]) -> Result<Interaction, InteractionError> {
    let payload = url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or(InteractionError::NoPayload)?;
    let payload: Payload = serde_json::from_str(&payload).map_err(|err| {
        InteractionError::NotAnInteraction(
            flagger_relay_core::text::truncate(&err.to_string(), 120).into_owned(),
        )
    })?;
    if payload.kind != "block_actions" {
        return Ok(Interaction::Ignored(format!(
            "a {} interaction",
            payload.kind
        )));
    }
    let Some(pressed) = payload
        .actions
        .iter()
        .find(|a| a.action_id == APPROVE || a.action_id == ROLLBACK)
    else {
        return Ok(Interaction::Ignored(
            "a block action on another app's element".to_owned(),
        ));
    };
    let user = payload.user.ok_or_else(|| {
        InteractionError::NotAnInteraction("a block action without a user".to_owned())
    })?;
    let action = if pressed.action_id == APPROVE {
        Action::Approve
    } else {
        Action::Rollback
    };
    let value = pressed.value.as_deref().unwrap_or_default();
    let target: Target = serde_json::from_str(value).map_err(|_| {
        InteractionError::UnknownButton(flagger_relay_core::text::truncate(value, 120).into_owned())
    })?;
    Ok(Interaction::Click(Click {
        user: user.id,
        user_name: user.username.or(user.name),
        action,
        target,
        response_url: payload.response_url,
    }))
}

/// A note only the clicker sees, sent to the interaction's `response_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ephemeral {
    pub response_type: &'static str,
    pub replace_original: bool,
    pub text: String,
}

impl Ephemeral {
    pub fn new(text: String) -> Self {
        Ephemeral {
            response_type: "ephemeral",
            replace_original: false,
            text,
        }
    }
}

/// The Web API with the gate's bot token, and the cache of user-group members.
pub struct SlackApi {
    api: WebApi,
    client: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    /// Members of each user group named in `APPROVERS`, looked up once per cold start: a
    /// change of membership counts from the next cold start (a deploy, or at most a few hours).
    members: Mutex<HashMap<String, Arc<HashSet<String>>>>,
}

impl SlackApi {
    pub fn new(
        client: reqwest::Client,
        base: &str,
        token: &BotToken,
    ) -> Result<Self, flagger_relay_core::config::ConfigError> {
        let api = WebApi::new(client.clone(), base, token)?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| flagger_relay_core::config::ConfigError::Invalid {
                name: "SLACK_BOT_TOKEN",
                expected: "a Slack bot token (xoxb-…)",
            })?;
        authorization.set_sensitive(true);
        Ok(SlackApi {
            api,
            client,
            base: base.trim_end_matches('/').to_owned(),
            authorization,
            members: Mutex::new(HashMap::new()),
        })
    }

    pub async fn post<B: Serialize + ?Sized>(
        &self,
        body: &B,
        timeout: Duration,
    ) -> Result<Posted, AttemptError> {
        self.api.call(Method::PostMessage, body, timeout).await
    }

    pub async fn update<B: Serialize + ?Sized>(
        &self,
        body: &B,
        timeout: Duration,
    ) -> Result<Posted, AttemptError> {
        self.api.call(Method::Update, body, timeout).await
    }

    /// The members of user group `group` (`usergroups.users.list`, scope `usergroups:read`).
    pub async fn members(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<Arc<HashSet<String>>, AttemptError> {
        if let Some(members) = self.cached(group) {
            return Ok(members);
        }
        let method = "usergroups.users.list";
        let failed = |what: String| format!("{method} failed: {what}");
        let url =
            url::Url::parse_with_params(&format!("{}/{method}", self.base), [("usergroup", group)])
                .map_err(|err| AttemptError::permanent(failed(err.to_string())))?;
        let response = self
            .client
            .get(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(|err| AttemptError::transient(failed(describe_transport_error(err))))?;
        let status = response.status().as_u16();
        let retry = retry_after(response.headers(), SystemTime::now());
        let text = response
            .text()
            .await
            .map_err(|err| AttemptError::transient(failed(describe_transport_error(err))))?;
        if status != 200 {
            return Err(AttemptError::Transient {
                reason: failed(http_reason(status, &text)),
                retry_after: retry,
            });
        }
        #[derive(Deserialize)]
        struct Answer {
            ok: bool,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            users: Vec<String>,
        }
        let answer: Answer = serde_json::from_str(&text)
            .map_err(|_| AttemptError::permanent(failed("not a Web API answer".to_owned())))?;
        if !answer.ok {
            let error = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
            let hint = match error.as_str() {
                "missing_scope" => " (the app needs the usergroups:read scope)",
                "no_such_subteam" => " (check the user-group IDs in APPROVERS)",
                _ => "",
            };
            return Err(AttemptError::permanent(failed(format!("{error}{hint}"))));
        }
        let members = Arc::new(answer.users.into_iter().collect::<HashSet<_>>());
        if let Ok(mut cache) = self.members.lock() {
            cache.insert(group.to_owned(), Arc::clone(&members));
        }
        Ok(members)
    }

    fn cached(&self, group: &str) -> Option<Arc<HashSet<String>>> {
        self.members.lock().ok()?.get(group).cloned()
    }

    /// Answers the clicker privately through the interaction's `response_url`.
    pub async fn respond(
        &self,
        response_url: &str,
        note: &Ephemeral,
        timeout: Duration,
    ) -> Result<(), AttemptError> {
        // Only Slack's own hosts (or a loopback stand-in) get the note: the URL came in a
        // signed request, but a note is not worth trusting it further than that.
        let url = SecretUrl::parse("response_url", response_url)
            .map_err(|err| AttemptError::permanent(err.to_string()))?;
        let body =
            serde_json::to_vec(note).map_err(|err| AttemptError::permanent(err.to_string()))?;
        post_json(&self.client, url.expose(), body, timeout)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secret() -> SigningSecret {
        SigningSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn accepts_slacks_documented_example() {
        let now = 1_531_420_618 + 60;
        assert_eq!(secret().sign(TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        assert_eq!(
            verify(
                &secret(),
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn refuses_a_changed_body_a_wrong_secret_and_a_malformed_signature() {
        let now = 1_531_420_618;
        let changed = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verify(
                &secret(),
                Some(TIMESTAMP),
                Some(SIGNATURE),
                changed.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        let other = SigningSecret::parse("00000000000000000000000000000000").unwrap();
        assert_eq!(
            verify(
                &other,
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        for bad in ["a2114d57", "v0=zz", "v1=a2114d57b48eac39"] {
            assert_eq!(
                verify(&secret(), Some(TIMESTAMP), Some(bad), BODY.as_bytes(), now),
                Err(SignatureError::Malformed(SIGNATURE_HEADER)),
                "{bad}"
            );
        }
        assert_eq!(
            verify(&secret(), None, Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn refuses_requests_older_or_newer_than_five_minutes() {
        let sent = 1_531_420_618;
        for now in [sent + 301, sent - 301] {
            assert_eq!(
                verify(
                    &secret(),
                    Some(TIMESTAMP),
                    Some(SIGNATURE),
                    BODY.as_bytes(),
                    now
                ),
                Err(SignatureError::Stale)
            );
        }
        assert!(
            verify(
                &secret(),
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                sent + 300
            )
            .is_ok()
        );
    }

    #[test]
    fn never_shows_the_secret_in_debug_output() {
        assert_eq!(format!("{:?}", secret()), "SigningSecret(<redacted>)");
        assert!(SigningSecret::parse("short").is_none());
        assert!(SigningSecret::parse("has a space in the middle!!").is_none());
    }

    fn form(payload: &serde_json::Value) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn reads_a_click() {
        let target = Target {
            rollout: "test/podinfo".into(),
            revision: "bd5c8f7946".into(),
            gate: Gate::ConfirmPromotion,
        };
        let body = form(&serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0"},
            "response_url": "https://hooks.slack.com/actions/T0/1/x",
            "actions": [{"action_id": APPROVE, "block_id": "gate", "type": "button", "value": target.value()}]
        }));
        assert_eq!(
            interaction(&body),
            Ok(Interaction::Click(Click {
                user: "U0ALICE".into(),
                user_name: Some("alice".into()),
                action: Action::Approve,
                target,
                response_url: Some("https://hooks.slack.com/actions/T0/1/x".into()),
            }))
        );
    }

    #[test]
    fn ignores_what_is_not_a_gate_button_and_refuses_what_is_not_an_interaction() {
        let shortcut = form(&serde_json::json!({"type": "shortcut", "callback_id": "x"}));
        assert!(matches!(
            interaction(&shortcut),
            Ok(Interaction::Ignored(_))
        ));
        let other = form(
            &serde_json::json!({"type": "block_actions", "user": {"id": "U1"},
            "actions": [{"action_id": "somebody-else", "value": "1"}]}),
        );
        assert!(matches!(interaction(&other), Ok(Interaction::Ignored(_))));
        assert_eq!(interaction(b"text=hello"), Err(InteractionError::NoPayload));
        let forged = form(
            &serde_json::json!({"type": "block_actions", "user": {"id": "U1"},
            "actions": [{"action_id": APPROVE, "value": "{\"rollout\":1}"}]}),
        );
        assert!(matches!(
            interaction(&forged),
            Err(InteractionError::UnknownButton(_))
        ));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(unhex(&hex(&[0, 15, 255])), Some(vec![0, 15, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
