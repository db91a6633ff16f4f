//! Smoke test of a running hub (local or deployed).
//!
//! ```text
//! smoke <base-url> <participant-token> <webhook-token> [room-id]
//! ```
//! Connects, authenticates, pings, types from a second connection, broadcasts with
//! exclusion, and checks every expected frame. Exits non-zero with a clear message on
//! the first failure. `base-url` is `https://ws.nativor.com` or `http://127.0.0.1:8787`.

use e2e::Client;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(10);

struct Args {
    base: String,
    token: String,
    webhook_token: String,
    room: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let usage = "usage: smoke <base-url> <participant-token> <webhook-token> [room-id]";
    let base = a.next().ok_or(usage)?.trim_end_matches('/').to_owned();
    let token = a.next().ok_or(usage)?;
    let webhook_token = a.next().ok_or(usage)?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // The process id keeps two runs started in the same millisecond (two operators, or
    // two tests) out of each other's room, where each would see the other's sockets.
    let room = a
        .next()
        .unwrap_or_else(|| format!("smoke-{stamp}-{}", std::process::id()));
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "base URL must start with http:// or https://: {base}"
        ));
    }
    Ok(Args {
        base,
        token,
        webhook_token,
        room,
    })
}

fn step(name: &str) {
    println!("… {name}");
}

async fn next_json(c: &mut Client, what: &str) -> Result<Value, String> {
    let text = c
        .next_text_within(WAIT)
        .await
        .ok_or_else(|| format!("no frame within {WAIT:?} while waiting for {what}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{what}: frame is not JSON ({e}): {text}"))
}

fn expect(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

async fn join(ws_base: &str, a: &Args, label: &str) -> Result<(Client, Value), String> {
    let url = format!("{ws_base}/rooms/{}", a.room);
    let mut c = Client::try_connect(&url)
        .await
        .map_err(|e| format!("{label}: cannot connect to {url}: {e}"))?;
    c.send_json(&json!({"type": "auth", "token": a.token, "roomId": a.room}))
        .await;
    let ok = next_json(&mut c, "auth:ok").await?;
    expect(ok["type"] == "auth:ok", || {
        format!("{label}: expected auth:ok, got {ok}")
    })?;
    let cid = ok["connectionId"]
        .as_str()
        .ok_or_else(|| format!("{label}: auth:ok without connectionId: {ok}"))?;
    c.connection_id = Some(cid.to_owned());
    Ok((c, ok))
}

async fn run(a: Args) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .map_err(|e| e.to_string())?;
    let ws_base = a.base.replacen("http", "ws", 1);

    step("GET /healthz");
    let r = http
        .get(format!("{}/healthz", a.base))
        .send()
        .await
        .map_err(|e| format!("healthz: {e}"))?;
    expect(r.status().as_u16() == 200, || {
        format!("healthz answered {}", r.status())
    })?;

    step(&format!("connect and authenticate in room {}", a.room));
    let (mut first, ok) = join(&ws_base, &a, "first connection").await?;
    let user = ok["userId"].clone();

    step("ping → pong");
    first
        .send_json(&json!({"type": "ping", "t": "smoke"}))
        .await;
    let pong = next_json(&mut first, "pong").await?;
    expect(pong == json!({"type": "pong", "t": "smoke"}), || {
        format!("expected pong, got {pong}")
    })?;

    step("typing from a second connection reaches the first");
    let (mut second, _) = join(&ws_base, &a, "second connection").await?;
    second
        .send_json(&json!({"type": "typing", "isTyping": true}))
        .await;
    let typing = next_json(&mut first, "typing").await?;
    let expected = json!({"type": "typing", "userId": user, "isTyping": true});
    expect(typing == expected, || {
        format!("expected {expected}, got {typing}")
    })?;

    step("broadcast excluding the first connection");
    let message = json!({"type": "smoke.check", "id": a.room});
    let resp = http
        .post(format!("{}/api/broadcast", a.base))
        .bearer_auth(&a.webhook_token)
        .json(&json!({"roomId": a.room, "message": message, "excludeConnectionIds": [first.connection_id]}))
        .send()
        .await
        .map_err(|e| format!("broadcast: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    expect(status == 200 && body["success"] == true, || {
        format!("broadcast answered {status}: {body}")
    })?;
    expect(body["delivered"] == 1, || {
        format!("broadcast should reach exactly the second connection: {body}")
    })?;
    let got = next_json(&mut second, "the broadcast").await?;
    expect(got == message, || format!("expected {message}, got {got}"))?;
    if let Some(extra) = first.next_text_within(Duration::from_secs(1)).await {
        return Err(format!("the excluded connection received {extra}"));
    }

    first.close().await;
    second.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let base = args.base.clone();
    match run(args).await {
        Ok(()) => {
            println!("smoke test passed against {base}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("SMOKE TEST FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
