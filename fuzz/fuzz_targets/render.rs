//! Any body that parses as a Flagger event or an Alertmanager group renders, for every
//! destination, to JSON within the destination's size limits.
#![no_main]

use flagger_relay_core::{Notification, Presentation};
use flagger_relay_teams::render::CardFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(notification) = Notification::from_slice(body) else {
        return;
    };
    let classification = notification.classify();
    let message = Presentation::new(&notification, &classification);

    let slack = flagger_relay_slack::render::message(&message, &Default::default());
    let slack = serde_json::to_string(&slack).expect("a Slack message serializes");
    assert!(
        slack.len() < 64 * 1024,
        "Slack message of {} bytes",
        slack.len()
    );

    for format in [CardFormat::Adaptive, CardFormat::MessageCard] {
        let payload = flagger_relay_teams::render::message(&message, format);
        let card = serde_json::to_vec(payload.message()).expect("a Teams card serializes");
        assert_eq!(
            payload.json(),
            card.as_slice(),
            "{format:?}: what is posted is the card"
        );
        assert!(
            card.len() <= 28_000,
            "{format:?} card of {} bytes",
            card.len()
        );
    }

    for fifo in [false, true] {
        let publish = flagger_relay_sns::render::publish(&message, fifo);
        assert!(
            publish.size() <= 262_144,
            "SNS publish of {} bytes",
            publish.size()
        );
        let subject = publish.subject();
        assert!(
            subject.chars().count() < 100 && !subject.chars().any(char::is_control),
            "Subject {subject:?}"
        );
    }
});
