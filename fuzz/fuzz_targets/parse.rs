//! Any request body: parsing answers an event or an error, never a panic.
#![no_main]

use flagger_relay_core::{CanaryEvent, Notification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = CanaryEvent::from_slice(body);
    if let Ok(notification) = Notification::from_slice(body) {
        let _ = notification.classify();
    }
});
