//! Parse + classify + render, per destination, over every recorded Flagger event: the CPU work
//! of one invocation apart from I/O, done as the relay does it (the body is parsed as a
//! `Notification`, which tells a Flagger event from an Alertmanager group). Slack and Teams
//! include serializing the payload to the bytes that are POSTed; the SNS payload's message is
//! already a serialized document.
//!
//! Each iteration handles every fixture once; criterion reports it as throughput, and the
//! cold-start harness divides by it for µs per event (`make bench`).
//!
//! The `…-template` benches render the examples in `examples/templates/`, compiled once as at
//! cold start, with `LINKS` and mentions set: the whole of what a deployment's own wording
//! costs per event (budget: 20 µs).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flagger_relay_core::present::{Links, Mentions};
use flagger_relay_core::template::{Markup, Output, Template, TextFilter};
use flagger_relay_core::{Notification, Presentation};
use flagger_relay_teams::CardFormat;

const LINKS: &str = "Dashboard=https://grafana.example.com/d/canary?var-ns={namespace}&var-canary={name};Revision=https://git.example.com/deploy/commit/{checksum}";

fn bodies() -> Vec<Vec<u8>> {
    let bodies: Vec<Vec<u8>> = flagger_relay_tests::fixtures()
        .into_iter()
        .map(|fixture| fixture.body)
        .collect();
    let events = bodies
        .iter()
        .filter(|body| matches!(Notification::from_slice(body), Ok(Notification::Canary(_))))
        .count();
    assert_eq!(
        events,
        bodies.len(),
        "every recorded body parses as a Flagger event"
    );
    bodies
}

/// Runs `render` on every body, as the relay would get to it: parsed, classified, presented.
fn each_event(bodies: &[Vec<u8>], mut render: impl FnMut(&Presentation<'_>)) {
    for body in bodies {
        if let Ok(notification) = Notification::from_slice(black_box(body)) {
            let classification = notification.classify();
            render(&Presentation::new(&notification, &classification));
        }
    }
}

/// [`each_event`], with the links filled from the event and the mentions of its severity, as
/// the relay presents it when `LINKS` and `…_MENTIONS` are set.
fn each_shaped_event(
    bodies: &[Vec<u8>],
    links: &Links,
    mentions: &Mentions,
    mut render: impl FnMut(&Presentation<'_>),
) {
    for body in bodies {
        if let Ok(notification) = Notification::from_slice(black_box(body)) {
            let classification = notification.classify();
            let message = Presentation::new(&notification, &classification)
                .with_links(links.resolve(&notification, &classification))
                .with_mentions(mentions.of(classification.severity).to_vec());
            render(&message);
        }
    }
}

fn example(name: &str, output: Output, filters: &[(&'static str, TextFilter)]) -> Template {
    let path = flagger_relay_tests::root()
        .join("examples/templates")
        .join(name);
    let source = std::fs::read_to_string(&path).unwrap_or_default();
    match Template::compile("TEMPLATE", &source, output, filters) {
        Ok(template) => template,
        Err(err) => panic!("{}: {err}", path.display()),
    }
}

fn templates(c: &mut Criterion) {
    let bodies = bodies();
    let links = Links::parse("LINKS", LINKS).unwrap_or_default();
    let slack_mentions = Mentions::parse(
        "SLACK_MENTIONS",
        "error=<!subteam^S0123ABC>;warning=<!here>",
        flagger_relay_slack::shaping::read_mentions,
    )
    .unwrap_or_default();
    let teams_mentions = Mentions::parse(
        "TEAMS_MENTIONS",
        "error=oncall@contoso.com|On-call;warning=jane@contoso.com|Jane Doe",
        flagger_relay_teams::shaping::read_mentions,
    )
    .unwrap_or_default();
    let slack = example("slack.json.j2", Output::Json(Markup::SlackEntities), &[]);
    let teams = example(
        "teams-card.json.j2",
        Output::Json(Markup::Plain),
        &[("markdown", flagger_relay_teams::render::escape_markdown)],
    );
    let sns = flagger_relay_sns::Templates {
        subject: Some(example("subject.txt.j2", Output::Text, &[])),
        email: Some(example("email.txt.j2", Output::Text, &[])),
    };
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(bodies.len() as u64));
    // Links and mentions alone, with the built-in renderers.
    group.bench_function("slack-links", |b| {
        let overrides = flagger_relay_slack::Overrides::default();
        b.iter(|| {
            each_shaped_event(&bodies, &links, &slack_mentions, |presentation| {
                let message = flagger_relay_slack::render::message(presentation, &overrides);
                black_box(serde_json::to_vec(&message).unwrap_or_default());
            })
        })
    });
    group.bench_function("slack-template", |b| {
        b.iter(|| {
            each_shaped_event(&bodies, &links, &slack_mentions, |presentation| {
                let message = flagger_relay_slack::render::templated(&slack, presentation);
                black_box(
                    message
                        .map(|m| serde_json::to_vec(&m).unwrap_or_default())
                        .ok(),
                );
            })
        })
    });
    group.bench_function("teams-template", |b| {
        b.iter(|| {
            each_shaped_event(&bodies, &links, &teams_mentions, |presentation| {
                // The payload carries the JSON that is posted, serialized while fitting it.
                let payload = flagger_relay_teams::render::templated(&teams, presentation);
                black_box(payload.map(|p| p.json().len()).ok());
            })
        })
    });
    group.bench_function("sns-template", |b| {
        b.iter(|| {
            each_shaped_event(&bodies, &links, &Mentions::default(), |presentation| {
                black_box(flagger_relay_sns::render::publish_with(presentation, false, &sns).ok());
            })
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let bodies = bodies();
    let slack = flagger_relay_slack::Overrides::default();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(bodies.len() as u64));
    // The shared steps alone, to tell what rendering adds.
    group.bench_function("parse", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(Notification::from_slice(black_box(body)).ok());
            }
        })
    });
    group.bench_function("parse+classify", |b| {
        b.iter(|| {
            for body in &bodies {
                if let Ok(notification) = Notification::from_slice(black_box(body)) {
                    black_box(notification.classify());
                }
            }
        })
    });
    group.bench_function("slack", |b| {
        b.iter(|| {
            each_event(&bodies, |presentation| {
                let message = flagger_relay_slack::render::message(presentation, &slack);
                black_box(serde_json::to_vec(&message).unwrap_or_default());
            })
        })
    });
    group.bench_function("teams", |b| {
        b.iter(|| {
            each_event(&bodies, |presentation| {
                // The payload carries the JSON that is posted, serialized while fitting it.
                let payload =
                    flagger_relay_teams::render::message(presentation, CardFormat::Adaptive);
                black_box(payload.json().len());
            })
        })
    });
    group.bench_function("sns", |b| {
        b.iter(|| {
            each_event(&bodies, |presentation| {
                black_box(flagger_relay_sns::render::publish(presentation, false));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline, templates);
criterion_main!(benches);
