//! Rooms bigger than one object, on the `sharded` hub: objects of 2 sockets, 3 objects
//! and 5 sockets per room, so a handful of sockets spans every object of a room. Every
//! promise of a small room holds room-wide: delivery once with exclusion, targeting and
//! keys, one common order, typing, presence, the control plane, resume tickets and
//! revocations, and the room-wide cap.

use crate::support::{backend_post, room};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::time::Duration;

pub fn tests() -> Vec<Test> {
    tests![
        sharded_broadcasts_reach_every_socket_once_with_exclusion_targeting_and_keys,
        sharded_concurrent_broadcasts_arrive_in_one_order_everywhere,
        sharded_typing_and_presence_are_room_wide,
        sharded_presence_limit_counts_distinct_users_room_wide,
        sharded_control_plane_answers_for_the_whole_room,
        sharded_tickets_resume_anywhere_and_revocations_hold_on_new_objects,
        sharded_small_rooms_stay_one_object,
        sharded_objects_hibernate_on_their_own_and_keep_every_promise,
    ]
}

const QUIET: Duration = Duration::from_millis(400);

fn hub(h: &Hubs) -> &Hub {
    h.sharded.as_deref().expect("the sharded hub")
}

/// `n` members of a new room, as users u1..un, joined one after another (so the first
/// two are on the room's first object, the next two on the second, the fifth on the
/// third).
async fn members(hub: &Hub, r: &str, n: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 1..=n {
        let mut c = Client::connect(&hub.room_url(r)).await;
        c.auth(r, &format!("dev:u{i}"), None).await;
        clients.push(c);
    }
    clients
}

fn id(c: &Client) -> String {
    c.connection_id.clone().expect("authenticated")
}

async fn publish(hub: &Hub, body: Value) -> Value {
    let (status, answer) = hub.broadcast(&body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Every client in `got` receives `frame` once (and nothing else for a moment); the
/// others nothing.
async fn only_these_get(clients: &mut [Client], got: &[usize], frame: &Value) {
    for (i, c) in clients.iter_mut().enumerate() {
        if got.contains(&i) {
            assert_eq!(&c.recv().await, frame, "client {i}");
        }
    }
    for c in clients.iter_mut() {
        c.expect_silence(QUIET).await;
    }
}

async fn sharded_broadcasts_reach_every_socket_once_with_exclusion_targeting_and_keys(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-broadcast");
    let mut c = members(hub, &r, 5).await;
    let stats = hub.stats(&r).await;
    assert_eq!(
        (
            &stats["connections"],
            &stats["authenticated"],
            &stats["shards"]
        ),
        (&json!(5), &json!(5), &json!(3)),
        "{stats}"
    );
    // Everyone, once.
    let m = json!({"type": "note", "n": 1});
    let a = publish(hub, json!({"roomId": r, "message": m})).await;
    assert_eq!(a, json!({"success": true, "delivered": 5}));
    only_these_get(&mut c, &[0, 1, 2, 3, 4], &m).await;
    // Excluded sockets on the first and the third object.
    let m = json!({"type": "note", "n": 2});
    let exclude = [id(&c[0]), id(&c[4])];
    let a = publish(
        hub,
        json!({"roomId": r, "message": m, "excludeConnectionIds": exclude}),
    )
    .await;
    assert_eq!(a["delivered"], 3);
    only_these_get(&mut c, &[1, 2, 3], &m).await;
    // Targeted users on the second and third objects.
    let m = json!({"type": "note", "n": 3});
    let a = publish(
        hub,
        json!({"roomId": r, "message": m, "userIds": ["u3", "u5"]}),
    )
    .await;
    assert_eq!(a["delivered"], 2);
    only_these_get(&mut c, &[2, 4], &m).await;
    // A key: once room-wide, and its repeat answers the first total.
    let m = json!({"type": "note", "n": 4});
    let body = json!({"roomId": r, "message": m, "idempotencyKey": "k-shard-1"});
    assert_eq!(publish(hub, body.clone()).await["delivered"], 5);
    only_these_get(&mut c, &[0, 1, 2, 3, 4], &m).await;
    let again = publish(hub, body).await;
    assert_eq!(
        again,
        json!({"success": true, "delivered": 5, "duplicate": true})
    );
    for c in c.iter_mut() {
        c.expect_silence(QUIET).await;
    }
    // The batch publish: the same room-wide total.
    let m = json!({"type": "note", "n": 5});
    let (status, batch) = backend_post(
        hub,
        "/api/broadcast/batch",
        json!({"broadcasts": [{"roomId": r, "message": m}]}).to_string(),
        "http/batch-response.json",
    )
    .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["results"][0]["delivered"], 5, "{batch}");
    only_these_get(&mut c, &[0, 1, 2, 3, 4], &m).await;
    // Reserved types are refused as in any room.
    let (status, _) = hub
        .broadcast(&json!({"roomId": r, "message": {"type": "auth:ok"}}))
        .await;
    assert_eq!(status, 400);
    // The sixth socket: room_full, wherever it would have landed.
    let mut sixth = Client::connect(&hub.room_url(&r)).await;
    sixth.expect_closed_with("room_full", 4503).await;
}

async fn sharded_concurrent_broadcasts_arrive_in_one_order_everywhere(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-order");
    let mut c = members(hub, &r, 5).await;
    let sends = (0..20).map(|n| {
        let body = json!({"roomId": r, "message": {"type": "seq", "n": n}});
        async move { hub.broadcast(&body).await }
    });
    for (status, a) in futures_util::future::join_all(sends).await {
        assert_eq!((status, &a["delivered"]), (200, &json!(5)), "{a}");
    }
    let mut orders = Vec::new();
    for c in c.iter_mut() {
        let mut order = Vec::new();
        for _ in 0..20 {
            order.push(c.recv().await["n"].as_u64().expect("n"));
        }
        c.expect_silence(QUIET).await;
        orders.push(order);
    }
    let mut sorted = orders[0].clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..20).collect::<Vec<u64>>(), "each once");
    assert!(
        orders.iter().all(|o| o == &orders[0]),
        "one order everywhere: {orders:?}"
    );
}

fn presence(event: &str, user: &str) -> Value {
    json!({"type": "presence", "event": event, "userId": user})
}

async fn sharded_typing_and_presence_are_room_wide(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-presence");
    // u1, u2 on the first object; u3 and a second tab of u1 on the second.
    let mut c = Vec::new();
    for (i, user) in ["u1", "u2", "u3", "u1"].into_iter().enumerate() {
        let mut client = Client::connect(&hub.room_url(&r)).await;
        let ok = client.auth(&r, &format!("dev:{user}"), None).await;
        client.see_presence = true;
        let expected: &[&str] = match i {
            0 => &["u1"],
            1 => &["u1", "u2"],
            _ => &["u1", "u2", "u3"],
        };
        assert_eq!(ok["members"], json!(expected), "auth:ok of socket {i}");
        c.push(client);
    }
    // u2 saw u3 join (from the other object) once; u1's second tab was no news.
    assert_eq!(c[0].recv().await, presence("join", "u2"));
    assert_eq!(c[0].recv().await, presence("join", "u3"));
    assert_eq!(c[1].recv().await, presence("join", "u3"));
    for c in c.iter_mut() {
        c.expect_silence(QUIET).await;
    }
    // Typing on the second object reaches every other member, on both objects.
    c[2].send_json(&json!({"type": "typing", "isTyping": true}))
        .await;
    let typing = json!({"type": "typing", "userId": "u3", "isTyping": true});
    for i in [0, 1, 3] {
        assert_eq!(c[i].recv().await, typing, "socket {i}");
    }
    c[2].expect_silence(QUIET).await;
    // Typing on the first object reaches the second.
    c[1].send_json(&json!({"type": "typing", "isTyping": true}))
        .await;
    let typing = json!({"type": "typing", "userId": "u2", "isTyping": true});
    for i in [0, 2, 3] {
        assert_eq!(c[i].recv().await, typing, "socket {i}");
    }
    // u1 leaves only with its last tab, wherever it was.
    let tab = c.remove(3);
    tab.close().await;
    for c in c.iter_mut() {
        c.expect_silence(QUIET).await;
    }
    let first = c.remove(0);
    first.close().await;
    assert_eq!(c[0].recv().await, presence("leave", "u1"));
    assert_eq!(c[1].recv().await, presence("leave", "u1"));
}

async fn sharded_presence_limit_counts_distinct_users_room_wide(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-presence-limit");
    // u1, u2 on the first object, u3, u4 on the second: 4 users, presence on.
    let mut c = members(hub, &r, 4).await;
    for c in c.iter_mut() {
        // The joins still on their way are set aside first.
        c.expect_silence(QUIET).await;
        c.see_presence = true;
    }
    // u5 lands on the third object: the room-wide list as it stood, with u5 in it...
    let mut u5 = Client::connect(&hub.room_url(&r)).await;
    let ok = u5.auth(&r, "dev:u5", None).await;
    assert_eq!(ok["members"], json!(["u1", "u2", "u3", "u4", "u5"]));
    u5.see_presence = true;
    // ...and a fifth distinct user turns presence off everywhere, u5 included.
    let off = json!({"type": "presence", "event": "off", "members": null});
    for (i, c) in c.iter_mut().enumerate() {
        assert_eq!(c.recv().await, off, "socket {i}");
    }
    assert_eq!(u5.recv().await, off);
    // Back within the limit: the whole list, once, on every object.
    u5.close().await;
    let on = json!({"type": "presence", "event": "on", "members": ["u1", "u2", "u3", "u4"]});
    for (i, c) in c.iter_mut().enumerate() {
        assert_eq!(c.recv().await, on, "socket {i}");
        c.expect_silence(QUIET).await;
    }
}

async fn sharded_control_plane_answers_for_the_whole_room(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-control");
    let mut c = members(hub, &r, 5).await;
    let listed = hub.connections(&r).await;
    let ids: Vec<&str> = listed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["connectionId"].as_str())
        .collect();
    let mut expected: Vec<String> = c.iter().map(id).collect();
    let mut got: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every object's connections");
    let audit = hub.audit(&r).await;
    let authenticated = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "authenticated")
        .count();
    assert_eq!(authenticated, 5, "{audit}");
    // A user on the third object, and a connection on the second.
    let path = format!("/api/rooms/{r}/disconnect");
    let body = json!({"userIds": ["u5"], "connectionIds": [id(&c[2])], "reason": "removed"});
    let (status, answer) = backend_post(
        hub,
        &path,
        body.to_string(),
        "http/disconnect-response.json",
    )
    .await;
    assert_eq!(
        (status, &answer["disconnected"]),
        (200, &json!(2)),
        "{answer}"
    );
    c[4].expect_closed_with("removed", 4403).await;
    c[2].expect_closed_with("removed", 4403).await;
    let stats = hub.stats(&r).await;
    assert_eq!(stats["connections"], 3, "{stats}");
}

async fn sharded_tickets_resume_anywhere_and_revocations_hold_on_new_objects(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-resume");
    // Ann's ticket, issued while the room is one object; then the backend disconnects
    // her, before the room has any further object.
    let mut ann = Client::connect(&hub.room_url(&r)).await;
    let old = ann.auth(&r, "dev:ann:ttl=120", None).await["resume"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    let path = format!("/api/rooms/{r}/disconnect");
    let body = json!({"userIds": ["ann"], "reason": "removed"}).to_string();
    let (status, _) = backend_post(hub, &path, body, "http/disconnect-response.json").await;
    assert_eq!(status, 200);
    ann.expect_closed_with("removed", 4403).await;
    // Two members fill the first object: the next sockets land on a second object,
    // opened after the disconnect.
    let _fill = members(hub, &r, 2).await;
    // The old ticket with a token the backend refuses: no fast path, the check says no.
    let mut stale = Client::connect(&hub.room_url(&r)).await;
    stale
        .send_json(&json!({"type": "auth", "token": "bad", "roomId": r, "resume": old}))
        .await;
    stale.expect_closed_with("unauthorized", 4401).await;
    // A ticket issued after the disconnect readmits on the second object without a
    // check (the token alone would be refused).
    let mut again = Client::connect(&hub.room_url(&r)).await;
    let fresh = again.auth(&r, "dev:ann:ttl=120", None).await["resume"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    let stats = hub.stats(&r).await;
    assert_eq!(stats["shards"], 2, "{stats}");
    again.close().await;
    let mut resumed = Client::connect(&hub.room_url(&r)).await;
    resumed
        .send_json(&json!({"type": "auth", "token": "bad", "roomId": r, "resume": fresh}))
        .await;
    let ok = resumed.recv().await;
    assert_eq!(
        (&ok["type"], &ok["userId"]),
        (&json!("auth:ok"), &json!("ann")),
        "{ok}"
    );
    // No check ran, so the further object had no member list for its auth:ok: the
    // room-wide list follows as presence `on`.
    assert_eq!(ok["members"], Value::Null, "{ok}");
    resumed.see_presence = true;
    assert_eq!(
        resumed.recv().await,
        json!({"type": "presence", "event": "on", "members": ["ann", "u1", "u2"]})
    );
}

async fn sharded_small_rooms_stay_one_object(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-small");
    let mut c = members(hub, &r, 2).await;
    let stats = hub.stats(&r).await;
    assert_eq!(
        (&stats["shards"], &stats["connections"]),
        (&json!(1), &json!(2))
    );
    let m = json!({"type": "note"});
    assert_eq!(
        publish(hub, json!({"roomId": r, "message": m})).await["delivered"],
        2
    );
    only_these_get(&mut c, &[0, 1], &m).await;
}

async fn sharded_objects_hibernate_on_their_own_and_keep_every_promise(h: Hubs) {
    let hub = hub(&h);
    let r = room("shard-hibernate");
    let mut c = members(hub, &r, 3).await;
    for c in c.iter_mut() {
        c.see_presence = true;
    }
    assert_eq!(c[0].recv().await, presence("join", "u2"));
    assert_eq!(c[0].recv().await, presence("join", "u3"));
    assert_eq!(c[1].recv().await, presence("join", "u3"));
    let before = hub.instance_started_at(&r).await;
    // Auth timers end 10 s after connecting; the runtime hibernates ~10 s after the
    // last event. No timer of the room keeps either object awake.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let m = json!({"type": "note", "after": "sleep"});
    let a = publish(hub, json!({"roomId": r, "message": m})).await;
    assert_eq!(
        a["delivered"], 3,
        "the new first instance still relays: {a}"
    );
    only_these_get(&mut c, &[0, 1, 2], &m).await;
    assert!(hub.instance_started_at(&r).await > before, "it hibernated");
    // Typing from the further object, which hibernated too.
    c[2].send_json(&json!({"type": "typing", "isTyping": true}))
        .await;
    let typing = json!({"type": "typing", "userId": "u3", "isTyping": true});
    assert_eq!(c[0].recv().await, typing);
    assert_eq!(c[1].recv().await, typing);
    // Presence is still room-wide: a newcomer on the further object sees everyone,
    // and u3's leave reaches the first object's members.
    let mut u4 = Client::connect(&hub.room_url(&r)).await;
    let ok = u4.auth(&r, "dev:u4", None).await;
    assert_eq!(ok["members"], json!(["u1", "u2", "u3", "u4"]));
    for (i, c) in c.iter_mut().enumerate() {
        assert_eq!(c.recv().await, presence("join", "u4"), "socket {i}");
    }
    let u3 = c.remove(2);
    u3.close().await;
    assert_eq!(c[0].recv().await, presence("leave", "u3"));
    assert_eq!(c[1].recv().await, presence("leave", "u3"));
}
