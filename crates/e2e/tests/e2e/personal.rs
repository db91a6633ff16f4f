//! Personal channels (`/users/:userId`): one socket per person for the conversation
//! list, devices and who is online. The channel and the sessions check's answers, the
//! per-user cap, every backend endpoint under `/api/users/`, and watchlists: online at
//! once, offline once after the delay (a reload says nothing), the bound, and a user
//! object with watchers that hibernates.

use crate::support::{assert_gated, backend_post, joined, room};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::time::Duration;

pub fn tests() -> Vec<Test> {
    tests![
        personal_channel_admits_its_own_user_only,
        personal_sessions_check_answers_decide_like_a_rooms,
        personal_backend_endpoints_publish_read_and_disconnect,
        personal_watchers_hear_online_at_once_and_offline_once_after_the_delay,
        personal_user_objects_with_watchers_hibernate_and_keep_them,
        personal_a_message_in_a_room_updates_every_participants_conversation_list,
        tight_personal_sockets_past_the_cap_get_4409,
        tight_personal_watchers_past_the_bound_read_the_state_only,
    ]
}

const QUIET: Duration = Duration::from_millis(400);
/// The `main` hub's OFFLINE_DELAY_MS (the default).
const OFFLINE_DELAY: Duration = Duration::from_millis(3_000);

/// A user id no other test (or earlier run) uses.
fn user(name: &str) -> String {
    room(name)
}

fn user_url(hub: &Hub, user: &str) -> String {
    format!("{}/users/{user}", hub.ws_origin)
}

/// Sends a personal channel's auth; returns the next frame.
async fn auth_as(c: &mut Client, user: &str, token: &str) -> Value {
    c.send_json(&json!({"type": "auth", "token": token, "userId": user}))
        .await;
    c.recv().await
}

/// A personal socket of `user`, authenticated, watching `watch`; and its `auth:ok`.
async fn signed_in(hub: &Hub, user: &str, watch: &[&str]) -> (Client, Value) {
    let mut c = Client::connect(&user_url(hub, user)).await;
    let ok = auth_as(
        &mut c,
        user,
        &format!("dev:{user}:watch={}", watch.join(",")),
    )
    .await;
    assert_eq!(ok["type"], "auth:ok", "{ok}");
    c.connection_id = ok["connectionId"].as_str().map(str::to_owned);
    (c, ok)
}

fn status(user: &str, online: bool) -> Value {
    json!({"type": "user:status", "userId": user, "online": online})
}

async fn personal_channel_admits_its_own_user_only(h: Hubs) {
    let hub = &h.main;
    let ann = user("ann");
    let (mut c, ok) = signed_in(hub, &ann, &[]).await;
    assert_eq!(ok["userId"], ann.as_str());
    assert_eq!(ok["online"], json!([]));
    assert!(ok.get("members").is_none(), "presence is a room's: {ok}");
    assert!(ok["resume"].is_string(), "the main hub signs tickets: {ok}");
    // The sessions check: the user's own path, the token as Bearer, user and connection.
    let path = format!("/api/v1/users/{ann}/sessions/check");
    let checks: Vec<_> = hub
        .backend
        .state
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(
        checks[0].authorization.as_deref(),
        Some(format!("Bearer dev:{ann}:watch=").as_str())
    );
    assert_eq!(
        checks[0].body,
        json!({"userId": ann, "connectionId": ok["connectionId"]})
    );
    // Typing is a conversation's; ping is everyone's.
    c.send_json(&json!({"type": "typing", "isTyping": true}))
        .await;
    c.expect_error("unknown_type").await;
    c.send_json(&json!({"type": "ping", "t": 7})).await;
    assert_eq!(c.recv().await, json!({"type": "pong", "t": 7}));
    // `/users?user=` is the same channel; a room's ticket opens none of it.
    let mut q = Client::connect(&format!("{}/users?user={ann}", hub.ws_origin)).await;
    let again = auth_as(&mut q, &ann, &format!("dev:{ann}")).await;
    assert_eq!(again["type"], "auth:ok", "{again}");
    // Another user's id: refused at once; no id: asked again.
    let mut other = Client::connect(&user_url(hub, &ann)).await;
    other
        .send_json(&json!({"type": "auth", "token": format!("dev:{ann}")}))
        .await;
    other.expect_error("invalid_event").await;
    other
        .send_json(&json!({"type": "auth", "token": "dev:bob", "userId": "bob"}))
        .await;
    other.expect_closed_with("user_mismatch", 4403).await;
    // Over HTTP: no upgrade, no socket; a bad id, a clear error.
    let resp = hub
        .http
        .get(format!("{}/users/{ann}", hub.origin))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 426);
    let resp = hub
        .http
        .get(format!("{}/users/a%00b", hub.origin))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "invalid_user_id");
}

async fn personal_sessions_check_answers_decide_like_a_rooms(h: Hubs) {
    let hub = &h.main;
    let ann = user("ann");
    for (token, code) in [
        ("deny:x".to_owned(), "unauthorized"),
        ("status:503".to_owned(), "auth_unavailable"),
        // The backend names someone else: not this channel's user.
        ("dev:someone-else".to_owned(), "identity_changed"),
        // A watchlist the hub cannot read fails closed.
        (format!("dev:{ann}:watch=a,,b"), "auth_unavailable"),
    ] {
        let mut c = Client::connect(&user_url(hub, &ann)).await;
        c.send_json(&json!({"type": "auth", "token": token, "userId": ann}))
            .await;
        c.expect_closed_with(code, 4401).await;
    }
    // A token with an expiry: `expiresAt` as in a room.
    let mut c = Client::connect(&user_url(hub, &ann)).await;
    let ok = auth_as(&mut c, &ann, &format!("dev:{ann}:ttl=60")).await;
    assert!(ok["expiresAt"].as_u64().is_some(), "{ok}");
}

async fn personal_backend_endpoints_publish_read_and_disconnect(h: Hubs) {
    let hub = &h.main;
    let (a, b, nobody) = (user("a"), user("b"), user("nobody"));
    let (mut a1, _) = signed_in(hub, &a, &[]).await;
    let (mut a2, _) = signed_in(hub, &a, &[]).await;
    let (mut b1, _) = signed_in(hub, &b, &[]).await;
    for (path, method) in [
        ("/api/users/broadcast", reqwest::Method::POST),
        ("/api/users/status", reqwest::Method::POST),
        (
            &*format!("/api/users/{a}/disconnect"),
            reqwest::Method::POST,
        ),
        (
            &*format!("/api/users/{a}/connections"),
            reqwest::Method::GET,
        ),
    ] {
        assert_gated(hub, path, method).await;
    }
    let publish = |body: Value| {
        backend_post(
            hub,
            "/api/users/broadcast",
            body.to_string(),
            "http/users-broadcast-response.json",
        )
    };
    // Every socket of every listed user, once, verbatim; a user listed twice counts once.
    let m = json!({"type": "conversation:updated", "roomId": "r1", "n": 1});
    let key = room("key");
    let body = json!({"userIds": [a, b, a], "message": m, "idempotencyKey": key});
    let (s, answer) = publish(body.clone()).await;
    assert_eq!(
        (s, &answer),
        (
            200,
            &json!({"success": true, "delivered": 3, "duplicate": false})
        )
    );
    for c in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(c.recv().await, m);
    }
    // The same key again: every object had seen it.
    let (_, answer) = publish(body).await;
    assert_eq!(
        answer,
        json!({"success": true, "delivered": 3, "duplicate": true})
    );
    // One object new to the key: what was sent now, not a duplicate.
    let (mut n1, _) = signed_in(hub, &nobody, &[]).await;
    let (_, answer) =
        publish(json!({"userIds": [a, nobody], "message": m, "idempotencyKey": key})).await;
    assert_eq!(
        answer,
        json!({"success": true, "delivered": 1, "duplicate": false})
    );
    assert_eq!(n1.recv().await, m);
    // Exclusions, and the room broadcast's refusals.
    let skip = a1.connection_id.clone().expect("id");
    let m2 = json!({"type": "read", "n": 2});
    let (_, answer) =
        publish(json!({"userIds": [a], "message": m2, "excludeConnectionIds": [skip]})).await;
    assert_eq!(answer["delivered"], 1);
    assert_eq!(a2.recv().await, m2);
    let (s, answer) = publish(json!({"userIds": [a], "message": {"type": "user:status"}})).await;
    assert_eq!(
        (s, &answer["error"]["code"]),
        (400, &json!("reserved_type"))
    );
    let (s, _) = publish(json!({"userIds": [], "message": m})).await;
    assert_eq!(s, 400);
    for c in [&mut a1, &mut a2, &mut b1, &mut n1] {
        c.expect_silence(QUIET).await;
    }
    // Status, in request order.
    let quiet = user("quiet");
    let (s, answer) = backend_post(
        hub,
        "/api/users/status",
        json!({"userIds": [b, quiet, a]}).to_string(),
        "http/users-status-response.json",
    )
    .await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        answer["users"],
        json!([
            {"userId": b, "online": true, "connections": 1},
            {"userId": quiet, "online": false, "connections": 0},
            {"userId": a, "online": true, "connections": 2},
        ])
    );
    // Connections, as a room lists its own.
    let resp = hub
        .http
        .get(format!("{}/api/users/{a}/connections", hub.origin))
        .bearer_auth(crate::support::WEBHOOK_TOKEN)
        .send()
        .await
        .expect("connections");
    assert_eq!(resp.status().as_u16(), 200);
    let listed: Value = resp.json().await.expect("JSON");
    e2e::spec::check_api_response(200, "http/connections-response.json", &listed);
    assert_eq!(listed["connections"].as_array().map(Vec::len), Some(2));
    // Disconnect one socket, then every socket of the user.
    let path = format!("/api/users/{a}/disconnect");
    let disconnect = |body: Value| {
        backend_post(
            hub,
            &path,
            body.to_string(),
            "http/disconnect-response.json",
        )
    };
    let (_, answer) = disconnect(json!({"connectionIds": [a1.connection_id]})).await;
    assert_eq!(answer["disconnected"], 1);
    a1.expect_closed_with("removed", 4403).await;
    let (_, answer) = disconnect(json!({"reason": "reauth"})).await;
    assert_eq!(answer["disconnected"], 1);
    a2.expect_closed_with("reauth_required", 4401).await;
    b1.expect_silence(QUIET).await;
}

async fn personal_watchers_hear_online_at_once_and_offline_once_after_the_delay(h: Hubs) {
    let hub = &h.main;
    let (ann, bob, cy) = (user("ann"), user("bob"), user("cy"));
    let (mut a, ok) = signed_in(hub, &ann, &[&bob, &cy]).await;
    assert_eq!(ok["online"], json!([]));
    // Bob's first socket: Ann hears it at once; his second tab says nothing.
    let (b1, _) = signed_in(hub, &bob, &[]).await;
    assert_eq!(a.recv().await, status(&bob, true));
    let (b2, _) = signed_in(hub, &bob, &[]).await;
    a.expect_silence(QUIET).await;
    // Someone who starts watching now reads it in their auth:ok.
    let (_d, ok) = signed_in(hub, &user("dee"), &[&bob, &ann]).await;
    let mut online: Vec<String> = serde_json::from_value(ok["online"].clone()).expect("list");
    online.sort();
    let mut expected = vec![ann.clone(), bob.clone()];
    expected.sort();
    assert_eq!(online, expected);
    // A reload (every tab closes, one comes back within the delay): nothing told.
    b1.close().await;
    b2.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (b3, _) = signed_in(hub, &bob, &[]).await;
    a.expect_silence(OFFLINE_DELAY + Duration::from_secs(1))
        .await;
    // Gone for good: offline after the delay, and only once.
    b3.close().await;
    let started = std::time::Instant::now();
    assert_eq!(
        a.recv_within(OFFLINE_DELAY + Duration::from_secs(5)).await,
        status(&bob, false)
    );
    assert!(
        started.elapsed() >= OFFLINE_DELAY - Duration::from_millis(200),
        "offline came after {:?}",
        started.elapsed()
    );
    a.expect_silence(Duration::from_secs(2)).await;
    let (_, answer) = backend_post(
        hub,
        "/api/users/status",
        json!({"userIds": [bob]}).to_string(),
        "http/users-status-response.json",
    )
    .await;
    assert_eq!(answer["users"][0]["online"], false);
}

async fn personal_user_objects_with_watchers_hibernate_and_keep_them(h: Hubs) {
    let hub = &h.main;
    let (ann, bob) = (user("ann"), user("bob"));
    let (mut a, _) = signed_in(hub, &ann, &[&bob]).await;
    // Ann's object holds her socket and no timer, Bob's holds only Ann as a watcher:
    // the runtime hibernates the one and evicts the other ~10 s after their last event.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let (b, _) = signed_in(hub, &bob, &[]).await;
    assert_eq!(a.recv().await, status(&bob, true), "Bob's object kept Ann");
    b.close().await;
    assert_eq!(
        a.recv_within(OFFLINE_DELAY + Duration::from_secs(5)).await,
        status(&bob, false)
    );
}

async fn personal_a_message_in_a_room_updates_every_participants_conversation_list(h: Hubs) {
    let hub = &h.main;
    let r = room("conversation");
    let (ann, bob) = (user("ann"), user("bob"));
    // Both take part in the room (the development backend counts who its checks admitted);
    // Bob has another room open, and his personal channel.
    let _ann_in_room = joined(hub, &r, &ann).await;
    let _bob_in_room = joined(hub, &r, &bob).await;
    let (mut b, _) = signed_in(hub, &bob, &[]).await;
    let resp = hub
        .http
        .post(format!(
            "{}/api/v1/message-rooms/{r}/messages",
            hub.backend.origin()
        ))
        .bearer_auth(format!("dev:{ann}"))
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .expect("post a message");
    assert_eq!(resp.status().as_u16(), 201);
    let update = b.recv().await;
    assert_eq!(update["type"], "conversation:updated", "{update}");
    assert_eq!(update["roomId"], r.as_str());
    assert_eq!(update["message"]["userId"], ann.as_str());
    assert_eq!(update["message"]["preview"], "hi");
    b.expect_silence(QUIET).await;
}

fn tight(h: &Hubs) -> &Hub {
    h.tight.as_deref().expect("the tight hub")
}

async fn tight_personal_sockets_past_the_cap_get_4409(h: Hubs) {
    let hub = tight(&h);
    let ann = user("ann");
    // The tight hub allows 2 personal sockets per user.
    let (_one, _) = signed_in(hub, &ann, &[]).await;
    let (two, _) = signed_in(hub, &ann, &[]).await;
    let mut three = Client::connect(&user_url(hub, &ann)).await;
    three
        .send_json(&json!({"type": "auth", "token": format!("dev:{ann}"), "userId": ann}))
        .await;
    three.expect_closed_with("too_many_connections", 4409).await;
    // A place comes free: the next one is admitted.
    two.close().await;
    tokio::time::sleep(QUIET).await;
    let (_four, ok) = signed_in(hub, &ann, &[]).await;
    assert_eq!(ok["type"], "auth:ok");
}

async fn tight_personal_watchers_past_the_bound_read_the_state_only(h: Hubs) {
    let hub = tight(&h);
    let (star, first, late) = (user("star"), user("first"), user("late"));
    let (s, _) = signed_in(hub, &star, &[]).await;
    // The tight hub keeps 1 watcher per user: the first registers, the late one reads.
    let (mut w1, ok1) = signed_in(hub, &first, &[&star]).await;
    let (mut w2, ok2) = signed_in(hub, &late, &[&star]).await;
    assert_eq!(ok1["online"], json!([star]));
    assert_eq!(
        ok2["online"],
        json!([star]),
        "the state now, past the bound too"
    );
    s.close().await;
    // The tight hub's OFFLINE_DELAY_MS is 1,500.
    assert_eq!(
        w1.recv_within(Duration::from_secs(8)).await,
        status(&star, false)
    );
    w2.expect_silence(Duration::from_secs(2)).await;
}
