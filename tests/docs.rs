//! The documents cannot drift from the code: both READMEs and the error schema list
//! exactly the error codes the hub has, both READMEs list every close code, and the browser
//! client's `CloseCode` (module and declarations) names every close code as Rust does.

use hub_core::protocol::{CloseCode, ErrorCode};
use std::collections::BTreeSet;

const CLOSE_CODES: [CloseCode; 5] = CloseCode::ALL;

/// HTTP error codes of the API (the `error.code` of `/api/*` and room errors).
const HTTP_CODES: [&str; 13] = [
    "invalid_json",
    "invalid_body",
    "reserved_type",
    "invalid_query",
    "unauthorized",
    "method_not_allowed",
    "payload_too_large",
    "not_configured",
    "invalid_room_id",
    "invalid_user_id",
    "upgrade_required",
    "not_found",
    "internal",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ws_codes() -> BTreeSet<String> {
    ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// The backticked codes in the rows of the first table under `heading`.
fn table_codes(doc: &str, heading: &str) -> BTreeSet<String> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| l.split('|').nth(1))
        .filter_map(|cell| {
            cell.trim()
                .strip_prefix('`')?
                .split('`')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

/// The close cells of the English error table, per code (a code may have two rows).
fn close_cells(doc: &str) -> Vec<(String, String)> {
    let start = doc.find("### Errors").expect("an Errors section");
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.split('`').next()?;
            Some((code.to_owned(), cells.get(3)?.to_string()))
        })
        .collect()
}

/// The README's close column says what the one table of error codes (`errors.rs`)
/// says: an error that never closes says "no"; one that closes names its close code.
#[test]
fn the_error_table_closes_as_the_code_does() {
    let cells = close_cells(&read("README.md"));
    assert!(cells.len() >= ErrorCode::ALL.len(), "{cells:?}");
    for code in ErrorCode::ALL {
        let rows: Vec<&String> = cells
            .iter()
            .filter(|(c, _)| c == code.as_str())
            .map(|(_, close)| close)
            .collect();
        assert!(!rows.is_empty(), "{} has no row", code.as_str());
        match code.close_code() {
            None => assert!(
                rows.iter().all(|r| r.as_str() == "no"),
                "{}: never closes, README says {rows:?}",
                code.as_str()
            ),
            Some(close) => assert!(
                rows.iter()
                    .any(|r| r.starts_with(&close.code().to_string())),
                "{}: closes with {}, README says {rows:?}",
                code.as_str(),
                close.code()
            ),
        }
    }
}

#[test]
fn both_readmes_list_every_error_and_close_code() {
    for (file, heading) in [("README.md", "### Errors"), ("README.ko.md", "### 오류")] {
        let doc = read(file);
        assert_eq!(
            table_codes(&doc, heading),
            ws_codes(),
            "{file}: the error table"
        );
        for close in CLOSE_CODES {
            assert!(
                doc.contains(&format!("| {} |", close.code())),
                "{file}: close code {}",
                close.code()
            );
        }
        for code in HTTP_CODES
            .iter()
            .filter(|c| !["not_found", "internal"].contains(c))
        {
            assert!(
                doc.contains(&format!("`{code}`")),
                "{file}: HTTP error {code}"
            );
        }
    }
}

#[test]
fn the_error_schema_lists_exactly_the_hubs_error_codes() {
    let schema: serde_json::Value =
        serde_json::from_str(&read("spec/schemas/ws/server/error.json")).unwrap();
    let listed: BTreeSet<String> = schema["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ws_codes());
    let http: serde_json::Value =
        serde_json::from_str(&read("spec/schemas/http/error-response.json")).unwrap();
    let listed: BTreeSet<&str> = http["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, HTTP_CODES.into_iter().collect());
}

/// `RateLimited` → `RATE_LIMITED`: the browser client's spelling of a Rust variant name.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The `NAME: value` members of the object that follows `decl` in `text` (up to its `}`),
/// each with whether the comment just before it says `@deprecated`.
fn object_members(text: &str, decl: &str, file: &str) -> Vec<(String, u16, bool)> {
    let start = text
        .find(decl)
        .unwrap_or_else(|| panic!("{decl:?} in {file}"))
        + decl.len();
    let body = &text[start..start + text[start..].find('}').expect("end of CloseCode")];
    let mut members = Vec::new();
    let mut deprecated = false;
    for line in body.lines().map(str::trim) {
        if line.starts_with("/*") || line.starts_with('*') {
            deprecated |= line.contains("@deprecated");
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_end_matches([',', ';']);
        let code = value
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{file}: CloseCode.{name} = {value:?}"));
        members.push((name.trim().to_owned(), code, deprecated));
        deprecated = false;
    }
    members
}

#[test]
fn the_web_client_names_every_close_code_as_the_hub_does() {
    for (file, decl) in [
        (
            "clients/web/nativor-chat.js",
            "export const CloseCode = Object.freeze({",
        ),
        (
            "clients/web/nativor-chat.d.ts",
            "export declare const CloseCode: Readonly<{",
        ),
    ] {
        let members = object_members(&read(file), decl, file);
        assert!(
            members.len() >= CLOSE_CODES.len(),
            "{file}: CloseCode members"
        );
        for close in CLOSE_CODES {
            let name = screaming_snake(&format!("{close:?}"));
            let found = members.iter().find(|(n, _, _)| *n == name);
            assert_eq!(
                found.map(|(_, code, deprecated)| (*code, *deprecated)),
                Some((close.code(), false)),
                "{file}: CloseCode.{name} must be {} (the hub's CloseCode::{close:?}), not deprecated",
                close.code()
            );
            // Any other name for the same code is a deprecated alias.
            for (other, _, deprecated) in members
                .iter()
                .filter(|(n, code, _)| *code == close.code() && *n != name)
            {
                assert!(
                    deprecated,
                    "{file}: CloseCode.{other} is {} too: rename it {name}, or mark it @deprecated",
                    close.code()
                );
            }
        }
    }
}
