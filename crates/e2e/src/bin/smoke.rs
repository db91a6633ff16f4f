//! Smoke test of a running hub (local or deployed).
//!
//! ```text
//! smoke <base-url> <participant-token> <webhook-token> [room-id]
//! ```
//! Connects, authenticates, pings, types from a second connection, broadcasts with
//! exclusion, broadcasts to the token's user id (`userIds`) and to an absent one,
//! repeats a broadcast's `idempotencyKey` (answered as a duplicate, nothing sent), and
//! disconnects the second connection with `reason: "reauth"` (error `reauth_required`,
//! close 4401; the backend's state is untouched) while the first keeps working. It checks
//! every expected frame and every unexpected silence. Exits non-zero with a clear message
//! on the first failure. `base-url` is `https://ws.nativor.com` or `http://127.0.0.1:8787`.

use e2e::{Client, Closed};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(10);
/// How long a connection must stay silent when nothing should reach it.
const QUIET: Duration = Duration::from_secs(1);

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

/// A value no other run shares: the time in nanoseconds and the process id.
fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos}-{}", std::process::id())
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

/// Fails if `c` receives any frame within [`QUIET`]; `after` ends the message.
async fn expect_silence(c: &mut Client, label: &str, after: &str) -> Result<(), String> {
    match c.next_text_within(QUIET).await {
        Some(extra) => Err(format!("{label} received {extra}{after}")),
        None => Ok(()),
    }
}

/// Both connections must stay silent (checked at the same time).
async fn expect_both_silent(
    first: &mut Client,
    second: &mut Client,
    after: &str,
) -> Result<(), String> {
    let (a, b) = tokio::join!(
        expect_silence(first, "the first connection", after),
        expect_silence(second, "the second connection", after)
    );
    a.and(b)
}

/// POSTs `body` with the webhook token; returns the JSON answer of a 200 with
/// `success: true`, or an error naming `what`, the status and the answer.
async fn post(
    http: &reqwest::Client,
    a: &Args,
    path: &str,
    body: &Value,
    what: &str,
) -> Result<Value, String> {
    let resp = http
        .post(format!("{}{path}", a.base))
        .bearer_auth(&a.webhook_token)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    expect(status == 200 && body["success"] == true, || {
        format!("{what} answered {status}: {body}")
    })?;
    Ok(body)
}

async fn broadcast(http: &reqwest::Client, a: &Args, body: &Value) -> Result<Value, String> {
    post(http, a, "/api/broadcast", body, "broadcast").await
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
    let exclude = json!([first.connection_id]);
    let request = json!({"roomId": a.room, "message": message, "excludeConnectionIds": exclude});
    let body = broadcast(&http, &a, &request).await?;
    expect(body["delivered"] == 1, || {
        format!("broadcast should reach exactly the second connection: {body}")
    })?;
    let got = next_json(&mut second, "the broadcast").await?;
    expect(got == message, || format!("expected {message}, got {got}"))?;
    expect_silence(&mut first, "the excluded connection", "").await?;

    step("broadcast to the token's user id (userIds) reaches both connections");
    let user_id = user
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("auth:ok without a userId: {ok}"))?;
    let message = json!({"type": "smoke.targeted", "id": a.room});
    let body = broadcast(
        &http,
        &a,
        &json!({"roomId": a.room, "message": message, "userIds": [user_id]}),
    )
    .await?;
    expect(body["delivered"] == 2, || {
        format!("a broadcast to the user's id should reach both of its connections: {body}")
    })?;
    for (c, label) in [(&mut first, "first"), (&mut second, "second")] {
        let got = next_json(
            c,
            &format!("the targeted broadcast on the {label} connection"),
        )
        .await?;
        expect(got == message, || {
            format!("{label} connection: expected {message}, got {got}")
        })?;
    }

    step("broadcast to an absent user id reaches nobody");
    let nobody = format!("smoke-nobody-{}", unique());
    let message = json!({"type": "smoke.untargeted", "id": a.room});
    let body = broadcast(
        &http,
        &a,
        &json!({"roomId": a.room, "message": message, "userIds": [nobody]}),
    )
    .await?;
    expect(body["delivered"] == 0, || {
        format!("a broadcast to an absent user id should reach nobody: {body}")
    })?;
    expect_both_silent(
        &mut first,
        &mut second,
        " after a broadcast to an absent user id",
    )
    .await?;

    step("a repeated idempotencyKey is answered as a duplicate and sends nothing");
    let key = format!("smoke-{}", unique());
    let message = json!({"type": "smoke.once", "id": a.room});
    let request = json!({"roomId": a.room, "message": message, "idempotencyKey": key});
    let body = broadcast(&http, &a, &request).await?;
    expect(
        body["delivered"] == 2 && body.get("duplicate").is_none(),
        || format!("a new idempotencyKey should reach both connections, not a duplicate: {body}"),
    )?;
    for (c, label) in [(&mut first, "first"), (&mut second, "second")] {
        let got = next_json(c, &format!("the keyed broadcast on the {label} connection")).await?;
        expect(got == message, || {
            format!("{label} connection: expected {message}, got {got}")
        })?;
    }
    let again = broadcast(&http, &a, &request).await?;
    expect(
        again["duplicate"] == true && again["delivered"] == body["delivered"],
        || {
            let n = &body["delivered"];
            format!(
                "a repeated idempotencyKey should answer duplicate:true, delivered {n}: {again}"
            )
        },
    )?;
    expect_both_silent(&mut first, &mut second, " after a repeated idempotencyKey").await?;

    step("disconnect the second connection (reason reauth); the first keeps working");
    let body = post(
        &http,
        &a,
        &format!("/api/rooms/{}/disconnect", a.room),
        &json!({"connectionIds": [second.connection_id], "reason": "reauth"}),
        "disconnect",
    )
    .await?;
    expect(body["disconnected"] == 1, || {
        format!("disconnect should close exactly the second connection: {body}")
    })?;
    let err = next_json(&mut second, "the reauth_required error").await?;
    expect(
        err["type"] == "error" && err["code"] == "reauth_required",
        || format!("the disconnected connection expected error reauth_required, got {err}"),
    )?;
    // closed_within fails the process if its own wait ends; the shorter outer wait ends first.
    let closed = tokio::time::timeout(WAIT, second.closed_within(WAIT + QUIET))
        .await
        .map_err(|_| format!("the disconnected connection was still open after {WAIT:?}"))?;
    expect(
        matches!(closed, (Closed::Code(4401, _), ref frames) if frames.is_empty()),
        || format!("the disconnected connection expected close 4401 after the error: {closed:?}"),
    )?;
    first
        .send_json(&json!({"type": "ping", "t": "smoke-after-disconnect"}))
        .await;
    let pong = next_json(&mut first, "pong after the disconnect").await?;
    let expected = json!({"type": "pong", "t": "smoke-after-disconnect"});
    expect(pong == expected, || {
        format!("the remaining connection expected {expected}, got {pong}")
    })?;

    first.close().await;
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
