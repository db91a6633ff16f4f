//! Property tests of the parsers that face the outside world: whatever arrives, they
//! answer (never panic), and what they accept they keep exactly.

use hub_core::broadcast;
use hub_core::protocol::{parse_client_frame, ClientFrame, ErrorCode, ServerFrame};
use hub_core::room_id::RoomId;
use hub_core::routes::split_url;
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn room_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,128}".prop_filter("not a dot segment", |s| s != "." && s != "..")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn client_frames_never_panic_on_any_text(text in ".{0,300}") {
        let _ = parse_client_frame(&text);
    }

    #[test]
    fn client_frames_never_panic_on_any_bytes_as_lossy_text(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_client_frame(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn any_json_gets_a_verdict_and_only_objects_can_be_events(v in any_json()) {
        let result = parse_client_frame(&v.to_string());
        if !v.is_object() {
            prop_assert_eq!(result.unwrap_err().code, ErrorCode::InvalidEvent);
        }
    }

    #[test]
    fn objects_with_a_random_type_are_unknown_or_valid(kind in ".{0,12}", extra in any_json()) {
        let frame = json!({"type": kind, "x": extra});
        match parse_client_frame(&frame.to_string()) {
            Ok(ClientFrame::Ping { .. }) => prop_assert_eq!(kind, "ping"),
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(e) => prop_assert!(matches!(e.code, ErrorCode::UnknownType | ErrorCode::InvalidEvent)),
        }
    }

    #[test]
    fn ping_echoes_any_t_exactly(t in any_json()) {
        let frame = json!({"type": "ping", "t": t}).to_string();
        let Ok(ClientFrame::Ping { t: Some(raw) }) = parse_client_frame(&frame) else {
            return Err(TestCaseError::fail("ping not parsed"));
        };
        // Byte for byte: the pong carries the very text the client sent.
        prop_assert_eq!(
            ServerFrame::Pong { t: Some(&raw) }.encode(),
            format!(r#"{{"type":"pong","t":{t}}}"#)
        );
    }

    #[test]
    fn typing_accepts_only_booleans(v in any_json()) {
        let result = parse_client_frame(&json!({"type": "typing", "isTyping": v}).to_string());
        match v {
            Value::Bool(b) => prop_assert_eq!(result, Ok(ClientFrame::Typing { is_typing: b })),
            _ => prop_assert_eq!(result.unwrap_err().code, ErrorCode::InvalidEvent),
        }
    }

    #[test]
    fn auth_keeps_valid_fields(token in "[!-~]{1,200}", room in room_id(), user in prop::option::of(".{1,40}")) {
        let frame = json!({"type": "auth", "token": token, "roomId": room, "userId": user});
        match parse_client_frame(&frame.to_string()) {
            Ok(ClientFrame::Auth(a)) => {
                prop_assert_eq!(a.token, token);
                prop_assert_eq!(a.room_id, Some(room));
                prop_assert_eq!(a.user_id, user);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn broadcast_bodies_never_panic(text in ".{0,300}") {
        let _ = broadcast::parse(&text);
    }

    #[test]
    fn broadcast_accepts_any_json_shape_without_panicking(v in any_json()) {
        let _ = broadcast::parse(&v.to_string());
    }

    #[test]
    fn valid_broadcasts_keep_the_message_verbatim(
        room in room_id(),
        kind in ".{1,20}",
        payload in any_json(),
        exclude in prop::collection::vec("[A-Za-z0-9_-]{1,30}", 0..20),
    ) {
        let message = json!({"type": kind, "data": payload}).to_string();
        let body = format!(
            r#"{{"excludeConnectionIds":{},"message":{message},"roomId":{}}}"#,
            json!(exclude), json!(room)
        );
        let b = broadcast::parse(&body).unwrap();
        prop_assert_eq!(b.room_id.as_str(), room.as_str());
        prop_assert_eq!(b.message.get(), message.as_str());
        prop_assert_eq!(b.exclude, exclude);
    }

    #[test]
    fn room_ids_round_trip_through_their_path_segment(room in room_id()) {
        let id = RoomId::parse(&room).unwrap();
        prop_assert_eq!(RoomId::parse_encoded(&id.path_segment()).unwrap(), id);
    }

    #[test]
    fn room_ids_never_contain_path_syntax(raw in ".{0,140}") {
        if let Ok(id) = RoomId::parse(&raw) {
            prop_assert!(!id.as_str().contains(['/', '?', '#', '%', ' ', '\\']));
            prop_assert!(id.as_str() != "." && id.as_str() != "..");
        }
    }
}

proptest! {
    /// The router's cheap URL split agrees with a full WHATWG parse on every URL the
    /// runtime can hand over (it serializes URLs before they reach the Worker).
    #[test]
    fn split_url_agrees_with_a_full_parse(
        host in "[a-z][a-z0-9]{0,10}(\\.[a-z][a-z0-9]{0,4}){0,2}",
        port in proptest::option::of(1u16..),
        path in "(/[^?#]{0,12}){0,4}",
        query in proptest::option::of("[^#]{0,20}"),
        fragment in proptest::option::of(".{0,10}"),
    ) {
        let mut raw = format!("https://{host}");
        if let Some(p) = port {
            raw.push_str(&format!(":{p}"));
        }
        raw.push_str(&path);
        if let Some(q) = &query {
            raw.push_str(&format!("?{q}"));
        }
        if let Some(f) = &fragment {
            raw.push_str(&format!("#{f}"));
        }
        let url = url::Url::parse(&raw).expect("a valid URL by construction");
        let (p, q) = split_url(url.as_str());
        prop_assert_eq!(p, url.path());
        prop_assert_eq!(q, url.query());
    }
}
