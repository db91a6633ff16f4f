//! Any bytes the broadcast endpoint can receive: the parser answers and never panics,
//! and an accepted message is an object with a string type, kept verbatim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativor_chat_worker::broadcast;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(b) = broadcast::parse(text) {
        let message = b.message.get();
        assert!(message.starts_with('{'));
        assert!(text.contains(message));
        let v: serde_json::Value = serde_json::from_str(message).expect("valid JSON");
        assert!(v["type"].is_string());
    }
});
