//! The hub's own frame types are listed once (`SERVER_FRAME_TYPES`); the schemas and the
//! browser client must agree with that list, so a type added in one place only fails here.

use hub_core::protocol::SERVER_FRAME_TYPES;
use serde_json::Value;
use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn listed() -> BTreeSet<String> {
    SERVER_FRAME_TYPES.iter().map(|t| t.to_string()).collect()
}

/// The double-quoted strings in `text`.
fn quoted(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_hub_frame_type_has_its_own_schema_and_no_other() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/schemas/ws/server");
    let files: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "event.json")
        .collect();
    let expected: BTreeSet<String> = SERVER_FRAME_TYPES
        .iter()
        .map(|t| format!("{}.json", t.replace(':', "-")))
        .collect();
    assert_eq!(
        files, expected,
        "spec/schemas/ws/server/ vs SERVER_FRAME_TYPES"
    );
}

/// The `not.enum` of a type property, as a set.
fn excluded(type_property: &Value, what: &str) -> BTreeSet<String> {
    type_property["not"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not.enum"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn broadcast_events_exclude_exactly_the_hub_frame_types() {
    let schema: Value = serde_json::from_str(&read("spec/schemas/ws/server/event.json")).unwrap();
    assert_eq!(
        excluded(&schema["properties"]["type"], "event.json"),
        listed(),
        "event.json not.enum vs SERVER_FRAME_TYPES"
    );
    // The backend cannot publish them either (400 reserved_type).
    let request: Value =
        serde_json::from_str(&read("spec/schemas/http/broadcast-request.json")).unwrap();
    let message_type = &request["properties"]["message"]["properties"]["type"];
    assert_eq!(
        excluded(message_type, "broadcast-request.json message.type"),
        listed(),
        "broadcast-request.json message.type not.enum vs SERVER_FRAME_TYPES"
    );
}

#[test]
fn the_web_client_knows_exactly_the_hub_frame_types() {
    let js = read("clients/web/nativor-chat.js");
    let listed = listed();
    let decl = "export const HUB_FRAME_TYPES = Object.freeze([";
    let start = js
        .find(decl)
        .expect("HUB_FRAME_TYPES in clients/web/nativor-chat.js")
        + decl.len();
    let array = &js[start..start + js[start..].find(']').expect("end of HUB_FRAME_TYPES")];
    assert_eq!(
        quoted(array),
        listed,
        "HUB_FRAME_TYPES vs SERVER_FRAME_TYPES"
    );

    // Every `case "…":` in the module switches on a frame type.
    let cases: BTreeSet<String> = js
        .lines()
        .filter_map(|l| l.trim().strip_prefix("case \"")?.strip_suffix("\":"))
        .map(str::to_owned)
        .collect();
    assert!(!cases.is_empty(), "no `case \"…\":` found in the parser");
    let unknown: Vec<_> = cases.difference(&listed).collect();
    assert!(
        unknown.is_empty(),
        "the web client handles unlisted frame types {unknown:?}"
    );
}
