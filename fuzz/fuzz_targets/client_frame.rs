//! Any bytes a client can send: the frame parser answers and never panics, and
//! whatever it accepts as a ping echoes back verbatim, as syntactically valid JSON.
//! (Syntax, not `serde_json::Value`: `6E1265` is valid JSON that `Value` refuses as out
//! of range, and the hub rightly echoes it unchanged — found by this target.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use hub_core::protocol::{parse_incoming, ClientFrame, Incoming, ServerFrame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        let _ = parse_incoming(Incoming::Binary, 16 * 1024);
        return;
    };
    if let Ok(ClientFrame::Ping { t }) = parse_incoming(Incoming::Text(text), 16 * 1024) {
        let pong = ServerFrame::Pong { t: t.as_deref() }.encode();
        assert!(serde_json::from_str::<&serde_json::value::RawValue>(&pong).is_ok(), "{pong}");
        if let Some(t) = t {
            assert_eq!(pong, format!(r#"{{"type":"pong","t":{t}}}"#));
        }
    }
});
