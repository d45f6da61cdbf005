//! Parse + classify + render, per destination, over every recorded Flagger event: the CPU work
//! of one invocation apart from I/O, done as the relay does it (the body is parsed as a
//! `Notification`, which tells a Flagger event from an Alertmanager group). Slack and Teams
//! include serializing the payload to the bytes that are POSTed; the SNS payload's message is
//! already a serialized document.
//!
//! Each iteration handles every fixture once; criterion reports it as throughput, and the
//! cold-start harness divides by it for µs per event (`make bench`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flagger_relay_core::{Notification, Presentation};
use flagger_relay_teams::CardFormat;

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
                let message =
                    flagger_relay_teams::render::message(presentation, CardFormat::Adaptive);
                black_box(serde_json::to_vec(&message).unwrap_or_default());
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

criterion_group!(benches, pipeline);
criterion_main!(benches);
