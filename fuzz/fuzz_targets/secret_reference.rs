//! Any `*_SECRET_ARN` value: parsed or refused, never a panic, and never echoed (a value pasted
//! into the wrong setting may be the secret itself).
#![no_main]

use flagger_relay_core::secrets::SecretReference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let _ = SecretReference::parse("RELAY_TOKEN_SECRET_ARN", raw);
    // The same value with a BEL in each of its ARN parts: an error that echoes any part shows it.
    let marked = format!("\u{7}{}\u{7}", raw.replace(':', ":\u{7}"));
    if let Err(err) = SecretReference::parse("RELAY_TOKEN_SECRET_ARN", &marked) {
        let shown = err.to_string();
        assert!(!shown.contains('\u{7}'), "{shown:?}");
    }
});
