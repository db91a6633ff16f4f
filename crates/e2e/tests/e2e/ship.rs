//! Shipping: deploy configurations validated offline, and the smoke test of a hub.

use crate::support::WEBHOOK_TOKEN;
use e2e::hub::repo_root;
use e2e::runner::{Hubs, Test};
use e2e::tests;
use std::process::{Command, Stdio};

/// The gzip size the deployed bundle (Worker script + wasm) must stay under.
pub const GZIP_BUDGET_KIB: f64 = 300.0;

pub fn tests() -> Vec<Test> {
    tests![
        deploy_dry_runs_are_valid_and_within_the_size_budget,
        smoke_script_passes_against_the_local_hub,
        smoke_script_fails_clearly,
        spec_documents_are_consistent,
    ]
}

/// Every `$ref` of the OpenAPI document resolves, and the schemas accept what the
/// protocol allows and refuse what it does not.
async fn spec_documents_are_consistent(_h: Hubs) {
    let spec = repo_root().join("spec");
    let openapi: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spec.join("openapi.json")).unwrap()).unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    for path in [
        "/healthz",
        "/api/broadcast",
        "/api/rooms/{roomId}/stats",
        "/rooms/{roomId}",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    let text = openapi.to_string();
    let refs: Vec<&str> = text
        .split("\"$ref\":\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .collect();
    assert!(refs.len() >= 10, "{refs:?}");
    for r in refs {
        assert!(spec.join(r).is_file(), "unresolved $ref {r}");
    }
    use e2e::spec::validate;
    use serde_json::json;
    let ok = [
        (
            "ws/client/auth.json",
            json!({"type":"auth","token":"dev:a","roomId":"room-1","userId":null}),
        ),
        (
            "ws/client/typing.json",
            json!({"type":"typing","isTyping":false}),
        ),
        (
            "ws/client/ping.json",
            json!({"type":"ping","t":{"any":[1]}}),
        ),
        (
            "http/broadcast-request.json",
            json!({"roomId":"r","message":{"type":"x"},"excludeConnectionIds":["a"]}),
        ),
    ];
    for (schema, v) in ok {
        validate(schema, &v).unwrap();
    }
    let bad = [
        (
            "ws/client/auth.json",
            json!({"type":"auth","token":"","roomId":"r"}),
        ),
        (
            "ws/client/auth.json",
            json!({"type":"auth","token":"a b","roomId":"r"}),
        ),
        (
            "ws/client/auth.json",
            json!({"type":"auth","token":"t","roomId":".."}),
        ),
        (
            "ws/client/typing.json",
            json!({"type":"typing","isTyping":"yes"}),
        ),
        (
            "ws/server/error.json",
            json!({"type":"error","code":"made_up","message":"m"}),
        ),
        ("ws/server/event.json", json!({"type":"pong"})),
        (
            "http/broadcast-request.json",
            json!({"roomId":"a/b","message":{"type":"x"}}),
        ),
        (
            "http/broadcast-request.json",
            json!({"roomId":"r","message":{"id":1}}),
        ),
    ];
    for (schema, v) in bad {
        assert!(validate(schema, &v).is_err(), "{schema} accepted {v}");
    }
}

fn gzip_kib(output: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.contains("Total Upload"))?;
    let gzip = line.split("gzip:").nth(1)?.trim();
    gzip.split_whitespace().next()?.parse().ok()
}

async fn deploy_dry_runs_are_valid_and_within_the_size_budget(_h: Hubs) {
    for (env, origin) in [
        ("staging", "https://api-staging.nativor.com"),
        ("production", "https://api.nativor.com"),
    ] {
        let outdir = repo_root().join("target/e2e/dry-run").join(env);
        let out = tokio::task::spawn_blocking(move || {
            Command::new(repo_root().join("node_modules/.bin/wrangler"))
                .current_dir(repo_root())
                .args(["deploy", "--dry-run", "--env", env, "--outdir"])
                .arg(&outdir)
                .env("CI", "1")
                .env("NATIVOR_PREBUILT", "1")
                .env("WRANGLER_SEND_METRICS", "false")
                .stdin(Stdio::null())
                .output()
        })
        .await
        .unwrap()
        .expect("run wrangler deploy --dry-run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{env}: dry run failed:\n{text}");
        assert!(
            text.contains("env.Chat (ChatRoom)"),
            "{env}: no Chat binding:\n{text}"
        );
        assert!(
            text.contains("env.ASSETS"),
            "{env}: no ASSETS binding:\n{text}"
        );
        assert!(
            text.contains(origin),
            "{env}: BACKEND_ORIGIN should be {origin}:\n{text}"
        );
        let kib = gzip_kib(&text).unwrap_or_else(|| panic!("{env}: no size in:\n{text}"));
        println!("bundle ({env}): {kib} KiB gzip (budget {GZIP_BUDGET_KIB} KiB)");
        assert!(
            kib <= GZIP_BUDGET_KIB,
            "{env}: {kib} KiB gzip is over the {GZIP_BUDGET_KIB} KiB budget"
        );
    }
}

async fn run_smoke(args: Vec<String>) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_smoke"))
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("smoke finished in time")
        .expect("run smoke");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn smoke_script_passes_against_the_local_hub(h: Hubs) {
    let (ok, text) = run_smoke(vec![
        h.main.origin.clone(),
        "dev:smoker".into(),
        WEBHOOK_TOKEN.into(),
    ])
    .await;
    assert!(ok, "{text}");
    assert!(text.contains("smoke test passed"), "{text}");
}

async fn smoke_script_fails_clearly(h: Hubs) {
    let (ok, text) = run_smoke(vec![
        h.main.origin.clone(),
        "dev:smoker".into(),
        "wrong-token".into(),
    ])
    .await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("SMOKE TEST FAILED: broadcast answered 401"),
        "{text}"
    );
    let (ok, text) = run_smoke(vec![
        h.main.origin.clone(),
        "deny:me".into(),
        WEBHOOK_TOKEN.into(),
    ])
    .await;
    assert!(!ok, "{text}");
    assert!(text.contains("expected auth:ok"), "{text}");
}
