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
    /// An HTTP status, from a webhook or any API that speaks in statuses. 408 (the server gave
    /// up waiting for the request), 429 and the server-side failures are transient, except 501
    /// (the server will never implement what was asked); every other status is the destination
    /// refusing the request. That includes redirects: they are never followed (a POST
    /// redirected can come back as a GET that "succeeds" without posting anything), so a 3xx
    /// is a webhook URL that needs fixing.
    ///
    /// Where the status is the whole verdict (a Slack webhook, a Teams Workflow), a 2xx is
    /// delivered even when the rest of the answer could not be read: the body would change
    /// nothing, and retrying a message that was taken would post it twice.
    pub fn of_http_status(status: u16) -> Verdict {
        match status {
            200..=299 => Verdict::Delivered,
            408 | 429 | 500 | 502..=599 => Verdict::Transient,
            _ => Verdict::Permanent,
        }
    }

    /// What a legacy Teams connector's HTTP 200 says: `1` when it posted the message;
    /// otherwise why not, as text, which may be Teams itself failing or throttling behind the
    /// connector (`Webhook message delivery failed with error: Microsoft Teams endpoint returned
    /// HTTP error 429 with ContextId …`). That upstream status decides, as any status would;
    /// any other text is a refusal.
    pub fn of_teams_connector(body: &str) -> Verdict {
        let body = body.trim();
        if body == "1" {
            return Verdict::Delivered;
        }
        let upstream = body
            .split_once("returned HTTP error ")
            .and_then(|(_, rest)| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u16>().ok()
            });
        match upstream.map(Verdict::of_http_status) {
            Some(Verdict::Transient) => Verdict::Transient,
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

/// Slack's answers to a reply that say its thread can no longer be posted in: the channel was
/// archived or is gone, the parent was deleted, or the bot was removed from the channel. The
/// event is not refused for that: it opens a new thread, and the rollout continues there.
pub fn is_unusable_slack_thread(code: &str) -> bool {
    matches!(
        code,
        "channel_not_found"
            | "is_archived"
            | "channel_is_archived"
            | "message_not_found"
            | "thread_not_found"
            | "not_in_channel"
    )
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
            (302, Permanent),
            (307, Permanent),
            (308, Permanent),
            (408, Transient),
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
    fn a_teams_connector_reports_teams_failing_behind_it_as_transient() {
        let said = |status: &str| {
            format!(
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status} with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=x"
            )
        };
        for (body, verdict) in [
            ("1".to_owned(), Delivered),
            (" 1\n".to_owned(), Delivered),
            (said("429"), Transient),
            (said("500"), Transient),
            (said("503"), Transient),
            (said("413"), Permanent),
            (said("400"), Permanent),
            (said("200"), Permanent),
            ("Summary or Text is required.".to_owned(), Permanent),
            (String::new(), Permanent),
        ] {
            assert_eq!(Verdict::of_teams_connector(&body), verdict, "{body}");
        }
    }

    #[test]
    fn a_thread_is_unusable_when_slack_says_its_channel_or_parent_is_gone() {
        for code in [
            "channel_not_found",
            "is_archived",
            "message_not_found",
            "thread_not_found",
            "not_in_channel",
        ] {
            assert!(super::is_unusable_slack_thread(code), "{code}");
        }
        for code in [
            "ratelimited",
            "invalid_auth",
            "msg_too_long",
            "missing_scope",
        ] {
            assert!(!super::is_unusable_slack_thread(code), "{code}");
        }
    }

    #[test]
    fn credential_errors_are_known_by_code() {
        assert!(super::is_aws_credential_error("SignatureDoesNotMatch"));
        assert!(super::is_aws_credential_error("ExpiredToken"));
        assert!(!super::is_aws_credential_error("NotFound"));
    }
}
