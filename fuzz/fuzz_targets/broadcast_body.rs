//! Any bytes the broadcast endpoint can receive: the parser answers and never panics,
//! and an accepted message is an object with a string type, kept verbatim.
//! (Checked on JSON syntax, not `serde_json::Value`, which refuses valid numbers such as
//! `8E88888` that the hub rightly delivers unchanged — found by this target.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use hub_core::broadcast;
use serde_json::value::RawValue;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(b) = broadcast::parse(text) {
        let message = b.message.get();
        assert!(text.contains(message));
        let fields: HashMap<String, &RawValue> = serde_json::from_str(message).expect("an object");
        let kind: String = serde_json::from_str(fields["type"].get()).expect("a string type");
        assert!(!kind.is_empty());
    }
});
