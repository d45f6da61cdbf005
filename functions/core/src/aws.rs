//! What every AWS client of the functions shares: its configuration, and how AWS API errors
//! read in reasons and logs.

use aws_sdk_sqs::error::ProvideErrorMetadata;

/// The AWS error code and message, or what kept the request from reaching AWS. Never
/// credentials: the SDK does not put them in errors.
pub fn sdk_reason<E, R>(err: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
            }
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        SdkError::DispatchFailure(_) => {
            format!(
                "could not reach the service: {}",
                aws_smithy_types::error::display::DisplayErrorContext(err)
            )
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

/// An AWS call given `timeout` to answer; what went wrong as it reads in reasons and logs.
pub async fn within<T, E, R>(
    timeout: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, aws_sdk_sqs::error::SdkError<E, R>>>,
) -> Result<T, String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(err)) => Err(sdk_reason(&err)),
        Err(_) => Err("no answer in time".to_owned()),
    }
}

/// The SDK configuration given (a local endpoint in tests), or else the environment's. Clients
/// call this when first used, so that a cold start makes no AWS call it does not need.
pub async fn sdk_config(given: Option<&aws_config::SdkConfig>) -> aws_config::SdkConfig {
    match given {
        Some(config) => config.clone(),
        None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    }
}
