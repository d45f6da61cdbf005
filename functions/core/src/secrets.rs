//! Secret settings read from a secret store at cold start.
//!
//! Every setting that holds a credential (the relay's `RELAY_TOKEN`, and whatever each
//! destination declares: `SLACK_WEBHOOK_URL`, `SLACK_BOT_TOKEN`, `TEAMS_WEBHOOK_URL`) can be
//! given instead as a reference to a secret store, in a setting of the same name ending in
//! `_SECRET_ARN`:
//!
//! - a Secrets Manager secret ARN, `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf`
//!   (the partial ARN without the six-character suffix works too): its `SecretString`, the
//!   current version, stored as plain text (not as key/value JSON);
//! - an SSM Parameter Store parameter ARN, `arn:aws:ssm:REGION:ACCOUNT:parameter/PATH/NAME`:
//!   a `SecureString` parameter, read with decryption. A plain `String` parameter is refused:
//!   a credential belongs encrypted at rest.
//!
//! Each reference is fetched once, in the region its ARN names, and held in memory only; the
//! functions then read their configuration from the [`ResolvedEnv`] as if the value had been
//! in the environment. Setting both `NAME` and `NAME_SECRET_ARN` is refused rather than one
//! silently winning: a stale plain value next to a rotated secret is exactly the confusion the
//! store is meant to end. An empty value counts as unset, so templates may pass `""` for the
//! form they do not use.
//!
//! Message templates (`SLACK_TEMPLATE`, `TEAMS_TEMPLATE`, `SNS_SUBJECT_TEMPLATE`,
//! `SNS_EMAIL_TEMPLATE`) outgrow the 4 KB Lambda gives all environment variables together, so
//! each may be read instead from the SSM parameter named in the same setting ending in
//! `_PARAMETER`: a parameter name (`/flagger-relay/slack-template`, read in the function's own
//! region) or its ARN. A template is not a secret: a `String` parameter is fine, a
//! `SecureString` is decrypted. The same rules apply: read once, both forms set is refused.
//!
//! The AWS SDK configuration is loaded only when at least one reference is set: a function
//! configured with plain values makes no AWS call at all. Errors name the setting, the AWS
//! operation and AWS's error code, and never a secret value.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::ParameterType;

use crate::config::Env;

/// A setting that holds a credential, and the setting that may refer to it in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSetting {
    pub name: &'static str,
    pub reference: &'static str,
}

/// The relay's own secret setting; each destination declares its own beside it (the Slack
/// function its webhook URL and bot token, the Teams function its webhook URL).
pub const RELAY_SECRETS: &[SecretSetting] = &[SecretSetting {
    name: "RELAY_TOKEN",
    reference: "RELAY_TOKEN_SECRET_ARN",
}];

/// A setting that may be read from an SSM parameter, and the setting that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterSetting {
    pub name: &'static str,
    pub reference: &'static str,
}

/// SSM's limit for a parameter name.
const PARAMETER_NAME_LIMIT: usize = 2048;

/// A cold start happens while Flagger waits for its answer (10 s by default), so reading the
/// secrets and parameters may take only a bounded part of that, every reference and retry
/// included: [`STORE_BUDGET`]. A store that does not answer in it ends the cold start with our
/// error message, and the invocation that follows still has the rest of Flagger's patience.
pub const STORE_BUDGET: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
const OPERATION_TIMEOUT: Duration = STORE_BUDGET;

/// Why a function cannot read its secrets. Messages name the reference setting; they never
/// contain a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{name} and {reference} are both set: set only one of them")]
    Ambiguous {
        name: &'static str,
        reference: &'static str,
    },
    #[error("{reference} is not a usable ARN: {problem}")]
    InvalidReference {
        reference: &'static str,
        problem: String,
    },
    #[error("{reference}: {operation} failed: {}", describe(.code.as_deref(), .detail))]
    Fetch {
        reference: &'static str,
        operation: &'static str,
        /// AWS's error code (`ResourceNotFoundException`, `AccessDeniedException`,
        /// `ParameterNotFound`); `None` when the store was not reached or did not answer.
        code: Option<String>,
        detail: String,
    },
    #[error("{reference}: {problem}")]
    Unusable {
        reference: &'static str,
        problem: &'static str,
    },
}

impl SecretError {
    /// The setting the error is about (`RELAY_TOKEN_SECRET_ARN`, or `RELAY_TOKEN` when both
    /// forms are set).
    pub fn setting(&self) -> &'static str {
        match self {
            SecretError::Ambiguous { name, .. } => name,
            SecretError::InvalidReference { reference, .. }
            | SecretError::Fetch { reference, .. }
            | SecretError::Unusable { reference, .. } => reference,
        }
    }

    /// AWS's error code, when the store answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SecretError::Fetch { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

fn describe(code: Option<&str>, detail: &str) -> String {
    match (code, detail.is_empty()) {
        (Some(code), true) => code.to_owned(),
        (Some(code), false) => format!("{code}: {detail}"),
        (None, _) => detail.to_owned(),
    }
}

/// Which store an ARN points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStore {
    SecretsManager,
    ParameterStore,
}

impl SecretStore {
    /// The API call that reads a value from this store.
    pub fn operation(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "GetSecretValue",
            SecretStore::ParameterStore => "GetParameter",
        }
    }
}

/// A parsed `*_SECRET_ARN` value. Not secret itself, but shown only in part (the store and
/// region) so that error messages stay short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    pub store: SecretStore,
    pub region: String,
    pub arn: String,
}

impl SecretReference {
    /// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME` or
    /// `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`.
    pub fn parse(reference: &'static str, raw: &str) -> Result<Self, SecretError> {
        let invalid = |problem: &str| SecretError::InvalidReference {
            reference,
            problem: problem.to_owned(),
        };
        let arn = raw.trim();
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(invalid(
                "expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME or arn:aws:ssm:REGION:ACCOUNT:parameter/NAME",
            ));
        };
        if prefix != "arn" || partition.is_empty() {
            return Err(invalid("it does not start with arn:PARTITION:"));
        }
        if region.is_empty() {
            return Err(invalid("it names no region"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("it names no 12-digit account"));
        }
        let store = match service {
            "secretsmanager" => SecretStore::SecretsManager,
            "ssm" => SecretStore::ParameterStore,
            // Not echoed: a value pasted into the wrong setting may be the secret itself.
            _ => {
                return Err(invalid(
                    "its service is not a secret store; use secretsmanager or ssm",
                ));
            }
        };
        let named = match store {
            SecretStore::SecretsManager => resource.strip_prefix("secret:"),
            SecretStore::ParameterStore => resource.strip_prefix("parameter/"),
        };
        match (store, named) {
            (_, Some(name)) if !name.is_empty() => {}
            (SecretStore::SecretsManager, _) => {
                return Err(invalid("a Secrets Manager ARN ends in secret:NAME"));
            }
            (SecretStore::ParameterStore, _) => {
                return Err(invalid("a Parameter Store ARN ends in parameter/NAME"));
            }
        }
        Ok(SecretReference {
            store,
            region: region.to_owned(),
            arn: arn.to_owned(),
        })
    }
}

/// A `…_PARAMETER` value: a parameter's name, read in the function's region, or its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterReference {
    /// What `GetParameter` is given: the name or the ARN, as set.
    pub id: String,
    /// The ARN's region; `None` for a name.
    pub region: Option<String>,
}

impl ParameterReference {
    pub fn parse(reference: &'static str, raw: &str) -> Result<Self, SecretError> {
        let raw = raw.trim();
        if raw.starts_with("arn:") {
            let arn = SecretReference::parse(reference, raw)?;
            if arn.store != SecretStore::ParameterStore {
                return Err(SecretError::InvalidReference {
                    reference,
                    problem: "expected an SSM parameter name or arn:aws:ssm:REGION:ACCOUNT:parameter/NAME".into(),
                });
            }
            return Ok(ParameterReference {
                id: arn.arn,
                region: Some(arn.region),
            });
        }
        let name_shaped = !raw.is_empty()
            && raw.len() <= PARAMETER_NAME_LIMIT
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'));
        if !name_shaped {
            return Err(SecretError::InvalidReference {
                reference,
                problem: "an SSM parameter name holds only letters, digits and _.-/".into(),
            });
        }
        Ok(ParameterReference {
            id: raw.to_owned(),
            region: None,
        })
    }
}

/// The environment with each referenced secret in place of its reference: what the functions'
/// `relay_from_env` read. Its `Debug` shows which settings came from a store, never a value.
pub struct ResolvedEnv<'e, E> {
    base: &'e E,
    settings: Vec<SecretSetting>,
    parameters: Vec<ParameterSetting>,
    fetched: HashMap<&'static str, String>,
}

impl<E: Env> Env for ResolvedEnv<'_, E> {
    fn var(&self, name: &str) -> Option<String> {
        match self.fetched.get(name) {
            Some(value) => Some(value.clone()),
            None => self.base.var(name),
        }
    }
}

impl<E> ResolvedEnv<'_, E> {
    /// The settings whose values came from a store, in the order they were declared: secrets,
    /// then parameters.
    pub fn from_store(&self) -> Vec<&'static str> {
        self.settings
            .iter()
            .map(|s| s.name)
            .chain(self.parameters.iter().map(|s| s.name))
            .filter(|name| self.fetched.contains_key(name))
            .collect()
    }
}

impl<E> fmt::Debug for ResolvedEnv<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedEnv")
            .field("from_store", &self.from_store())
            .finish_non_exhaustive()
    }
}

/// Reads every referenced secret of `destination`'s settings and the relay's own, and every
/// parameter that names one of `parameters` (the destination's templates), with the SDK's
/// default configuration (the Lambda role's credentials; `AWS_ENDPOINT_URL` redirects it
/// to a local store). Call once, in `main`.
pub async fn resolve<'e, E: Env>(
    env: &'e E,
    destination: &[SecretSetting],
    parameters: &[ParameterSetting],
) -> Result<ResolvedEnv<'e, E>, SecretError> {
    resolve_with(env, destination, parameters, || {
        crate::aws::sdk_config(None)
    })
    .await
}

/// The settings whose reference (`…_SECRET_ARN`, `…_PARAMETER`) is set, each with that
/// reference read by `parse`. A setting given both directly and by reference is refused: which
/// one wins would be a guess.
fn referenced<S: Copy, R>(
    env: &impl Env,
    settings: &[S],
    names: impl Fn(&S) -> (&'static str, &'static str),
    parse: impl Fn(&'static str, &str) -> Result<R, SecretError>,
) -> Result<Vec<(S, R)>, SecretError> {
    let mut references = Vec::new();
    for setting in settings {
        let (name, reference) = names(setting);
        let Some(raw) = env.var(reference) else {
            continue;
        };
        if env.var(name).is_some() {
            return Err(SecretError::Ambiguous { name, reference });
        }
        references.push((*setting, parse(reference, &raw)?));
    }
    Ok(references)
}

/// [`resolve`] with the SDK configuration supplied by the caller; `sdk_config` is called only
/// when at least one reference is set.
pub async fn resolve_with<'e, E, F, Fut>(
    env: &'e E,
    destination: &[SecretSetting],
    parameters: &[ParameterSetting],
    sdk_config: F,
) -> Result<ResolvedEnv<'e, E>, SecretError>
where
    E: Env,
    F: FnOnce() -> Fut,
    Fut: Future<Output = SdkConfig>,
{
    // Every reference is checked before anything is fetched, so that a typo in the second one
    // is reported without waiting for the first.
    let settings: Vec<SecretSetting> = destination.iter().chain(RELAY_SECRETS).copied().collect();
    let references = referenced(
        env,
        &settings,
        |s| (s.name, s.reference),
        SecretReference::parse,
    )?;
    let parameter_settings = parameters.to_vec();
    let parameters = referenced(
        env,
        &parameter_settings,
        |s| (s.name, s.reference),
        ParameterReference::parse,
    )?;
    let mut fetched = HashMap::new();
    if references.is_empty() && parameters.is_empty() {
        return Ok(ResolvedEnv {
            base: env,
            settings,
            parameters: parameter_settings,
            fetched,
        });
    }
    let until = tokio::time::Instant::now() + STORE_BUDGET;
    let late = |reference: &'static str, store: SecretStore| SecretError::Fetch {
        reference,
        operation: store.operation(),
        code: None,
        detail: format!(
            "no answer within {} s, the time a cold start may spend on its settings",
            STORE_BUDGET.as_secs()
        ),
    };
    // The first read waits on the SDK's configuration: a timeout there is that read's.
    let (first, first_store) = references
        .first()
        .map(|(setting, reference)| (setting.reference, reference.store))
        .or_else(|| {
            parameters
                .first()
                .map(|(setting, _)| (setting.reference, SecretStore::ParameterStore))
        })
        .unwrap_or((RELAY_SECRETS[0].reference, SecretStore::SecretsManager));
    let sdk = tokio::time::timeout_at(until, sdk_config())
        .await
        .map_err(|_| late(first, first_store))?;
    for (setting, parameter) in parameters {
        let value =
            tokio::time::timeout_at(until, fetch_parameter(&sdk, setting.reference, &parameter))
                .await
                .map_err(|_| late(setting.reference, SecretStore::ParameterStore))??;
        if value.trim().is_empty() {
            return Err(SecretError::Unusable {
                reference: setting.reference,
                problem: "the stored value is empty",
            });
        }
        tracing::debug!(setting = setting.name, "setting read from Parameter Store");
        fetched.insert(setting.name, value);
    }
    for (setting, reference) in references {
        let value = tokio::time::timeout_at(until, fetch(&sdk, setting.reference, &reference))
            .await
            .map_err(|_| late(setting.reference, reference.store))??;
        // A trailing newline is what `aws secretsmanager create-secret --secret-string file://…`
        // leaves; no webhook URL or token ends in whitespace.
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Unusable {
                reference: setting.reference,
                problem: "the stored value is empty",
            });
        }
        tracing::debug!(setting = setting.name, store = ?reference.store, "secret read from the store");
        fetched.insert(setting.name, value.to_owned());
    }
    Ok(ResolvedEnv {
        base: env,
        settings,
        parameters: parameter_settings,
        fetched,
    })
}

fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

async fn fetch(
    sdk: &SdkConfig,
    reference: &'static str,
    arn: &SecretReference,
) -> Result<String, SecretError> {
    // A secret is read in its own region: a client for the function's region would not find a
    // secret kept in another one.
    let region = Region::new(arn.region.clone());
    match arn.store {
        SecretStore::SecretsManager => {
            let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
                .region(region)
                .timeout_config(timeouts())
                .build();
            let output = aws_sdk_secretsmanager::Client::from_conf(config)
                .get_secret_value()
                .secret_id(&arn.arn)
                .send()
                .await
                .map_err(|err| fetch_error(reference, "GetSecretValue", &err))?;
            let Some(value) = output.secret_string else {
                return Err(SecretError::Unusable {
                    reference,
                    problem: "the secret has no text value (SecretString); binary secrets are not supported",
                });
            };
            if value.trim_start().starts_with('{') {
                return Err(SecretError::Unusable {
                    reference,
                    problem: "the secret holds key/value JSON; store the value itself as plain text",
                });
            }
            Ok(value)
        }
        SecretStore::ParameterStore => {
            let config = aws_sdk_ssm::config::Builder::from(sdk)
                .region(region)
                .timeout_config(timeouts())
                .build();
            let output = aws_sdk_ssm::Client::from_conf(config)
                .get_parameter()
                .name(&arn.arn)
                .with_decryption(true)
                .send()
                .await
                .map_err(|err| fetch_error(reference, "GetParameter", &err))?;
            let parameter = output.parameter.ok_or(SecretError::Unusable {
                reference,
                problem: "Parameter Store answered without the parameter",
            })?;
            if parameter.r#type != Some(ParameterType::SecureString) {
                return Err(SecretError::Unusable {
                    reference,
                    problem: "the parameter is not a SecureString; store credentials encrypted",
                });
            }
            parameter.value.ok_or(SecretError::Unusable {
                reference,
                problem: "the parameter has no value",
            })
        }
    }
}

/// A template from Parameter Store: a `String` or a `SecureString` (decrypted), in the ARN's
/// region or, for a name, the function's own.
async fn fetch_parameter(
    sdk: &SdkConfig,
    reference: &'static str,
    parameter: &ParameterReference,
) -> Result<String, SecretError> {
    let mut config = aws_sdk_ssm::config::Builder::from(sdk).timeout_config(timeouts());
    if let Some(region) = &parameter.region {
        config = config.region(Region::new(region.clone()));
    }
    let output = aws_sdk_ssm::Client::from_conf(config.build())
        .get_parameter()
        .name(&parameter.id)
        .with_decryption(true)
        .send()
        .await
        .map_err(|err| fetch_error(reference, "GetParameter", &err))?;
    let parameter = output.parameter.ok_or(SecretError::Unusable {
        reference,
        problem: "Parameter Store answered without the parameter",
    })?;
    if parameter.r#type == Some(ParameterType::StringList) {
        return Err(SecretError::Unusable {
            reference,
            problem: "the parameter is a StringList; store the template as a String",
        });
    }
    parameter.value.ok_or(SecretError::Unusable {
        reference,
        problem: "the parameter has no value",
    })
}

/// AWS's code and message for a refusal; for a store that could not be reached, the SDK's
/// cause chain (plain `Display` says only "dispatch failure").
///
/// Never the SDK's whole error for an error that carries a response: its `Debug` and
/// `DisplayErrorContext` print the raw response body, and a body the SDK could not read might
/// be the secret itself.
fn fetch_error<E>(
    reference: &'static str,
    operation: &'static str,
    err: &SdkError<E, HttpResponse>,
) -> SecretError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, detail) = match err {
        SdkError::ServiceError(_) if err.code().is_some() => (
            err.code().map(str::to_owned),
            err.message()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        SdkError::ServiceError(context) => unreadable(context.raw()),
        SdkError::ResponseError(context) => unreadable(context.raw()),
        SdkError::TimeoutError(_) => (None, "no answer from the store in time".to_owned()),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            (None, DisplayErrorContext(err).to_string())
        }
        _ => (None, "unexpected SDK error".to_owned()),
    };
    SecretError::Fetch {
        reference,
        operation,
        code,
        detail,
    }
}

/// An answer in a form the SDK does not expect (an XML error from a JSON service, an HTML page
/// from a proxy): its status and, for an error, the code if the body names one. The body of a
/// success is never looked at: it would hold the secret.
fn unreadable(raw: &HttpResponse) -> (Option<String>, String) {
    let status = raw.status();
    if status.is_success() {
        (
            None,
            format!(
                "the store's answer could not be read (HTTP {})",
                status.as_u16()
            ),
        )
    } else {
        (
            xml_error_code(raw.body().bytes()),
            format!("HTTP {}", status.as_u16()),
        )
    }
}

/// `<Code>AccessDenied</Code>` from an AWS XML error body; only a code-shaped word is taken.
fn xml_error_code(body: Option<&[u8]>) -> Option<String> {
    let body = std::str::from_utf8(body?).ok()?;
    let start = body.find("<Code>")? + "<Code>".len();
    let code = &body[start..start + body[start..].find("</Code>")?];
    let code_shaped = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    code_shaped.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination's declaration, as the Slack function makes it.
    const SLACK: &[SecretSetting] = &[SecretSetting {
        name: "SLACK_WEBHOOK_URL",
        reference: "SLACK_WEBHOOK_URL_SECRET_ARN",
    }];
    /// A destination's template declaration, as the Teams function makes it.
    const TEAMS_TEMPLATE: &[ParameterSetting] = &[ParameterSetting {
        name: "TEAMS_TEMPLATE",
        reference: "TEAMS_TEMPLATE_PARAMETER",
    }];
    use std::cell::Cell;

    const SECRET_ARN: &str =
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:flagger-relay/slack-AbCdEf";
    const PARAMETER_ARN: &str =
        "arn:aws:ssm:eu-west-1:123456789012:parameter/flagger-relay/relay-token";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// An SDK configuration that must never be asked for.
    async fn no_sdk() -> SdkConfig {
        panic!("the SDK configuration was loaded although no secret reference is set")
    }

    #[test]
    fn parses_secrets_manager_and_parameter_store_arns() {
        let secret = SecretReference::parse("R", SECRET_ARN).unwrap();
        assert_eq!(
            (secret.store, secret.region.as_str(), secret.arn.as_str()),
            (SecretStore::SecretsManager, "eu-west-1", SECRET_ARN)
        );
        let partial = SecretReference::parse(
            "R",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:relay",
        )
        .unwrap();
        assert_eq!(partial.store, SecretStore::SecretsManager);
        let parameter = SecretReference::parse("R", &format!(" {PARAMETER_ARN}\n")).unwrap();
        assert_eq!(
            (parameter.store, parameter.arn.as_str()),
            (SecretStore::ParameterStore, PARAMETER_ARN)
        );
        let china =
            SecretReference::parse("R", "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/x")
                .unwrap();
        assert_eq!(china.region, "cn-north-1");
    }

    #[test]
    fn refuses_what_is_not_a_secret_or_parameter_arn() {
        for (raw, problem) in [
            ("flagger-relay/slack", "expected arn:aws:secretsmanager"),
            (
                "https://hooks.slack.com/services/T/B/x",
                "expected arn:aws:secretsmanager",
            ),
            ("arn:aws:s3:::bucket/key:x", "names no region"),
            (
                "arn:aws:s3:eu-west-1:123456789012:bucket/key",
                "service is not a secret store",
            ),
            (
                "arn:aws:kms:eu-west-1:123456789012:key/1234",
                "service is not a secret store",
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:parameter/x",
                "ends in secret:NAME",
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:",
                "ends in secret:NAME",
            ),
            (
                "arn:aws:ssm:eu-west-1:123456789012:document/x",
                "ends in parameter/NAME",
            ),
            ("arn:aws:ssm:eu-west-1:1234:parameter/x", "12-digit account"),
            (
                "urn:aws:ssm:eu-west-1:123456789012:parameter/x",
                "does not start with arn:",
            ),
        ] {
            let err = SecretReference::parse("RELAY_TOKEN_SECRET_ARN", raw).unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.starts_with("RELAY_TOKEN_SECRET_ARN is not a usable ARN: "),
                "{raw}: {shown}"
            );
            assert!(shown.contains(problem), "{raw}: {shown}");
        }
    }

    #[tokio::test]
    async fn without_references_passes_the_environment_through_and_calls_no_aws() {
        let base = env(&[
            ("RELAY_TOKEN", "plain-token"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
        ]);
        let resolved = resolve_with(&base, SLACK, &[], no_sdk).await.unwrap();
        assert_eq!(resolved.var("RELAY_TOKEN").as_deref(), Some("plain-token"));
        assert_eq!(
            resolved.var("SLACK_WEBHOOK_URL").as_deref(),
            Some("https://hooks.slack.com/services/T/B/x")
        );
        assert_eq!(resolved.var("UNSET"), None);
        assert!(resolved.from_store().is_empty());
    }

    #[tokio::test]
    async fn an_empty_reference_counts_as_unset() {
        let base = env(&[
            ("RELAY_TOKEN", "plain-token"),
            ("RELAY_TOKEN_SECRET_ARN", "  "),
        ]);
        let resolved = resolve_with(&base, SLACK, &[], no_sdk).await.unwrap();
        assert_eq!(resolved.var("RELAY_TOKEN").as_deref(), Some("plain-token"));
    }

    #[tokio::test]
    async fn refuses_a_setting_given_both_ways() {
        let base = env(&[
            ("RELAY_TOKEN", "plain-token"),
            ("RELAY_TOKEN_SECRET_ARN", PARAMETER_ARN),
        ]);
        let err = resolve_with(&base, SLACK, &[], no_sdk).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "RELAY_TOKEN and RELAY_TOKEN_SECRET_ARN are both set: set only one of them"
        );
        assert!(!err.to_string().contains("plain-token"));
        assert_eq!(err.setting(), "RELAY_TOKEN");
    }

    #[tokio::test]
    async fn checks_every_reference_before_loading_the_sdk() {
        let loaded = Cell::new(false);
        let base = env(&[
            ("SLACK_WEBHOOK_URL_SECRET_ARN", SECRET_ARN),
            ("RELAY_TOKEN_SECRET_ARN", "relay-token"),
        ]);
        let err = resolve_with(&base, SLACK, &[], || {
            loaded.set(true);
            no_sdk()
        })
        .await
        .unwrap_err();
        assert_eq!(err.setting(), "RELAY_TOKEN_SECRET_ARN");
        assert!(!loaded.get());
    }

    #[test]
    fn a_template_parameter_is_a_name_or_an_ssm_arn() {
        assert_eq!(
            ParameterReference::parse(
                "SLACK_TEMPLATE_PARAMETER",
                " /flagger-relay/slack-template\n"
            ),
            Ok(ParameterReference {
                id: "/flagger-relay/slack-template".into(),
                region: None
            })
        );
        assert_eq!(
            ParameterReference::parse("SLACK_TEMPLATE_PARAMETER", PARAMETER_ARN),
            Ok(ParameterReference {
                id: PARAMETER_ARN.into(),
                region: Some("eu-west-1".into())
            })
        );
        for raw in [
            SECRET_ARN,
            "arn:aws:ssm:eu-west-1:1:parameter/x",
            "{{ title }}",
            "a b",
        ] {
            let err = ParameterReference::parse("SLACK_TEMPLATE_PARAMETER", raw).unwrap_err();
            assert_eq!(err.setting(), "SLACK_TEMPLATE_PARAMETER", "{raw}");
        }
    }

    #[tokio::test]
    async fn refuses_a_template_given_both_ways_before_loading_the_sdk() {
        let base = env(&[("TEAMS_TEMPLATE", "{}"), ("TEAMS_TEMPLATE_PARAMETER", "/t")]);
        let err = resolve_with(&base, &[], TEAMS_TEMPLATE, no_sdk)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "TEAMS_TEMPLATE and TEAMS_TEMPLATE_PARAMETER are both set: set only one of them"
        );
        let base = env(&[("TEAMS_TEMPLATE_PARAMETER", "not a name")]);
        let err = resolve_with(&base, &[], TEAMS_TEMPLATE, no_sdk)
            .await
            .unwrap_err();
        assert_eq!(err.setting(), "TEAMS_TEMPLATE_PARAMETER");
    }

    #[test]
    fn shows_no_value_in_debug_output() {
        let base = env(&[]);
        let resolved = ResolvedEnv {
            base: &base,
            settings: RELAY_SECRETS.to_vec(),
            parameters: Vec::new(),
            fetched: [("RELAY_TOKEN", "hunter2-sekrit".to_owned())].into(),
        };
        let shown = format!("{resolved:?}");
        assert_eq!(shown, r#"ResolvedEnv { from_store: ["RELAY_TOKEN"], .. }"#);
        assert_eq!(
            resolved.var("RELAY_TOKEN").as_deref(),
            Some("hunter2-sekrit")
        );
    }

    #[test]
    fn takes_only_a_code_shaped_word_from_an_xml_error() {
        let xml = |body: &str| xml_error_code(Some(body.as_bytes()));
        assert_eq!(
            xml("<Error><Code>AccessDenied</Code><Message>no</Message></Error>").as_deref(),
            Some("AccessDenied")
        );
        assert_eq!(xml("<Code>Some thing</Code>"), None);
        assert_eq!(xml("<Code></Code>"), None);
        assert_eq!(xml("<html>Forbidden</html>"), None);
        assert_eq!(xml_error_code(Some(b"\xff<Code>X</Code>")), None);
        assert_eq!(xml_error_code(None), None);
    }

    #[test]
    fn fetch_errors_name_the_reference_operation_and_code() {
        let err = SecretError::Fetch {
            reference: "RELAY_TOKEN_SECRET_ARN",
            operation: "GetSecretValue",
            code: Some("ResourceNotFoundException".into()),
            detail: "Secrets Manager can't find the specified secret.".into(),
        };
        assert_eq!(
            err.to_string(),
            "RELAY_TOKEN_SECRET_ARN: GetSecretValue failed: ResourceNotFoundException: Secrets Manager can't find the specified secret."
        );
        assert_eq!(err.code(), Some("ResourceNotFoundException"));
    }
}
