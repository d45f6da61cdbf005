//! One vocabulary for every destination's answer: delivered, worth trying again, or refused.
//!
//! Each destination speaks its own dialect (an HTTP status from a webhook, an `ok:false` error
//! code from Slack's Web API, an error code from an AWS API); the decision of what each one
//! means for the event is made here and nowhere else, so that "is a 503 worth retrying?" has
//! one answer for Slack, Teams and SNS alike.

/// What a destination's answer means for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The destination took the message.
    Delivered,
    /// Not now: the same message later will likely go through.
    Transient,
    /// The destination refused the message as sent; sending it again would be refused again.
    Permanent,
}

impl Verdict {
    /// An HTTP status, from a webhook or any API that speaks in statuses. 429 and the
    /// server-side failures are transient, except 501 (the server will never implement what
    /// was asked); every other status is the destination refusing the request.
    pub fn of_http_status(status: u16) -> Verdict {
        match status {
            200..=299 => Verdict::Delivered,
            429 | 500 | 502..=599 => Verdict::Transient,
            _ => Verdict::Permanent,
        }
    }

    /// An `ok:false` error code of Slack's Web API (which answers HTTP 200 either way). Only
    /// Slack limiting or having trouble is worth trying again; every other code is Slack
    /// refusing the call as made (`not_in_channel`, `channel_not_found`, `invalid_auth`,
    /// `missing_scope`, `msg_too_long`, `message_not_found`, …).
    pub fn of_slack_error(code: &str) -> Verdict {
        match code {
            "ratelimited"
            | "rate_limited"
            | "service_unavailable"
            | "internal_error"
            | "fatal_error"
            | "request_timeout" => Verdict::Transient,
            _ => Verdict::Permanent,
        }
    }

    /// An error an AWS API answered with: its code decides, then its HTTP status. Throttling
    /// (the service's own and KMS's behind an encrypted topic or queue) and service-side
    /// failures are transient; a code AWS adds later falls back on the status.
    pub fn of_aws_error(code: Option<&str>, status: u16) -> Verdict {
        const TRANSIENT_CODES: &[&str] = &[
            "Throttled",
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "TooManyRequestsException",
            "RequestLimitExceeded",
            "ProvisionedThroughputExceededException",
            "KMSThrottling",
            "KMSThrottlingException",
            "InternalError",
            "InternalFailure",
            "InternalServerError",
            "ServiceUnavailable",
            "RequestTimeout",
            "RequestTimeoutException",
        ];
        if code.is_some_and(|code| TRANSIENT_CODES.contains(&code)) {
            return Verdict::Transient;
        }
        match Verdict::of_http_status(status) {
            Verdict::Delivered => Verdict::Permanent,
            verdict => verdict,
        }
    }
}

/// AWS error codes about the request's signature or credentials. Their messages can quote
/// parts of what was signed, so only the code is ever passed on.
pub fn is_aws_credential_error(code: &str) -> bool {
    matches!(
        code,
        "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "MissingAuthenticationToken"
            | "InvalidSignatureException"
            | "ExpiredToken"
            | "ExpiredTokenException"
    )
}

#[cfg(test)]
mod tests {
    use super::Verdict::{self, *};

    /// Every answer a destination can give, and what it means; one row per case that matters.
    #[test]
    fn every_answer_has_one_meaning() {
        let http: &[(u16, Verdict)] = &[
            (200, Delivered),
            (202, Delivered),
            (204, Delivered),
            (301, Permanent),
            (400, Permanent),
            (401, Permanent),
            (403, Permanent),
            (404, Permanent),
            (410, Permanent),
            (413, Permanent),
            (429, Transient),
            (500, Transient),
            (501, Permanent),
            (502, Transient),
            (503, Transient),
            (504, Transient),
        ];
        for &(status, verdict) in http {
            assert_eq!(Verdict::of_http_status(status), verdict, "HTTP {status}");
        }
        let slack: &[(&str, Verdict)] = &[
            ("ratelimited", Transient),
            ("rate_limited", Transient),
            ("service_unavailable", Transient),
            ("internal_error", Transient),
            ("fatal_error", Transient),
            ("request_timeout", Transient),
            ("not_in_channel", Permanent),
            ("channel_not_found", Permanent),
            ("invalid_auth", Permanent),
            ("missing_scope", Permanent),
            ("msg_too_long", Permanent),
            ("is_archived", Permanent),
            ("something_new", Permanent),
        ];
        for &(code, verdict) in slack {
            assert_eq!(Verdict::of_slack_error(code), verdict, "Slack {code}");
        }
        let aws: &[(Option<&str>, u16, Verdict)] = &[
            (Some("Throttled"), 400, Transient),
            (Some("Throttling"), 400, Transient),
            (Some("ThrottlingException"), 400, Transient),
            (Some("KMSThrottling"), 400, Transient),
            (Some("InternalError"), 500, Transient),
            (Some("ServiceUnavailable"), 503, Transient),
            (Some("SomethingNew"), 502, Transient),
            (None, 503, Transient),
            (None, 429, Transient),
            (Some("InvalidParameter"), 400, Permanent),
            (Some("ParameterValueInvalid"), 400, Permanent),
            (Some("AuthorizationError"), 403, Permanent),
            (Some("NotFound"), 404, Permanent),
            (Some("KMSDisabled"), 400, Permanent),
            (Some("KMSAccessDenied"), 400, Permanent),
            (Some("KMSNotFound"), 400, Permanent),
            (Some("KMSInvalidState"), 400, Permanent),
            (Some("KMSOptInRequired"), 400, Permanent),
            (Some("EndpointDisabled"), 400, Permanent),
            (Some("InvalidSecurity"), 400, Permanent),
            (Some("ValidationException"), 400, Permanent),
            (Some("InvalidClientTokenId"), 403, Permanent),
            (Some("SignatureDoesNotMatch"), 403, Permanent),
            (None, 501, Permanent),
            (None, 200, Permanent),
        ];
        for &(code, status, verdict) in aws {
            assert_eq!(
                Verdict::of_aws_error(code, status),
                verdict,
                "AWS {code:?} {status}"
            );
        }
    }

    #[test]
    fn credential_errors_are_known_by_code() {
        assert!(super::is_aws_credential_error("SignatureDoesNotMatch"));
        assert!(super::is_aws_credential_error("ExpiredToken"));
        assert!(!super::is_aws_credential_error("NotFound"));
    }
}
