//! What happened, in words, without the subject's name: the one line every destination shows.

use std::fmt::Write as _;

use super::flagger::{Fields, Format, RollbackCause};
use super::model::*;
use crate::event::Phase;

/// The headline of a message: lower-case and short, `canary weight 30%`, `iteration 2/10`,
/// `halted: success rate 69.17% < 99%`, `waiting for approval (gate-rollout)`, `promoted`,
/// `rolled back: failed checks threshold 5 reached`. Free text from the message (a reason, a
/// hook error) is shortened with `…` to keep the headline near 80 characters, never over 120;
/// renderers show the raw message beside it. An unrecognised message is its own headline,
/// shortened the same way.
pub(super) fn of_message(message: &str, recognised: Option<&(Format, Fields<'_>)>) -> String {
    let mut out = String::with_capacity(64);
    match recognised {
        Some((format, fields)) => render(&mut out, *format, fields, message.trim()),
        None if message.trim().is_empty() => out.push_str("(empty event message)"),
        None => push_clipped(&mut out, message.trim(), HEADLINE_MAX, false),
    }
    if out.chars().count() > HEADLINE_MAX {
        let whole = std::mem::take(&mut out);
        push_clipped(&mut out, &whole, HEADLINE_MAX, false);
    }
    out
}

/// A payload without a message (what gating hooks receive): `webhook notice (<phase>)`.
pub(super) fn of_notice(phase: &Phase) -> String {
    match phase {
        Phase::Unset => "webhook notice (no phase)".to_owned(),
        phase => format!(
            "webhook notice ({})",
            crate::text::truncate(phase.as_str(), 80)
        ),
    }
}

/// Headlines aim at this many characters; free text is shortened to fit.
pub const HEADLINE_TARGET: usize = 80;
/// And never exceed this many.
pub const HEADLINE_MAX: usize = 120;
/// Free text always gets at least this much room, even after a long hook or metric name.
const MIN_ROOM: usize = 32;

fn render(out: &mut String, format: Format, f: &Fields<'_>, message: &str) {
    use Format::*;
    let hook = f.hook.unwrap_or("hook");
    match format {
        MetricsProvidersAvailable => out.push_str("metrics providers available"),
        MetricsProvidersError => {
            out.push_str("error checking metric providers");
            push_reason(out, f.reason);
        }
        InitializationDone => out.push_str("initialized"),
        Suspended => out.push_str("suspended: canary run skipped"),
        ScaleDownFailed => {
            out.push_str("scaling down canary failed");
            push_reason(out, f.reason);
        }
        NotSupported | IterationsForced => push_clipped(out, message, HEADLINE_TARGET, false),
        WaitingForApproval(hook_type) => {
            out.push_str(match hook_type {
                HookType::ConfirmTrafficIncrease => "waiting for traffic increase approval",
                HookType::ConfirmPromotion => "waiting for promotion approval",
                _ => "waiting for approval",
            });
            if let Some(hook) = f.hook {
                let _ = write!(out, " ({hook})");
            }
        }
        CheckPassed(hook_type) => {
            let _ = write!(out, "{} check {hook} passed", hook_type.as_str());
        }
        RollbackNotSignaled => {
            let _ = write!(out, "rollback hook {hook} not signaling a rollback");
        }
        NewRevision => out.push_str("new revision detected"),
        RestartingAnalysis => out.push_str("new revision detected: analysis restarted"),
        AnalysisStarted => out.push_str("analysis started"),
        NotReady {
            primary,
            deadline_exceeded,
        } => {
            if deadline_exceeded {
                out.push_str("halted: ");
            }
            if primary {
                out.push_str("primary ");
            }
            out.push_str("not ready");
            push_reason(out, f.reason);
        }
        KnativeRevisionNotReady => out.push_str("Knative revision not ready"),
        PrimaryScaledToZero => out.push_str("halted: primary deployment is scaled to zero"),
        HookFailed(hook_type) => {
            let _ = match hook_type {
                HookType::PreRollout => write!(out, "halted: pre-rollout check {hook} failed"),
                HookType::Rollout => write!(out, "halted: external check {hook} failed"),
                _ => write!(out, "{} hook {hook} failed", hook_type.as_str()),
            };
            push_reason(out, f.hook_error);
        }
        SuccessRate | RequestDuration | CustomMetric => {
            out.push_str("halted: ");
            let metric = f.metric.as_ref();
            out.push_str(match format {
                SuccessRate => "success rate",
                RequestDuration => "request duration",
                _ => metric.and_then(|m| m.name).unwrap_or("metric"),
            });
            if let Some(m) = metric {
                let _ = write!(
                    out,
                    " {} {} {}",
                    m.observed.unwrap_or("?"),
                    m.comparator.map_or("?", Comparator::as_str),
                    m.threshold.unwrap_or("?")
                );
            }
        }
        NoValues => {
            out.push_str("halted: no values found for ");
            out.push_str(f.metric.as_ref().and_then(|m| m.name).unwrap_or("metric"));
            if f.target.is_some() {
                out.push_str(" (no traffic?)");
            }
        }
        QueryFailed { prometheus } => {
            match f.metric.as_ref().and_then(|m| m.name) {
                Some(name) => {
                    let _ = write!(out, "halted: query for {name} failed");
                }
                None if prometheus => out.push_str("halted: Prometheus query failed"),
                None => out.push_str("halted: metric query failed"),
            }
            push_reason(out, f.reason);
        }
        NoUsableMetric => {
            out.push_str("halted: no usable metrics template and query were configured")
        }
        MetricsClientError => out.push_str("halted: error building Prometheus client"),
        KnativeServiceError => {
            out.push_str("halted: error fetching Knative service");
            push_reason(out, f.reason);
        }
        MetricTemplateError => {
            out.push_str("halted: metric template");
            if let Some(template) = f.metric.as_ref().and_then(|m| m.template) {
                out.push(' ');
                out.push_str(template);
            }
            push_reason(out, f.reason);
        }
        CanaryWeight => match f.canary_weight {
            Some(0) => out.push_str("canary weight 0% (mirroring)"),
            Some(weight) => {
                let _ = write!(out, "canary weight {weight}%");
            }
            None => out.push_str("canary weight advanced"),
        },
        CanaryIteration => match f.iteration {
            Some(Iteration { current, total }) => {
                let _ = write!(out, "iteration {current}/{total}");
            }
            None => out.push_str("iteration advanced"),
        },
        AllTrafficToCanary => out.push_str("routing all traffic to canary"),
        MirroringStopped => out.push_str("mirroring stopped, routing all traffic to canary"),
        CopyingSpec => {
            out.push_str("promoting: copying template spec");
            if let Some(primary) = f.target {
                out.push_str(" to ");
                out.push_str(primary);
            }
        }
        AllTrafficToPrimary => out.push_str("routing all traffic to primary"),
        PrimaryWeight => match f.primary_weight {
            Some(weight) => {
                let _ = write!(out, "primary weight {weight}%");
            }
            None => out.push_str("primary weight advanced"),
        },
        PromotionFailed => {
            out.push_str("promotion failed, primary not ready");
            push_reason(out, f.reason);
        }
        PromotionCompleted {
            analysis_skipped: false,
        } => out.push_str("promoted"),
        PromotionCompleted {
            analysis_skipped: true,
        } => out.push_str("promoted (analysis skipped)"),
        RollbackCheckPassed => {
            let _ = write!(out, "rollback check {hook} passed");
        }
        RollingBack(RollbackCause::ManualWebhook) => {
            out.push_str("rolled back: manual webhook invoked")
        }
        RollingBack(RollbackCause::FailedChecks) => match f.failed_checks_threshold {
            Some(count) => {
                let _ = write!(out, "rolled back: failed checks threshold {count} reached");
            }
            None => out.push_str("rolled back: failed checks threshold reached"),
        },
        RollingBack(RollbackCause::ProgressDeadline) => {
            out.push_str("rolled back: progress deadline exceeded")
        }
        RollingBack(RollbackCause::Other) => {
            out.push_str("rolled back");
            push_reason(out, f.reason);
        }
        CanaryFailed => out.push_str("canary failed"),
        Terminating => out.push_str("terminating canary"),
        Terminated => out.push_str("canary terminated"),
    }
}

/// `: <reason>` shortened to the headline's budget, or nothing.
fn push_reason(out: &mut String, reason: Option<&str>) {
    if let Some(reason) = reason {
        out.push_str(": ");
        push_clipped(out, reason, HEADLINE_TARGET, true);
    }
}

/// Appends `text`, shortened with `…` so that `out` ends within `limit` characters (but with at
/// least [`MIN_ROOM`] for `text`). With `first_clause`, a Go error chain (`context: cause:
/// cause`) is cut after its first link when that fits: `waiting for rollout to finish…`.
/// Cuts only at char boundaries, preferably at a space.
fn push_clipped(out: &mut String, text: &str, limit: usize, first_clause: bool) {
    let room = limit.saturating_sub(out.chars().count()).max(MIN_ROOM);
    if text.chars().count() <= room {
        out.push_str(text);
        return;
    }
    let first_link = text
        .split_once(": ")
        .map(|(head, _)| head)
        .filter(|head| first_clause && !head.is_empty() && head.chars().count() < room);
    if let Some(head) = first_link {
        out.push_str(head);
        out.push('…');
        return;
    }
    let cut = text
        .char_indices()
        .nth(room - 1)
        .map_or(text.len(), |(at, _)| at);
    let head = &text[..cut];
    let mid_word = !text[cut..].starts_with(' ');
    let head = match head.rfind(' ') {
        Some(space) if mid_word && space > cut / 2 => &head[..space],
        _ => head,
    };
    out.push_str(head.trim_end());
    out.push('…');
}
