//! What a failed `Publish` means: worth retrying or not, and a reason Flagger may read.
//!
//! Reasons are built from SNS's error code and message only, never from the SDK's full error
//! chain (which the log gets): nothing of the request, its signature or the credentials can
//! reach the caller.

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_smithy_types::error::display::DisplayErrorContext;
use flagger_relay_core::deliver::{AttemptError, Verdict, is_aws_credential_error};
use flagger_relay_core::text::truncate;

/// Longest part of an SNS error message worth quoting back to Flagger.
const REASON_MESSAGE_LIMIT: usize = 300;

/// Sorts a failed `Publish` into a transient or permanent [`AttemptError`], and logs the
/// SDK's own account of it.
pub fn attempt_error(err: &SdkError<PublishError>) -> AttemptError {
    let classified = classify(err);
    let code = err.as_service_error().and_then(ProvideErrorMetadata::code);
    let kind = match &classified {
        AttemptError::Transient { .. } => "transient",
        AttemptError::Unanswered { .. } => "unanswered",
        AttemptError::Permanent { .. } => "permanent",
    };
    if code.is_some_and(is_aws_credential_error) {
        tracing::warn!(code, kind, "SNS Publish attempt failed");
    } else {
        tracing::warn!(code, kind, error = %DisplayErrorContext(err), "SNS Publish attempt failed");
    }
    classified
}

fn classify(err: &SdkError<PublishError>) -> AttemptError {
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            service_failure(service.err().code(), service.err().message(), status)
        }
        // Sent, perhaps published: only the answer is missing.
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => {
            AttemptError::unanswered("SNS did not answer in time")
        }
        SdkError::DispatchFailure(dispatch) if dispatch.is_io() => {
            AttemptError::transient("could not connect to SNS")
        }
        // `user` is a request the HTTP client refused to send (a malformed endpoint); `other`
        // includes credentials that could not be loaded, which may come back.
        SdkError::DispatchFailure(dispatch) if dispatch.is_user() => AttemptError::permanent(
            "could not send the request to SNS (check the endpoint configuration)",
        ),
        SdkError::DispatchFailure(_) => AttemptError::transient(
            "could not send the request to SNS (see the function log, e.g. for credentials)",
        ),
        SdkError::TimeoutError(_) => AttemptError::unanswered("SNS did not answer in time"),
        SdkError::ResponseError(_) => {
            AttemptError::unanswered("SNS sent a response that could not be read")
        }
        SdkError::ConstructionFailure(_) => {
            AttemptError::permanent("could not build the Publish request")
        }
        _ => AttemptError::transient("SNS Publish failed"),
    }
}

/// An error SNS answered with: its code decides, then its HTTP status.
pub fn service_failure(code: Option<&str>, message: Option<&str>, status: u16) -> AttemptError {
    let reason = reason(code, message, status);
    if Verdict::of_aws_error(code, status) == Verdict::Transient {
        AttemptError::transient(reason)
    } else {
        AttemptError::permanent(reason)
    }
}

/// `NotFound: Topic does not exist`; the code alone for credential errors; the status when SNS
/// sent no code.
fn reason(code: Option<&str>, message: Option<&str>, status: u16) -> String {
    let Some(code) = code.filter(|code| !code.is_empty()) else {
        return format!("HTTP {status}");
    };
    if is_aws_credential_error(code) {
        return format!("{code} (check the function's AWS credentials)");
    }
    let message = message.map(one_line).filter(|message| !message.is_empty());
    match message {
        Some(message) => format!("{code}: {}", truncate(&message, REASON_MESSAGE_LIMIT)),
        None => code.to_owned(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_transient(err: &AttemptError) -> bool {
        matches!(
            err,
            AttemptError::Transient { .. } | AttemptError::Unanswered { .. }
        )
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            (Some("Throttled"), 400),
            (Some("Throttling"), 400),
            (Some("ThrottlingException"), 400),
            (Some("KMSThrottling"), 400),
            (Some("InternalError"), 500),
            (Some("ServiceUnavailable"), 503),
            (Some("SomethingNew"), 502),
            (None, 503),
            (None, 429),
        ] {
            assert!(
                is_transient(&service_failure(code, Some("m"), status)),
                "{code:?} {status}"
            );
        }
    }

    #[test]
    fn refusals_are_permanent() {
        for code in [
            "InvalidParameter",
            "ParameterValueInvalid",
            "AuthorizationError",
            "NotFound",
            "KMSDisabled",
            "KMSAccessDenied",
            "KMSNotFound",
            "KMSInvalidState",
            "KMSOptInRequired",
            "EndpointDisabled",
            "InvalidSecurity",
            "ValidationException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
        ] {
            let status = if code == "AuthorizationError" {
                403
            } else {
                400
            };
            assert!(
                !is_transient(&service_failure(Some(code), Some("m"), status)),
                "{code}"
            );
        }
        assert!(!is_transient(&service_failure(None, None, 501)));
    }

    #[test]
    fn the_reason_is_the_code_and_the_first_part_of_the_message() {
        let err = service_failure(Some("NotFound"), Some("Topic does not exist"), 404);
        assert_eq!(
            err,
            AttemptError::permanent("NotFound: Topic does not exist")
        );
        let err = service_failure(
            Some("InvalidParameter"),
            Some("Invalid parameter:\n Subject\r\n"),
            400,
        );
        assert_eq!(
            err,
            AttemptError::permanent("InvalidParameter: Invalid parameter: Subject")
        );
        let long = "x".repeat(5000);
        let AttemptError::Permanent { reason } =
            service_failure(Some("InvalidParameter"), Some(&long), 400)
        else {
            panic!("permanent")
        };
        assert!(reason.chars().count() < 320, "{}", reason.len());
        assert_eq!(
            service_failure(None, Some("ignored"), 503),
            AttemptError::transient("HTTP 503")
        );
        assert_eq!(
            service_failure(Some("KMSDisabled"), None, 400),
            AttemptError::permanent("KMSDisabled")
        );
    }

    #[test]
    fn credential_errors_never_quote_their_message() {
        let message = "The request signature we calculated does not match. Canonical request: x-amz-security-token:SECRETTOKEN";
        let err = service_failure(Some("SignatureDoesNotMatch"), Some(message), 403);
        let AttemptError::Permanent { reason } = err else {
            panic!("permanent")
        };
        assert!(!reason.contains("SECRETTOKEN"), "{reason}");
        assert_eq!(
            reason,
            "SignatureDoesNotMatch (check the function's AWS credentials)"
        );
    }
}
