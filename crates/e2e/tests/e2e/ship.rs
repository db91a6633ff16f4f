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
        top_level_wrangler_config_deploys_to_no_environment,
        preview_script_refuses_bad_names_and_overrides,
        only_the_test_command_needs_a_browser,
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
        "/api/broadcast/batch",
        "/api/rooms/{roomId}/stats",
        "/api/rooms/{roomId}/connections",
        "/api/rooms/{roomId}/disconnect",
        "/api/rooms/{roomId}/audit",
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
        (
            "http/broadcast-request.json",
            json!({"roomId":"r","message":{"type":"x"},"userIds":["u1"],"idempotencyKey":"m:1"}),
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
        (
            "http/broadcast-request.json",
            json!({"roomId":"r","message":{"type":"auth:ok"}}),
        ),
        (
            "http/broadcast-request.json",
            json!({"roomId":"r","message":{"type":"x"},"userIds":[]}),
        ),
        (
            "http/broadcast-request.json",
            json!({"roomId":"r","message":{"type":"x"},"idempotencyKey":"a b"}),
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

/// The Worker name every preview deployment gets: this prefix and the preview's name.
const PREVIEW_PREFIX: &str = "nativor-chat-worker-preview-";

/// Running the hub and deploying call the set-up without `--browser`, and it succeeds
/// with no browser at all (here: a `CHROMIUM_PATH` that points nowhere); the test
/// command's set-up asks for one and names both ways to provide it.
async fn only_the_test_command_needs_a_browser(_h: Hubs) {
    let root = repo_root();
    for script in ["dev.sh", "deploy.sh", "preview.sh", "bench.sh"] {
        let text = std::fs::read_to_string(root.join("scripts").join(script)).unwrap();
        assert!(
            text.contains("bash scripts/setup.sh") && !text.contains("setup.sh --browser"),
            "scripts/{script} must run the set-up without --browser"
        );
    }
    let test = std::fs::read_to_string(root.join("scripts/test.sh")).unwrap();
    assert!(test.contains("bash scripts/setup.sh --browser"));
    let setup = |browser: bool| {
        let mut cmd = Command::new("bash");
        cmd.arg("scripts/setup.sh")
            .env("CHROMIUM_PATH", "/nonexistent/chromium");
        if browser {
            cmd.arg("--browser");
        }
        run_command(cmd)
    };
    let (ok, out) = setup(false).await;
    assert!(ok, "the set-up without --browser needs no browser:\n{out}");
    let (ok, out) = setup(true).await;
    assert!(!ok, "a missing browser must fail the test set-up:\n{out}");
    assert!(out.contains("CHROMIUM_PATH"), "{out}");
}

/// Runs a command to completion off the async runtime; (success, stdout + stderr).
async fn run_command(mut cmd: Command) -> (bool, String) {
    let out = tokio::task::spawn_blocking(move || {
        cmd.current_dir(repo_root())
            .env("CI", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .expect("run the command");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Staging and production through `wrangler deploy --dry-run --env <env>`, and a named
/// preview through `scripts/preview.sh deploy <name> --dry-run` (the script itself, so its
/// flags reach wrangler as they would for real): all offline.
async fn deploy_dry_runs_are_valid_and_within_the_size_budget(_h: Hubs) {
    // The longest name the script allows (30 characters): the Worker name stays within 63.
    let preview = "e2e-dry-run-longest-name-30chr";
    assert_eq!(preview.len(), 30);
    assert!(PREVIEW_PREFIX.len() + preview.len() <= 63);
    for (env, origin) in [
        ("staging", "https://api-staging.nativor.com"),
        ("production", "https://api.nativor.com"),
        ("preview", "https://api-staging.nativor.com"),
    ] {
        let outdir = repo_root().join("target/e2e/dry-run").join(env);
        let mut cmd = if env == "preview" {
            let mut cmd = Command::new("bash");
            cmd.arg(repo_root().join("scripts/preview.sh"))
                .args(["deploy", preview, "--dry-run", "--outdir"])
                .env_remove("PREVIEW_WEBHOOK_TOKEN");
            cmd
        } else {
            let mut cmd = Command::new(repo_root().join("node_modules/.bin/wrangler"));
            cmd.args(["deploy", "--dry-run", "--env", env, "--outdir"]);
            cmd
        };
        cmd.arg(&outdir).env("NATIVOR_PREBUILT", "1");
        let (ok, text) = run_command(cmd).await;
        assert!(ok, "{env}: dry run failed:\n{text}");
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
        if env == "preview" {
            let worker = format!("--name {PREVIEW_PREFIX}{preview}");
            assert!(
                text.contains(&worker),
                "preview: not deployed as {worker}:\n{text}"
            );
            assert!(
                text.contains("env.WEBHOOK_TOKEN"),
                "preview: no WEBHOOK_TOKEN secret of its own:\n{text}"
            );
        }
        let kib = gzip_kib(&text).unwrap_or_else(|| panic!("{env}: no size in:\n{text}"));
        println!("bundle ({env}): {kib} KiB gzip (budget {GZIP_BUDGET_KIB} KiB)");
        assert!(
            kib <= GZIP_BUDGET_KIB,
            "{env}: {kib} KiB gzip is over the {GZIP_BUDGET_KIB} KiB budget"
        );
    }
}

/// The top level of wrangler.toml is the local configuration (loopback backend): a plain
/// `wrangler deploy` (no `--env`) must not replace a deployed Worker, so its name is no
/// environment's name; and every `npm run deploy*` / `preview*` script picks an environment.
async fn top_level_wrangler_config_deploys_to_no_environment(_h: Hubs) {
    let text = std::fs::read_to_string(repo_root().join("wrangler.toml")).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().expect("wrangler.toml parses");
    let top = doc["name"].as_str().expect("a top-level name");
    assert!(
        doc.get("routes").is_none() && doc.get("route").is_none(),
        "the top level must have no routes"
    );
    let origin = doc["vars"]["BACKEND_ORIGIN"].as_str().unwrap_or_default();
    assert!(
        origin.starts_with("http://127.0.0.1:"),
        "the top level is the local configuration; BACKEND_ORIGIN is {origin}"
    );
    let envs = doc["env"].as_table_like().expect("[env.*] tables");
    let mut names: Vec<(String, String)> = Vec::new();
    for (env, table) in envs.iter() {
        // wrangler names an environment without its own name `<top-level name>-<env>`.
        let name = table["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{top}-{env}"));
        assert_ne!(
            name, top,
            "[env.{env}] has the top-level name {top}: a plain `wrangler deploy` would replace it"
        );
        names.push((env.to_owned(), name));
    }
    for wanted in ["staging", "production", "preview"] {
        assert!(
            names.iter().any(|(env, _)| env == wanted),
            "no [env.{wanted}]"
        );
    }
    for (i, (env, name)) in names.iter().enumerate() {
        for (other, other_name) in &names[i + 1..] {
            assert_ne!(
                name, other_name,
                "[env.{env}] and [env.{other}] share a name"
            );
        }
    }
    let preview = envs.get("preview").unwrap();
    assert_eq!(
        preview["workers_dev"].as_bool(),
        Some(true),
        "preview: workers_dev"
    );
    assert!(
        preview.get("routes").is_none() && preview.get("route").is_none(),
        "a preview has only its workers.dev URL"
    );

    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("package.json")).unwrap())
            .unwrap();
    let scripts = package["scripts"]
        .as_object()
        .expect("package.json scripts");
    let deployed: Vec<&str> = names
        .iter()
        .filter(|(env, _)| env != "preview")
        .map(|(env, _)| env.as_str())
        .collect();
    let mut deploy_scripts = 0;
    for (script, command) in scripts {
        let command = command.as_str().unwrap_or_default();
        assert!(
            !command.contains("wrangler deploy") && !command.contains("wrangler versions"),
            "npm run {script} calls wrangler directly: {command}"
        );
        if script.starts_with("deploy") {
            deploy_scripts += 1;
            let env = command
                .strip_prefix("bash scripts/deploy.sh ")
                .unwrap_or_else(|| panic!("npm run {script} is not scripts/deploy.sh: {command}"));
            assert!(
                deployed.contains(&env),
                "npm run {script} deploys to {env:?}, not one of {deployed:?}"
            );
        } else if script.starts_with("preview") {
            assert!(
                command.starts_with("bash scripts/preview.sh "),
                "npm run {script} is not scripts/preview.sh: {command}"
            );
        }
    }
    assert!(deploy_scripts >= 2, "{scripts:?}");
}

/// `scripts/preview.sh` refuses, before any set-up, build or network call, a preview name
/// that would not make a valid Worker name, and any argument that would pick another Worker.
async fn preview_script_refuses_bad_names_and_overrides(_h: Hubs) {
    let run = |args: Vec<String>| {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/preview.sh"))
            .args(args)
            // Should a refusal ever regress, wrangler still cannot reach an account.
            .env("CLOUDFLARE_API_TOKEN", "e2e-invalid-token")
            .env("NATIVOR_PREBUILT", "1");
        run_command(cmd)
    };
    let too_long = "a".repeat(31);
    for action in ["deploy", "delete"] {
        for (name, message) in [
            ("", "missing the preview name"),
            ("Feature-1", "invalid preview name 'Feature-1'"),
            ("under_score", "invalid preview name"),
            ("dots.in.name", "invalid preview name"),
            ("with space", "invalid preview name"),
            ("../production", "invalid preview name"),
            ("-lead", "invalid preview name"),
            ("trail-", "invalid preview name"),
            ("caf\u{e9}", "invalid preview name"),
            (too_long.as_str(), "invalid preview name"),
        ] {
            let (ok, text) = run(vec![action.into(), name.into()]).await;
            assert!(!ok, "{action} {name:?} was accepted:\n{text}");
            assert!(text.contains(message), "{action} {name:?}:\n{text}");
            assert!(
                text.contains("lowercase letters, digits and hyphens"),
                "{action} {name:?}: the rule is not stated:\n{text}"
            );
            assert!(!text.contains("==>"), "{action} {name:?} went on:\n{text}");
        }
        for args in [
            vec!["--env", "production"],
            vec!["--env=staging"],
            vec!["--name", "nativor-chat-worker"],
        ] {
            let mut all = vec![action.to_owned(), "ok-name".to_owned()];
            all.extend(args.iter().map(|a| a.to_string()));
            let (ok, text) = run(all).await;
            assert!(!ok, "{action} {args:?} was accepted:\n{text}");
            assert!(
                text.contains("is not allowed"),
                "{action} {args:?}:\n{text}"
            );
            assert!(!text.contains("==>"), "{action} {args:?} went on:\n{text}");
        }
    }
    let (ok, text) = run(vec!["publish".into(), "ok-name".into()]).await;
    assert!(!ok && text.contains("usage:"), "{text}");
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
