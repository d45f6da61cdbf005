//! `make preview`, first half: every recorded lifecycle (`events/flagger/`) and every
//! Alertmanager notification (`events/alertmanager/`) through the functions' real handlers in
//! dry run, as Function URL requests; what each destination would receive goes to
//! `target/preview/payloads/<destination>/<lifecycle>.jsonl`, one event per line, in order.
//! `preview/render.mjs` draws them.
//!
//! Destinations: `slack` (incoming webhook), `teams` (Adaptive Card for Workflows),
//! `teams-messagecard` (legacy connector), `sns`, and `slack-bot`. A dry run in bot mode
//! answers with the message posted outside a thread; what a thread looks like (the parent
//! summary, the replies, the parent edited in place) comes from the same pure functions the
//! bot delivers with, folded over the lifecycle here the way the thread table folds it.
//!
//! `cargo run -p flagger-relay-tests --example preview -- [--out DIR] [LIFECYCLE…]`
//!
//! What shapes a deployment's messages (`LINKS`, the mentions, the templates) is taken from
//! this program's environment, so `make preview SLACK_TEMPLATE="$(cat my.json.j2)"` draws a
//! template's output like any other message.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use flagger_relay_core::{Classification, Notification, Presentation, Relay};
use flagger_relay_slack::bot::rollout::{
    RolloutRef, RolloutState, Step, event_time, rollout_ref, unversioned_key,
};
use flagger_relay_slack::bot::summary;
use flagger_relay_tests::{Call, OPEN, env, lifecycles, read, root};
use serde_json::{Value, json};

/// The channel bot-mode messages name; any ID will do for a picture.
const CHANNEL: &str = "C0PREVIEW";
/// A well-formed bot token that never leaves this process: bot mode needs one to start.
const BOT_TOKEN: &str = "xoxb-0000000000-preview";
/// The settings that shape messages, passed through from the environment.
const SHAPING: [&str; 7] = [
    "LINKS",
    "SLACK_MENTIONS",
    "TEAMS_MENTIONS",
    "SLACK_TEMPLATE",
    "TEAMS_TEMPLATE",
    "SNS_SUBJECT_TEMPLATE",
    "SNS_EMAIL_TEMPLATE",
];

/// `base` and whichever of [`SHAPING`] the environment sets.
fn shaped<'a>(
    base: &[(&'a str, &'a str)],
    shaping: &'a [(&'static str, String)],
) -> HashMap<&'a str, &'a str> {
    let mut settings = env(base);
    settings.extend(shaping.iter().map(|(name, value)| (*name, value.as_str())));
    settings
}

/// When an Alertmanager notification "arrives": it carries no time of its own, and the
/// pictures must not depend on the clock. 2025-11-24 15:00 UTC, where the fixtures are.
const ARRIVAL_MS: i64 = 1_763_996_400_000;

type Outcome<T> = Result<T, Box<dyn Error>>;

/// One recorded notification and the lifecycle it belongs to.
struct Event {
    fixture: String,
    body: Vec<u8>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Outcome<()> {
    let (out, only) = arguments()?;
    let shaping: Vec<(&'static str, String)> = SHAPING
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    // Requests come from this program only: the functions serve without a token, on purpose.
    let dry = [("DRY_RUN", "1"), OPEN];
    let slack = flagger_relay_slack::relay_from_env(&shaped(&dry, &shaping))?;
    let teams = flagger_relay_teams::relay_from_env(&shaped(&dry, &shaping))?;
    let messagecard = flagger_relay_teams::relay_from_env(&shaped(
        &[("DRY_RUN", "1"), OPEN, ("TEAMS_CARD_FORMAT", "messagecard")],
        &shaping,
    ))?;
    let sns = flagger_relay_sns::relay_from_env(&shaped(
        &[("DRY_RUN", "1"), OPEN, ("AWS_REGION", "us-east-1")],
        &shaping,
    ))
    .await?;
    let bot = flagger_relay_slack::relay_from_env(&shaped(
        &[
            ("DRY_RUN", "1"),
            OPEN,
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_CHANNEL_ID", CHANNEL),
        ],
        &shaping,
    ))?;

    let mut groups = recorded_lifecycles();
    groups.push(("alertmanager".to_owned(), alertmanager()?));
    if !only.is_empty() {
        groups.retain(|(name, _)| only.contains(name));
        if groups.is_empty() {
            return Err(format!("no recorded lifecycle is named {}", only.join(", ")).into());
        }
    }

    let (mut events, mut sent) = (0, 0);
    for (lifecycle, group) in &groups {
        let mut lines: HashMap<&str, Vec<Value>> = HashMap::new();
        let mut threads = Threads::default();
        for (index, event) in group.iter().enumerate() {
            let seq = index + 1;
            let about = about(lifecycle, seq, event);
            for (destination, answer) in [
                ("slack", dry_run(&slack, event).await?),
                ("teams", dry_run(&teams, event).await?),
                ("teams-messagecard", dry_run(&messagecard, event).await?),
                ("sns", dry_run(&sns, event).await?),
            ] {
                lines
                    .entry(destination)
                    .or_default()
                    .push(line(&about, &answer));
            }
            let answer = dry_run(&bot, event).await?;
            let mut record = line(&about, &answer);
            if answer["status"] == "dry-run" {
                sent += 1;
                record["calls"] = Value::Array(threads.deliver(&event.body)?);
            }
            lines.entry("slack-bot").or_default().push(record);
            events += 1;
        }
        for (destination, records) in lines {
            write_jsonl(
                &out.join(destination).join(format!("{lifecycle}.jsonl")),
                &records,
            )?;
        }
    }
    println!(
        "preview: {events} events of {} lifecycles through every function in dry run ({sent} posted, the rest filtered) → {}",
        groups.len(),
        out.display()
    );
    Ok(())
}

/// `--out DIR` (default `target/preview/payloads`) and the lifecycles to keep (all if none).
fn arguments() -> Outcome<(PathBuf, Vec<String>)> {
    let mut out = root().join("target/preview/payloads");
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}").into()),
            name => only.extend(name.split(',').filter(|n| !n.is_empty()).map(str::to_owned)),
        }
    }
    Ok((out, only))
}

fn recorded_lifecycles() -> Vec<(String, Vec<Event>)> {
    lifecycles()
        .into_iter()
        .map(|(name, fixtures)| {
            let events = fixtures
                .into_iter()
                .map(|fixture| Event {
                    fixture: fixture.name,
                    body: fixture.body,
                })
                .collect();
            (name, events)
        })
        .collect()
}

/// The Alertmanager notifications, as one lifecycle in name order.
fn alertmanager() -> Outcome<Vec<Event>> {
    let dir = root().join("events/alertmanager");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "json"));
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let fixture = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .ok_or("a fixture name that is not UTF-8")?
                .to_owned();
            Ok(Event {
                body: std::fs::read(&path)?,
                fixture,
            })
        })
        .collect()
}

/// What every line says about its event, whatever the destination: for captions.
fn about(lifecycle: &str, seq: usize, event: &Event) -> Value {
    let notification = Notification::from_slice(&event.body).ok();
    let headline = notification
        .as_ref()
        .map(|n| n.classify().headline)
        .unwrap_or_default();
    let at = notification.as_ref().and_then(event_time);
    json!({"lifecycle": lifecycle, "seq": seq, "fixture": event.fixture, "headline": headline, "at": at})
}

/// The event as Flagger (or Alertmanager) sends it, through the function's handler.
async fn dry_run<D: flagger_relay_core::Destination>(
    relay: &Relay<D>,
    event: &Event,
) -> Outcome<Value> {
    let (status, answer) = read(relay.handle(Call::post(&event.body).request()).await);
    match answer["status"].as_str() {
        Some("dry-run" | "filtered") if status == 200 => Ok(answer),
        _ => Err(format!("{}: {} answered {status} {answer}", event.fixture, D::KIND).into()),
    }
}

fn line(about: &Value, answer: &Value) -> Value {
    let mut line = about.clone();
    for key in ["status", "stage", "severity", "payload"] {
        if let Some(value) = answer.get(key) {
            line[key] = value.clone();
        }
    }
    line
}

fn write_jsonl(path: &Path, records: &[Value]) -> Outcome<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text)?;
    Ok(())
}

/// The thread table of bot mode, in memory: which rollout an event belongs to, its parent
/// message and the summary state, folded the way the bot folds them.
#[derive(Default)]
struct Threads {
    rollouts: HashMap<String, (String, RolloutState)>,
    /// A checksum-less canary's current rollout, as the table's pointer item keeps it.
    pointers: HashMap<String, String>,
    posted: u64,
    clock: i64,
}

impl Threads {
    /// The Web API calls one event makes, in order: the parent of a new rollout; or the reply
    /// in its thread, then `chat.update` of the parent.
    fn deliver(&mut self, body: &[u8]) -> Outcome<Vec<Value>> {
        let notification = Notification::from_slice(body)?;
        let classification = notification.classify();
        let at = event_time(&notification).unwrap_or(ARRIVAL_MS + self.clock);
        self.clock += 60_000;
        let step = Step::new(&notification, &classification, at);
        let key = self.key(&notification, &classification, at);
        let calls = match self.rollouts.get(&key) {
            None => {
                let state = RolloutState::open(&step);
                let parent = summary::parent(&notification, &state, CHANNEL, None, &[]);
                self.posted += 1;
                let ts = format!("1764000000.{:06}", self.posted * 100);
                // The `ts` Slack answers with: the thread's name from here on.
                let mut post = call("chat.postMessage", &parent)?;
                post["answer_ts"] = Value::String(ts.clone());
                self.rollouts.insert(key, (ts, state));
                vec![post]
            }
            Some((ts, state)) => {
                // The built-in message: no links or mentions configured.
                let presentation = Presentation::new(&notification, &classification);
                let reply = summary::event(&presentation, CHANNEL, Some(ts));
                let next = state.advance(&step);
                let update = summary::parent(&notification, &next, CHANNEL, Some(ts), &[]);
                let calls = vec![
                    call("chat.postMessage", &reply)?,
                    call("chat.update", &update)?,
                ];
                let ts = ts.clone();
                self.rollouts.insert(key, (ts, next));
                calls
            }
        };
        Ok(calls)
    }

    fn key(
        &mut self,
        notification: &Notification,
        classification: &Classification,
        at: i64,
    ) -> String {
        match rollout_ref(notification, classification) {
            RolloutRef::Keyed(key) => key,
            RolloutRef::Unversioned { canary, opens } => {
                let opened = unversioned_key(&canary, at);
                if opens {
                    self.pointers.insert(canary, opened.clone());
                    opened
                } else {
                    self.pointers.entry(canary).or_insert(opened).clone()
                }
            }
        }
    }
}

fn call(method: &str, body: &impl serde::Serialize) -> Outcome<Value> {
    Ok(json!({"method": method, "body": serde_json::to_value(body)?}))
}
