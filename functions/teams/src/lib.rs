//! The Teams function: Flagger events to a Microsoft Teams webhook, as an Adaptive Card for
//! Workflows (Power Automate) webhooks or a MessageCard for legacy Office 365 connectors.

pub mod render;
pub mod shaping;

use std::time::Duration;

use flagger_relay_core::config::{ConfigError, Env, RelaySettings, SecretUrl, tls_roots};
use flagger_relay_core::deliver::{
    AttemptError, Delivered, DeliveryFailure, RetryPolicy, Verdict, WebhookResponse, http_client,
    http_reason, post_json, with_retries,
};
use flagger_relay_core::present::Mention;
use flagger_relay_core::relay::RenderError;
use flagger_relay_core::secrets::{ParameterSetting, SecretSetting};
use flagger_relay_core::{Destination, Presentation, Relay, Severity};
use tokio::time::Instant;

pub use flagger_relay_core::present::Shaping;
pub use render::{CardFormat, TeamsMessage, TeamsPayload, is_connector_host};

/// The Teams function's credential, which may come from a secret store instead
/// (`TEAMS_WEBHOOK_URL_SECRET_ARN`).
pub const SECRETS: &[SecretSetting] = &[SecretSetting {
    name: "TEAMS_WEBHOOK_URL",
    reference: "TEAMS_WEBHOOK_URL_SECRET_ARN",
}];

/// The Teams function's template, which may come from an SSM parameter instead
/// (`TEAMS_TEMPLATE_PARAMETER`): templates outgrow the 4 KB Lambda gives the environment.
pub const PARAMETERS: &[ParameterSetting] = &[ParameterSetting {
    name: "TEAMS_TEMPLATE",
    reference: "TEAMS_TEMPLATE_PARAMETER",
}];

/// Delivers to a Teams webhook (`TEAMS_WEBHOOK_URL`).
pub struct TeamsWebhook {
    client: reqwest::Client,
    /// `None` only in dry-run mode, where nothing is sent.
    url: Option<SecretUrl>,
    format: CardFormat,
    acknowledgement: Acknowledgement,
    shaping: Shaping,
}

/// What a successful post looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledgement {
    /// Workflows answer 202 Accepted (sometimes 200); any 2xx means the message was taken.
    AnySuccess,
    /// A legacy connector answers 200 with the body `1` when it posted the message; a 2xx with
    /// anything else (an error text) means it did not.
    LegacyOne,
}

impl TeamsWebhook {
    /// A connector host, or the MessageCard format (which only connectors post), means the
    /// answer is a connector's.
    pub fn new(client: reqwest::Client, url: Option<SecretUrl>, format: CardFormat) -> Self {
        let connector = url
            .as_ref()
            .and_then(SecretUrl::host)
            .is_some_and(|host| is_connector_host(&host));
        let acknowledgement = if connector || format == CardFormat::MessageCard {
            Acknowledgement::LegacyOne
        } else {
            Acknowledgement::AnySuccess
        };
        TeamsWebhook {
            client,
            url,
            format,
            acknowledgement,
            shaping: Shaping::default(),
        }
    }

    /// Mentions and a template of the deployment's own.
    pub fn with_shaping(mut self, shaping: Shaping) -> Self {
        self.shaping = shaping;
        self
    }

    pub fn format(&self) -> CardFormat {
        self.format
    }

    pub fn acknowledgement(&self) -> Acknowledgement {
        self.acknowledgement
    }
}

impl TeamsWebhook {
    /// One POST of a rendered card.
    async fn post(&self, payload: &TeamsPayload, timeout: Duration) -> Result<(), AttemptError> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| AttemptError::permanent("TEAMS_WEBHOOK_URL is not set"))?;
        // Rendering leaves the JSON empty only when the card did not serialize.
        if payload.json().is_empty() {
            return Err(AttemptError::permanent(
                "the card could not be serialized as JSON",
            ));
        }
        let body = payload.json().to_vec();
        // 429 (Teams throttles above 4 requests per second per webhook) and 5xx come back as
        // transient with their Retry-After; 400, 404 and 413 as permanent.
        let response = post_json(&self.client, url.expose(), body, timeout).await?;
        check_acknowledgement(self.acknowledgement, &response)
    }
}

impl Destination for TeamsWebhook {
    const KIND: &'static str = "teams";
    type Payload = TeamsPayload;

    fn render(&self, message: &Presentation<'_>) -> Result<TeamsPayload, RenderError> {
        match &self.shaping.template {
            None => Ok(render::message(message, self.format)),
            Some(template) => render::templated(template, message),
        }
    }

    fn mentions(&self, severity: Severity) -> &[Mention] {
        self.shaping.mentions.of(severity)
    }

    async fn deliver(
        &self,
        message: &Presentation<'_>,
        retry: &RetryPolicy,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let payload = self.render(message)?;
        with_retries(retry, deadline, |timeout| self.post(&payload, timeout)).await
    }

    fn secrets(&self) -> Vec<String> {
        self.url.iter().map(|url| url.expose().to_owned()).collect()
    }
}

/// A connector that could not post still answers 200, with the reason as the body (for example
/// `Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413`);
/// when the reason is Teams failing or throttling behind the connector, trying again is right
/// ([`Verdict::of_teams_connector`]). A Workflow's status is its whole verdict.
pub fn check_acknowledgement(
    expected: Acknowledgement,
    response: &WebhookResponse,
) -> Result<(), AttemptError> {
    if expected == Acknowledgement::AnySuccess {
        return Ok(());
    }
    let Some(body) = response.body.as_deref() else {
        return Err(AttemptError::unanswered(format!(
            "HTTP {}, and the connection failed before the connector said whether it posted",
            response.status
        )));
    };
    match Verdict::of_teams_connector(body) {
        Verdict::Delivered => Ok(()),
        _ if body.trim().is_empty() => Err(AttemptError::permanent(format!(
            "HTTP {} with an empty body instead of `1`: the connector did not post the message",
            response.status
        ))),
        Verdict::Transient => Err(AttemptError::transient(http_reason(response.status, body))),
        Verdict::Permanent => Err(AttemptError::permanent(http_reason(response.status, body))),
    }
}

/// `TEAMS_CARD_FORMAT`: `auto` (default) picks by the webhook's host; without a webhook (dry
/// run) `auto` means Adaptive Card.
pub fn card_format(
    setting: Option<&str>,
    url: Option<&SecretUrl>,
) -> Result<CardFormat, ConfigError> {
    match setting
        .map(|value| value.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("auto") => Ok(url
            .and_then(SecretUrl::host)
            .map_or(CardFormat::Adaptive, |host| CardFormat::for_host(&host))),
        Some("adaptive") => Ok(CardFormat::Adaptive),
        Some("messagecard") => Ok(CardFormat::MessageCard),
        Some(_) => Err(ConfigError::Invalid {
            name: "TEAMS_CARD_FORMAT",
            expected: "auto, adaptive, messagecard",
        }),
    }
}

/// Reads the Teams function's whole configuration.
pub fn relay_from_env(env: &impl Env) -> Result<Relay<TeamsWebhook>, ConfigError> {
    let settings = RelaySettings::from_env(env)?;
    let url = match env.var("TEAMS_WEBHOOK_URL") {
        Some(raw) => Some(SecretUrl::parse("TEAMS_WEBHOOK_URL", &raw)?),
        None if settings.dry_run => None,
        None => return Err(ConfigError::Missing("TEAMS_WEBHOOK_URL")),
    };
    let format = card_format(env.var("TEAMS_CARD_FORMAT").as_deref(), url.as_ref())?;
    tracing::info!(card_format = format.as_str(), "Teams card format chosen");
    let client = http_client(Duration::from_secs(2), tls_roots(env)?)
        .map_err(|err| ConfigError::HttpClient(err.to_string()))?;
    let webhook = TeamsWebhook::new(client, url, format)
        .with_shaping(Shaping::from_env(env, &shaping::SETTINGS)?);
    Ok(Relay::new(settings, webhook))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The Teams function serving without a token (on purpose) with `env`.
    fn relay(env: &[(&str, &str)]) -> Result<Relay<TeamsWebhook>, ConfigError> {
        let mut env: HashMap<&str, &str> = env.iter().copied().collect();
        env.insert("ALLOW_UNAUTHENTICATED", "true");
        relay_from_env(&env)
    }

    const CONNECTOR: &str = "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d";
    const OLD_CONNECTOR: &str = "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d";
    const WORKFLOW: &str = "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x";

    #[test]
    fn requires_a_webhook_unless_dry_run() {
        assert_eq!(
            relay(&[]).err(),
            Some(ConfigError::Missing("TEAMS_WEBHOOK_URL"))
        );
        let dry = relay(&[("DRY_RUN", "1")]).unwrap();
        assert_eq!(dry.destination().format(), CardFormat::Adaptive);
    }

    #[test]
    fn refuses_a_plain_http_webhook_except_on_loopback() {
        let err = relay(&[("TEAMS_WEBHOOK_URL", "http://contoso.webhook.office.com/x")]).err();
        assert_eq!(err, Some(ConfigError::InsecureUrl("TEAMS_WEBHOOK_URL")));
        assert!(relay(&[("TEAMS_WEBHOOK_URL", "http://127.0.0.1:8080/hook")]).is_ok());
    }

    #[test]
    fn picks_the_card_format_by_host_at_start() {
        for (url, format, acknowledgement) in [
            (
                CONNECTOR,
                CardFormat::MessageCard,
                Acknowledgement::LegacyOne,
            ),
            (
                OLD_CONNECTOR,
                CardFormat::MessageCard,
                Acknowledgement::LegacyOne,
            ),
            (WORKFLOW, CardFormat::Adaptive, Acknowledgement::AnySuccess),
        ] {
            let teams = relay(&[("TEAMS_WEBHOOK_URL", url)]).unwrap();
            assert_eq!(teams.destination().format(), format, "{url}");
            assert_eq!(
                teams.destination().acknowledgement(),
                acknowledgement,
                "{url}"
            );
        }
    }

    #[test]
    fn follows_an_explicit_card_format() {
        let adaptive = relay(&[
            ("TEAMS_WEBHOOK_URL", CONNECTOR),
            ("TEAMS_CARD_FORMAT", "Adaptive"),
        ])
        .unwrap();
        assert_eq!(adaptive.destination().format(), CardFormat::Adaptive);
        // Still a connector, which says `1` whatever card it posted.
        assert_eq!(
            adaptive.destination().acknowledgement(),
            Acknowledgement::LegacyOne
        );
        let legacy = relay(&[
            ("TEAMS_WEBHOOK_URL", WORKFLOW),
            ("TEAMS_CARD_FORMAT", " messagecard "),
        ])
        .unwrap();
        assert_eq!(legacy.destination().format(), CardFormat::MessageCard);
        let auto = relay(&[
            ("TEAMS_WEBHOOK_URL", WORKFLOW),
            ("TEAMS_CARD_FORMAT", "auto"),
        ])
        .unwrap();
        assert_eq!(auto.destination().format(), CardFormat::Adaptive);
    }

    #[test]
    fn refuses_an_unknown_card_format() {
        let err = relay(&[
            ("TEAMS_WEBHOOK_URL", WORKFLOW),
            ("TEAMS_CARD_FORMAT", "html"),
        ])
        .err();
        assert_eq!(
            err,
            Some(ConfigError::Invalid {
                name: "TEAMS_CARD_FORMAT",
                expected: "auto, adaptive, messagecard"
            })
        );
    }

    #[test]
    fn a_connector_posts_only_when_it_answers_1() {
        let answer = |status, body: &str| WebhookResponse {
            status,
            body: Some(body.to_owned()),
        };
        assert_eq!(
            check_acknowledgement(Acknowledgement::LegacyOne, &answer(200, "1")),
            Ok(())
        );
        assert_eq!(
            check_acknowledgement(Acknowledgement::LegacyOne, &answer(200, "1\n")),
            Ok(())
        );
        let failed = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413";
        assert_eq!(
            check_acknowledgement(Acknowledgement::LegacyOne, &answer(200, failed)),
            Err(AttemptError::permanent(format!("HTTP 200: {failed}")))
        );
        assert!(matches!(
            check_acknowledgement(Acknowledgement::LegacyOne, &answer(200, "")),
            Err(AttemptError::Permanent { reason }) if reason.contains("empty body")
        ));
        let throttled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0";
        assert_eq!(
            check_acknowledgement(Acknowledgement::LegacyOne, &answer(200, throttled)),
            Err(AttemptError::transient(format!("HTTP 200: {throttled}")))
        );
        let cut = WebhookResponse {
            status: 200,
            body: None,
        };
        assert!(matches!(
            check_acknowledgement(Acknowledgement::LegacyOne, &cut),
            Err(AttemptError::Unanswered { .. })
        ));
        assert_eq!(
            check_acknowledgement(Acknowledgement::AnySuccess, &cut),
            Ok(())
        );
        assert_eq!(
            check_acknowledgement(Acknowledgement::AnySuccess, &answer(202, "")),
            Ok(())
        );
        assert_eq!(
            check_acknowledgement(Acknowledgement::AnySuccess, &answer(200, "")),
            Ok(())
        );
    }
}
