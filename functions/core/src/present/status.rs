//! Where a rollout stands, at a glance: one picture and one word per stage, the same in every
//! destination. Slack draws the picture from its shortcode, Teams from Unicode.

use crate::Stage;

/// The picture of a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    Done,
    Failed,
    Rewind,
    Warning,
    Hourglass,
    Wastebasket,
    Rocket,
    Cycle,
    Check,
    Information,
    Fire,
}

impl Picture {
    /// As every Teams client draws it, in colour.
    pub fn unicode(self) -> &'static str {
        match self {
            Picture::Done => "✅",
            Picture::Failed => "❌",
            Picture::Rewind => "⏪",
            Picture::Warning => "⚠️",
            Picture::Hourglass => "⏳",
            Picture::Wastebasket => "🗑️",
            Picture::Rocket => "🚀",
            Picture::Cycle => "🔄",
            Picture::Check => "☑️",
            Picture::Information => "ℹ️",
            Picture::Fire => "🔥",
        }
    }

    /// Slack's name for it, which every Slack client draws the same way.
    pub fn shortcode(self) -> &'static str {
        match self {
            Picture::Done => ":white_check_mark:",
            Picture::Failed => ":x:",
            Picture::Rewind => ":rewind:",
            Picture::Warning => ":warning:",
            Picture::Hourglass => ":hourglass_flowing_sand:",
            Picture::Wastebasket => ":wastebasket:",
            Picture::Rocket => ":rocket:",
            Picture::Cycle => ":arrows_counterclockwise:",
            Picture::Check => ":ballot_box_with_check:",
            Picture::Information => ":information_source:",
            Picture::Fire => ":fire:",
        }
    }
}

/// A stage's picture and word.
pub fn of_stage(stage: Stage) -> (Picture, &'static str) {
    match stage {
        Stage::Succeeded => (Picture::Done, "Promoted"),
        Stage::Failed => (Picture::Failed, "Failed"),
        Stage::RollingBack => (Picture::Rewind, "Rolling back"),
        Stage::Halted => (Picture::Warning, "Halted"),
        Stage::WaitingApproval => (Picture::Hourglass, "Waiting for approval"),
        Stage::Waiting => (Picture::Hourglass, "Waiting"),
        Stage::Terminating => (Picture::Wastebasket, "Terminating"),
        Stage::Initialized => (Picture::Rocket, "Initialized"),
        Stage::NewRevision => (Picture::Rocket, "New revision"),
        Stage::AnalysisStarted => (Picture::Rocket, "Analysis started"),
        Stage::Progress => (Picture::Cycle, "In progress"),
        Stage::CheckPassed => (Picture::Check, "Check passed"),
        Stage::Promoting => (Picture::Cycle, "Promoting"),
        Stage::Info | Stage::Unknown => (Picture::Information, "Notice"),
    }
}

/// An Alertmanager group's picture and word.
pub fn of_alerts(resolved: bool) -> (Picture, &'static str) {
    if resolved {
        (Picture::Done, "Resolved")
    } else {
        (Picture::Fire, "Firing")
    }
}
