//! Delivery: one attempt is the destination's business; retrying it within the invocation's
//! deadline, and what a failure means to the caller, is shared.

mod retry;
mod verdict;
mod webhook;

pub use retry::{RetryPolicy, with_retries};
pub use verdict::{Verdict, is_aws_credential_error, is_unusable_slack_thread};
pub use webhook::{
    TlsRoots, WebhookResponse, describe_transport_error, http_client, http_reason, http_status_in,
    post_json, retry_after,
};

use std::time::{Duration, SystemTime};

/// How one attempt to reach the destination ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// Worth trying again: connection errors, 408, 429, 5xx (except 501), throttling.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Sent, and no verdict came back: the request timed out or the connection was cut after
    /// it was made, or the answer that says whether it was taken could not be read. Worth
    /// trying again (at least once beats lost), but the destination may have taken it: the
    /// failure says `maybe_delivered`, so that a second copy is explained, never hidden.
    Unanswered { reason: String },
    /// The destination refused the message; sending it again would be refused again.
    Permanent { reason: String },
}

impl AttemptError {
    pub fn transient(reason: impl Into<String>) -> Self {
        AttemptError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        AttemptError::Permanent {
            reason: reason.into(),
        }
    }

    pub fn unanswered(reason: impl Into<String>) -> Self {
        AttemptError::Unanswered {
            reason: reason.into(),
        }
    }
}

/// Whether a failed delivery could succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The destination rejected the message: answered 502 to the caller.
    Permanent,
    /// The destination stayed unavailable for the whole retry budget: answered 503.
    Transient,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Permanent => "permanent",
            FailureClass::Transient => "transient",
        }
    }
}

/// A delivery that ended without the destination accepting the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub class: FailureClass,
    pub reason: String,
    pub attempts: u32,
    pub first_attempt: SystemTime,
    pub last_attempt: SystemTime,
    /// An attempt was sent and got no verdict: the destination may have taken the message.
    pub maybe_delivered: bool,
    /// Time slept because the destination asked for it (`Retry-After`).
    pub retry_after_waited: Duration,
}

impl DeliveryFailure {
    /// A notification refused before any delivery attempt (an unusable SNS message).
    pub fn refused(reason: String) -> Self {
        let now = SystemTime::now();
        DeliveryFailure {
            class: FailureClass::Permanent,
            reason,
            attempts: 0,
            first_attempt: now,
            last_attempt: now,
            maybe_delivered: false,
            retry_after_waited: Duration::ZERO,
        }
    }

    /// From the first attempt to the destination's last answer; `None` when nothing was sent.
    pub fn latency(&self) -> Option<Duration> {
        (self.attempts > 0).then(|| {
            self.last_attempt
                .duration_since(self.first_attempt)
                .unwrap_or_default()
        })
    }
}

/// A delivery the destination accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub attempts: u32,
    /// From the first attempt to the destination's accepting answer, retries included.
    pub latency: Duration,
    /// Time slept because the destination asked for it (`Retry-After`).
    pub retry_after_waited: Duration,
}

impl Delivered {
    /// Taken at the first attempt, at once: what tests and stand-in destinations answer.
    pub fn first_time() -> Self {
        Delivered {
            attempts: 1,
            latency: Duration::ZERO,
            retry_after_waited: Duration::ZERO,
        }
    }
}
