//! Refused requests are logged sampled. A public URL can be flooded, and one WARN line per
//! refused request would turn a flood into a CloudWatch Logs bill: each instance logs the first
//! few refusals of every minute in full and then only counts, and the count is written as one
//! line when the minute is over. Pure: the caller passes the time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refusals logged in full per window, per instance.
pub const FULL_PER_WINDOW: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

/// How to log one refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// In full. `suppressed` carries the count of the window that just ended, to be written
    /// first as its one line.
    Full { suppressed: Option<Suppressed> },
    /// Not at all: counted into the window's line.
    Counted,
}

/// Refusals that were counted and not logged, in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    pub window: Duration,
}

/// One instance's sampling state, shared by its concurrent invocations.
#[derive(Debug)]
pub struct LogSampler {
    full_per_window: u32,
    window: Duration,
    state: Mutex<Option<Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl Default for LogSampler {
    fn default() -> Self {
        LogSampler::new(FULL_PER_WINDOW, WINDOW)
    }
}

impl LogSampler {
    pub const fn new(full_per_window: u32, window: Duration) -> Self {
        LogSampler {
            full_per_window,
            window,
            state: Mutex::new(None),
        }
    }

    /// Decides how the refusal happening at `now` is logged.
    pub fn refused(&self, now: Instant) -> Sample {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut suppressed = None;
        if let Some(window) = *state
            && now.saturating_duration_since(window.started) >= self.window
        {
            suppressed = self.closed(window);
            *state = None;
        }
        let window = state.get_or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        if window.logged < self.full_per_window {
            window.logged += 1;
            Sample::Full { suppressed }
        } else {
            window.suppressed += 1;
            Sample::Counted
        }
    }

    /// The count of a window that is over by `now`, if it counted anything: for the line a
    /// flood that stopped still owes. Call it on any request, refused or not.
    pub fn flush(&self, now: Instant) -> Option<Suppressed> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = (*state)?;
        if now.saturating_duration_since(window.started) < self.window {
            return None;
        }
        *state = None;
        self.closed(window)
    }

    fn closed(&self, window: Window) -> Option<Suppressed> {
        (window.suppressed > 0).then_some(Suppressed {
            count: window.suppressed,
            window: self.window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler() -> LogSampler {
        LogSampler::new(3, Duration::from_secs(60))
    }

    fn full() -> Sample {
        Sample::Full { suppressed: None }
    }

    #[test]
    fn logs_the_first_few_in_full_then_only_counts() {
        let sampler = sampler();
        let start = Instant::now();
        let samples: Vec<Sample> = (0..10)
            .map(|n| sampler.refused(start + Duration::from_millis(n)))
            .collect();
        assert_eq!(&samples[..3], &[full(), full(), full()]);
        assert!(samples[3..].iter().all(|s| *s == Sample::Counted));
    }

    #[test]
    fn the_next_window_opens_with_the_count_of_the_last() {
        let sampler = sampler();
        let start = Instant::now();
        for n in 0..1000 {
            sampler.refused(start + Duration::from_millis(n));
        }
        assert_eq!(
            sampler.refused(start + Duration::from_secs(61)),
            Sample::Full {
                suppressed: Some(Suppressed {
                    count: 997,
                    window: Duration::from_secs(60)
                })
            }
        );
        assert_eq!(sampler.refused(start + Duration::from_secs(62)), full());
    }

    #[test]
    fn a_quiet_window_owes_no_line() {
        let sampler = sampler();
        let start = Instant::now();
        sampler.refused(start);
        assert_eq!(sampler.refused(start + Duration::from_secs(120)), full());
        assert_eq!(sampler.flush(start + Duration::from_secs(500)), None);
    }

    #[test]
    fn flush_writes_the_count_once_the_window_is_over_and_only_once() {
        let sampler = sampler();
        let start = Instant::now();
        for n in 0..5 {
            sampler.refused(start + Duration::from_secs(n));
        }
        assert_eq!(sampler.flush(start + Duration::from_secs(59)), None);
        let owed = Some(Suppressed {
            count: 2,
            window: Duration::from_secs(60),
        });
        assert_eq!(sampler.flush(start + Duration::from_secs(60)), owed);
        assert_eq!(sampler.flush(start + Duration::from_secs(61)), None);
        assert_eq!(sampler.refused(start + Duration::from_secs(62)), full());
    }

    #[test]
    fn concurrent_invocations_share_one_budget() {
        let sampler = std::sync::Arc::new(sampler());
        let start = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let sampler = std::sync::Arc::clone(&sampler);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| sampler.refused(start) != Sample::Counted)
                        .count()
                })
            })
            .collect();
        let logged: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(logged, 3);
    }
}
