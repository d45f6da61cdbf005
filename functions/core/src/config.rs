//! Configuration, read once at cold start into typed values. A function that cannot start
//! with its configuration says why in one log line and exits, instead of failing every request.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::deliver::{RetryPolicy, TlsRoots};
use crate::filter::{Filter, FilterError};
use crate::present::Links;

/// Where settings come from: the process environment in Lambda, a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name)
            .cloned()
            .filter(|value| !value.trim().is_empty())
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|value| (*value).to_owned())
            .filter(|value| !value.trim().is_empty())
    }
}

/// Why a function cannot start. Messages name the setting, never its value: most of them
/// hold credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (or set DRY_RUN=1 to render without sending)")]
    Missing(&'static str),
    #[error("{0} is not a valid URL")]
    InvalidUrl(&'static str),
    #[error(
        "{0} must be an https URL (plain http is allowed only for 127.0.0.1, localhost and [::1])"
    )]
    InsecureUrl(&'static str),
    #[error("{name} has an unsupported value; expected one of: {expected}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
    },
    /// A setting whose value does not follow its format (`LINKS`, `SLACK_MENTIONS`), or a
    /// template that does not compile; the problem names the part at fault.
    #[error("{name} is malformed: {problem}")]
    Malformed { name: &'static str, problem: String },
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
    #[error(
        "no RELAY_TOKEN (or RELAY_TOKEN_SECRET_ARN) is set, so anyone who finds the URL could post: set one, or ALLOW_UNAUTHENTICATED=true to serve without a token on purpose"
    )]
    Unauthenticated,
}

/// A destination URL that carries its own credential (Slack and Teams webhooks). Its `Debug`
/// and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Accepts `https`, and `http` only on loopback so that local tests need no certificates.
    pub fn parse(setting: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(raw.trim()).map_err(|_| ConfigError::InvalidUrl(setting))?;
        let loopback = matches!(
            url.host(),
            Some(url::Host::Domain("localhost"))
                | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        );
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(ConfigError::InsecureUrl(setting)),
        }
        if url.host().is_none() {
            return Err(ConfigError::InvalidUrl(setting));
        }
        Ok(SecretUrl(url.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The host alone, which is not a secret (`hooks.slack.com`).
    pub fn host(&self) -> Option<String> {
        url::Url::parse(&self.0).ok()?.host_str().map(str::to_owned)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUrl(<redacted>)")
    }
}

/// What every function reads, whatever its destination.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `DRY_RUN=1`: render and answer with the payload, send nothing.
    pub dry_run: bool,
    /// `RELAY_TOKEN`: the shared secret a caller must present. `None` only with
    /// `ALLOW_UNAUTHENTICATED=true`: without either, the function does not start.
    pub token: Option<RelayToken>,
    pub filter: Filter,
    pub retry: RetryPolicy,
    /// Time given to a delivery when the request carries no Lambda deadline (local runs).
    pub default_budget: Duration,
    /// `FLAGGER_TIMEOUT`: how long the caller waits for the answer (Flagger's webhook
    /// `timeout`, 10 s by default), counted from when the Function URL received the request,
    /// so that a cold start's time is counted too.
    pub caller_timeout: Duration,
    /// Kept back from the Lambda deadline for parking a failed event and answering, so the
    /// function always answers before it is stopped.
    pub deadline_margin: Duration,
    /// `DEAD_LETTER_QUEUE_URL`: where undeliverable events are parked.
    pub dead_letter_queue_url: Option<String>,
    /// `LINKS`: the links every message carries, filled from each event.
    pub links: Links,
    /// `DEDUP_TABLE`: the DynamoDB table that keeps Flagger's retries from posting twice.
    pub dedup_table: Option<String>,
}

impl RelaySettings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        // Fail closed: a token that is unset or blank (an empty secret, a template's "") must
        // never quietly open the URL.
        let token = env.var("RELAY_TOKEN").map(RelayToken::new);
        if token.is_none() && !flag(env, "ALLOW_UNAUTHENTICATED")? {
            return Err(ConfigError::Unauthenticated);
        }
        Ok(RelaySettings {
            dry_run: flag(env, "DRY_RUN")?,
            token,
            filter: Filter::from_env(env)?,
            retry: RetryPolicy::default(),
            default_budget: Duration::from_secs(8),
            caller_timeout: match env.var("FLAGGER_TIMEOUT") {
                Some(raw) => duration(&raw).ok_or(ConfigError::Invalid {
                    name: "FLAGGER_TIMEOUT",
                    expected: "a duration such as 10s, 2500ms or 10",
                })?,
                None => DEFAULT_CALLER_TIMEOUT,
            },
            deadline_margin: Duration::from_millis(1500),
            dead_letter_queue_url: env.var("DEAD_LETTER_QUEUE_URL"),
            links: match env.var("LINKS") {
                Some(raw) => Links::parse("LINKS", &raw)?,
                None => Links::default(),
            },
            dedup_table: env.var("DEDUP_TABLE").map(|table| table.trim().to_owned()),
        })
    }
}

/// Flagger's default webhook timeout.
pub const DEFAULT_CALLER_TIMEOUT: Duration = Duration::from_secs(10);

/// `10s`, `2500ms`, `1.5s` or plain seconds (`10`), as Flagger's own `timeout` is written;
/// positive.
fn duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (number, scale) = if let Some(ms) = raw.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = raw.strip_suffix('s') {
        (s, 1.0)
    } else {
        (raw, 1.0)
    };
    let seconds = number.trim().parse::<f64>().ok()? * scale;
    (seconds.is_finite() && seconds > 0.0 && seconds < 900.0)
        .then(|| Duration::from_secs_f64(seconds))
}

/// Reads a boolean setting: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; unset is false.
pub fn flag(env: &impl Env, name: &'static str) -> Result<bool, ConfigError> {
    match env
        .var(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(_) => Err(ConfigError::Invalid {
            name,
            expected: "1, true, 0, false",
        }),
    }
}

/// The shared secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayToken(String);

impl RelayToken {
    pub fn new(token: String) -> Self {
        RelayToken(token.trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RelayToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelayToken(<redacted>)")
    }
}

/// `TLS_ROOTS`: `webpki` (the default, Mozilla's roots compiled in) or `os` (the system's
/// store, for private certificate authorities and TLS-inspecting proxies).
pub fn tls_roots(env: &impl Env) -> Result<TlsRoots, ConfigError> {
    match env.var("TLS_ROOTS") {
        None => Ok(TlsRoots::default()),
        Some(value) => TlsRoots::parse(&value).ok_or(ConfigError::Invalid {
            name: "TLS_ROOTS",
            expected: "webpki, os",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusts_mozilla_roots_unless_told_to_use_the_system_store() {
        let env = |value: &'static str| HashMap::from([("TLS_ROOTS", value)]);
        assert_eq!(
            tls_roots(&HashMap::<&str, &str>::new()),
            Ok(TlsRoots::Mozilla)
        );
        assert_eq!(tls_roots(&env("webpki")), Ok(TlsRoots::Mozilla));
        assert_eq!(tls_roots(&env("os")), Ok(TlsRoots::Os));
        assert_eq!(tls_roots(&env(" OS ")), Ok(TlsRoots::Os));
        assert_eq!(
            tls_roots(&env("openssl")),
            Err(ConfigError::Invalid {
                name: "TLS_ROOTS",
                expected: "webpki, os",
            })
        );
        for roots in [TlsRoots::Mozilla, TlsRoots::Os] {
            assert!(crate::deliver::http_client(Duration::from_secs(1), roots).is_ok());
        }
    }

    #[test]
    fn accepts_https_and_loopback_http_only() {
        assert!(SecretUrl::parse("URL", "https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(SecretUrl::parse("URL", "http://127.0.0.1:8080/hook").is_ok());
        assert!(SecretUrl::parse("URL", "http://localhost:8080/hook").is_ok());
        assert!(SecretUrl::parse("URL", "http://[::1]:8080/hook").is_ok());
        assert_eq!(
            SecretUrl::parse("URL", "http://hooks.slack.com/services/T/B/x"),
            Err(ConfigError::InsecureUrl("URL"))
        );
        assert_eq!(
            SecretUrl::parse("URL", "not a url"),
            Err(ConfigError::InvalidUrl("URL"))
        );
        assert_eq!(
            SecretUrl::parse("URL", "ftp://x/y"),
            Err(ConfigError::InsecureUrl("URL"))
        );
    }

    #[test]
    fn never_shows_a_secret_in_debug_output() {
        let url = SecretUrl::parse("URL", "https://hooks.slack.com/services/T/B/sekrit").unwrap();
        let token = RelayToken::new("hunter2".into());
        let shown = format!("{url:?} {token:?}");
        assert!(
            !shown.contains("sekrit") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn error_messages_name_the_setting_not_its_value() {
        let err = SecretUrl::parse("SLACK_WEBHOOK_URL", "http://evil.example/sekrit").unwrap_err();
        assert!(err.to_string().contains("SLACK_WEBHOOK_URL"));
        assert!(!err.to_string().contains("sekrit"));
    }

    #[test]
    fn without_a_token_only_an_explicit_allow_lets_a_function_start() {
        let no_token: HashMap<&str, &str> = HashMap::new();
        let blank: HashMap<&str, &str> = [("RELAY_TOKEN", "  ")].into();
        let not_allowed: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "false")].into();
        for env in [no_token, blank, not_allowed] {
            let err = RelaySettings::from_env(&env).unwrap_err();
            assert_eq!(err, ConfigError::Unauthenticated);
            let said = err.to_string();
            assert!(
                said.contains("RELAY_TOKEN") && said.contains("ALLOW_UNAUTHENTICATED=true"),
                "{said}"
            );
        }
        let open: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "true")].into();
        assert_eq!(RelaySettings::from_env(&open).unwrap().token, None);
        let guarded: HashMap<&str, &str> = [("RELAY_TOKEN", "t0ken")].into();
        assert!(RelaySettings::from_env(&guarded).unwrap().token.is_some());
    }

    #[test]
    fn reads_flaggers_timeout_as_flagger_writes_it() {
        let timeout = |raw: &str| {
            let env: HashMap<&str, &str> =
                [("ALLOW_UNAUTHENTICATED", "true"), ("FLAGGER_TIMEOUT", raw)].into();
            RelaySettings::from_env(&env).map(|s| s.caller_timeout)
        };
        assert_eq!(timeout("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(timeout("2500ms"), Ok(Duration::from_millis(2500)));
        assert_eq!(timeout("7"), Ok(Duration::from_secs(7)));
        for bad in ["0", "-3s", "soon", "1h"] {
            assert!(timeout(bad).is_err(), "{bad}");
        }
        let env: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "true")].into();
        assert_eq!(
            RelaySettings::from_env(&env).unwrap().caller_timeout,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn reads_flags() {
        let env: HashMap<&str, &str> = [("DRY_RUN", "1"), ("OTHER", "maybe")].into();
        assert_eq!(flag(&env, "DRY_RUN"), Ok(true));
        assert_eq!(flag(&env, "UNSET"), Ok(false));
        assert!(flag(&env, "OTHER").is_err());
    }
}
