use std::future::Future;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use super::{AttemptError, Delivered, DeliveryFailure, FailureClass};

/// How hard to try. The whole effort is always bounded by the deadline given to
/// [`with_retries`], whatever these numbers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Upper bound for one attempt (connect + request + response).
    pub attempt_timeout: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
    /// Not worth starting an attempt with less time than this left.
    pub min_attempt_time: Duration,
    /// The longest one delivery waits on a destination that keeps saying `Retry-After`.
    /// Throttling is the destination's load, and a function that sleeps through it holds an
    /// instance per event: under a flood the concurrency runs out and new events are refused
    /// before anyone can park them. Past this, the event is parked (503) at once.
    pub max_throttled_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempt_timeout: Duration::from_secs(3),
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_attempts: 5,
            min_attempt_time: Duration::from_millis(250),
            max_throttled_wait: Duration::from_secs(2),
        }
    }
}

/// Runs `attempt` until it succeeds, fails permanently, runs out of attempts, or the next try
/// could not finish before `deadline`. Each attempt gets the time it may take as its argument
/// and is cut off after it. Exponential backoff with jitter comes from `backon`; a server's
/// `Retry-After` replaces the backoff delay when it asks for longer.
pub async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    deadline: Instant,
    mut attempt: F,
) -> Result<Delivered, DeliveryFailure>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<(), AttemptError>>,
{
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(policy.first_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build();
    let first_attempt = SystemTime::now();
    let started = Instant::now();
    let mut attempts = 0;
    let mut maybe_delivered = false;
    let mut retry_after_waited = Duration::ZERO;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timeout = policy.attempt_timeout.min(remaining);
        attempts += 1;
        let failure = |class, reason: String, maybe_delivered| DeliveryFailure {
            class,
            reason,
            attempts,
            first_attempt,
            last_attempt: SystemTime::now(),
            maybe_delivered,
            retry_after_waited,
        };
        let (reason, retry_after) = match tokio::time::timeout(timeout, attempt(timeout)).await {
            Ok(Ok(())) => {
                return Ok(Delivered {
                    attempts,
                    latency: started.elapsed(),
                    retry_after_waited,
                });
            }
            Ok(Err(AttemptError::Permanent { reason })) => {
                return Err(failure(FailureClass::Permanent, reason, maybe_delivered));
            }
            Ok(Err(AttemptError::Transient {
                reason,
                retry_after,
            })) => (reason, retry_after),
            Ok(Err(AttemptError::Unanswered { reason })) => {
                maybe_delivered = true;
                (reason, None)
            }
            // Cut off at any stage: whether the request had gone out, nobody can say.
            Err(_) => {
                maybe_delivered = true;
                (format!("no answer within {} ms", timeout.as_millis()), None)
            }
        };
        let Some(backoff_delay) = backoff.next() else {
            return Err(failure(FailureClass::Transient, reason, maybe_delivered));
        };
        let delay = retry_after.map_or(backoff_delay, |asked| asked.max(backoff_delay));
        if let Some(asked) = retry_after
            && retry_after_waited + delay > policy.max_throttled_wait
        {
            let reason = format!(
                "{reason} (throttled: asked to retry after {} s, after {} s of waiting already; parked rather than holding the function)",
                asked.as_secs(),
                retry_after_waited.as_secs()
            );
            return Err(failure(FailureClass::Transient, reason, maybe_delivered));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if delay + policy.min_attempt_time > left {
            let reason = match retry_after {
                Some(asked) => format!(
                    "{reason} (asked to retry after {} s, beyond the time left)",
                    asked.as_secs()
                ),
                None => reason,
            };
            return Err(failure(FailureClass::Transient, reason, maybe_delivered));
        }
        tokio::time::sleep(delay).await;
        if retry_after.is_some() {
            retry_after_waited += delay;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempt_timeout: Duration::from_millis(200),
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_attempts: 4,
            min_attempt_time: Duration::from_millis(1),
            max_throttled_wait: Duration::from_secs(2),
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn returns_after_the_first_success() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&fast(), far(), |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(AttemptError::transient("503"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let delivered = result.unwrap();
        assert_eq!(delivered.attempts, 3);
        assert_eq!(delivered.retry_after_waited, Duration::ZERO);
    }

    #[tokio::test]
    async fn counts_the_time_the_destination_asked_to_wait() {
        let calls = AtomicU32::new(0);
        let throttled = |n: u32| async move {
            if n < 2 {
                Err(AttemptError::Transient {
                    reason: "HTTP 429".into(),
                    retry_after: Some(Duration::from_millis(30)),
                })
            } else if n == 2 {
                Err(AttemptError::transient("HTTP 503"))
            } else {
                Ok(())
            }
        };
        let delivered = with_retries(&fast(), far(), |_| {
            throttled(calls.fetch_add(1, Ordering::SeqCst))
        })
        .await
        .unwrap();
        assert_eq!(delivered.attempts, 4);
        // Two waits asked for, longer than any backoff of `fast`; the backoff after the 503
        // is not the destination's asking.
        assert_eq!(delivered.retry_after_waited, Duration::from_millis(60));
        assert!(delivered.latency >= delivered.retry_after_waited);

        let calls = AtomicU32::new(0);
        let failure = with_retries(&fast(), far(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(AttemptError::Transient {
                    reason: "HTTP 429".into(),
                    retry_after: Some(Duration::from_millis(10)),
                })
            }
        })
        .await
        .unwrap_err();
        assert_eq!(failure.attempts, 4);
        assert_eq!(failure.retry_after_waited, Duration::from_millis(30));
    }

    #[tokio::test]
    async fn does_not_retry_a_permanent_rejection() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&fast(), far(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(AttemptError::permanent("HTTP 400: invalid_payload")) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(result.class, FailureClass::Permanent);
        assert_eq!(result.reason, "HTTP 400: invalid_payload");
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_as_transient() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&fast(), far(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(AttemptError::transient("HTTP 503")) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(
            (result.class, result.attempts),
            (FailureClass::Transient, 4)
        );
    }

    #[tokio::test]
    async fn stops_when_retry_after_reaches_past_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(500);
        let calls = AtomicU32::new(0);
        let result = with_retries(&fast(), deadline, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(AttemptError::Transient {
                    reason: "HTTP 429".into(),
                    retry_after: Some(Duration::from_secs(30)),
                })
            }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            result.reason.contains("asked to retry after 30 s"),
            "{}",
            result.reason
        );
    }

    #[tokio::test]
    async fn an_unanswered_attempt_is_retried_and_the_failure_says_maybe_delivered() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&fast(), far(), |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(AttemptError::unanswered("request timed out"))
                } else {
                    Err(AttemptError::transient("HTTP 503"))
                }
            }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4, "still retried");
        assert_eq!(result.class, FailureClass::Transient);
        assert!(
            result.maybe_delivered,
            "the first attempt may have gone through"
        );
        let refused = with_retries(&fast(), far(), |_| async {
            Err(AttemptError::transient("could not connect"))
        })
        .await
        .unwrap_err();
        assert!(!refused.maybe_delivered);
    }

    #[tokio::test]
    async fn stops_waiting_on_a_destination_that_keeps_throttling() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_throttled_wait: Duration::from_millis(250),
            ..fast()
        };
        let result = with_retries(&policy, far(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(AttemptError::Transient {
                    reason: "HTTP 429".into(),
                    retry_after: Some(Duration::from_millis(200)),
                })
            }
        })
        .await
        .unwrap_err();
        // One wait of 200 ms fits; a second would not.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(result.class, FailureClass::Transient);
        assert!(result.reason.contains("throttled"), "{}", result.reason);
    }

    #[tokio::test]
    async fn cuts_off_an_attempt_that_outlives_its_timeout() {
        let result = with_retries(&fast(), far(), |_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(result.class, FailureClass::Transient);
        assert!(
            result.reason.starts_with("no answer within"),
            "{}",
            result.reason
        );
    }
}
