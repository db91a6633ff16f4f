//! The published specifications (`spec/`), enforced: every frame a test client receives
//! and every API response the helpers see must match its schema, so the documents
//! cannot silently go stale.

use crate::hub::repo_root;
use hub_core::protocol::SERVER_FRAME_TYPES;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

fn validators() -> &'static HashMap<String, jsonschema::Validator> {
    static V: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    V.get_or_init(|| {
        let mut map = HashMap::new();
        let root = repo_root().join("spec/schemas");
        for dir in ["http", "ws/client", "ws/server"] {
            let entries = std::fs::read_dir(root.join(dir))
                .unwrap_or_else(|e| panic!("spec/schemas/{dir}: {e}"));
            for e in entries.flatten() {
                let path = e.path();
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let schema: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let name = format!(
                    "{dir}/{}",
                    path.file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                );
                map.insert(name, validator);
            }
        }
        map
    })
}

/// Validates `value` against `spec/schemas/<schema>` (e.g. `ws/server/error.json`).
pub fn validate(schema: &str, value: &Value) -> Result<(), String> {
    let v = validators()
        .get(schema)
        .ok_or_else(|| format!("no schema spec/schemas/{schema}"))?;
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{value} does not match spec/schemas/{schema}: {}",
            errors.join("; ")
        ))
    }
}

/// The schema a server frame must match, chosen by its type: a frame type the hub itself
/// sends (`hub_core::protocol::SERVER_FRAME_TYPES`, the one list) has its own
/// `ws/server/<type>.json` (`:` spelled `-`); anything else is a broadcast event. A listed
/// type without a schema file makes [`validate`] fail.
pub fn server_frame_schema(frame: &Value) -> String {
    match frame["type"].as_str() {
        Some(t) if SERVER_FRAME_TYPES.contains(&t) => {
            format!("ws/server/{}.json", t.replace(':', "-"))
        }
        _ => "ws/server/event.json".to_owned(),
    }
}

/// Panics (failing the test) if a frame from the hub breaks the published schemas.
pub fn check_server_frame(frame: &Value) {
    if let Err(e) = validate(&server_frame_schema(frame), frame) {
        panic!("spec violation: {e}");
    }
}

/// Panics if an `/api/*` response body breaks the published schemas.
pub fn check_api_response(status: u16, success_schema: &str, body: &Value) {
    let schema = if status == 200 {
        success_schema
    } else {
        "http/error-response.json"
    };
    if let Err(e) = validate(schema, body) {
        panic!("spec violation (HTTP {status}): {e}");
    }
}
