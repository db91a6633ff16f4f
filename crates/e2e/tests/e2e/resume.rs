//! Resume tickets: after a deploy, clients get back in without a participants check
//! each; any ticket the hub cannot trust falls back to the check.

use crate::support::{backend_post, joined, room};
use crate::{RESUME_SECRET, RESUME_SECRET_PREVIOUS};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Hub};
use hub_core::resume::{issue, Domain, Secret};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn tests() -> Vec<Test> {
    tests![
        a_ticket_readmits_without_calling_the_backend,
        tickets_the_hub_cannot_trust_fall_back_to_the_check,
        a_disconnect_revokes_the_tickets_issued_before_it,
        a_disconnect_in_a_room_without_tables_still_revokes,
        a_ticket_longer_than_the_ttl_falls_back_to_the_check,
        the_previous_secret_still_verifies_after_a_rotation,
        tight_hub_without_a_secret_issues_and_reads_no_tickets,
    ]
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn secret(s: &str) -> Secret {
    Secret::new(s).expect("a secret")
}

/// Authenticates a new socket with `token` and `ticket`; its `auth:ok`, and how many
/// participants checks the backend received for the room meanwhile.
async fn auth_with_ticket(hub: &Hub, room: &str, token: &str, ticket: &str) -> (Value, usize) {
    let before = hub.checks_for(room).len();
    let mut c = Client::connect(&hub.room_url(room)).await;
    c.send_json(&json!({"type": "auth", "token": token, "roomId": room, "resume": ticket}))
        .await;
    let ok = c.recv().await;
    assert_eq!(ok["type"], "auth:ok", "{ok}");
    (ok, hub.checks_for(room).len() - before)
}

/// A socket as `user`; its ticket.
async fn ticket_of(hub: &Hub, room: &str, token: &str) -> String {
    let mut c = Client::connect(&hub.room_url(room)).await;
    let ok = c.auth(room, token, None).await;
    c.close().await;
    ok["resume"].as_str().expect("a resume ticket").to_owned()
}

async fn a_ticket_readmits_without_calling_the_backend(h: Hubs) {
    let r = room("resume");
    let mut first = Client::connect(&h.main.room_url(&r)).await;
    let ok = first.auth(&r, "dev:ann:ttl=120", None).await;
    let ticket = ok["resume"].as_str().expect("a ticket").to_owned();
    let expires = ok["expiresAt"].as_u64().expect("expiresAt");
    assert_eq!(h.main.checks_for(&r).len(), 1);
    first.close().await;
    // The reconnect: in at once, as ann, with the ticket's expiry (the token's, sooner
    // than RESUME_TTL_MS) and the same ticket, under a new connection id; the backend
    // was not asked.
    let (again, checks) = auth_with_ticket(&h.main, &r, "dev:ann:ttl=120", &ticket).await;
    assert_eq!(checks, 0, "the backend was called: {again}");
    assert_eq!(again["userId"], "ann");
    assert_eq!(again["resume"], ticket.as_str());
    assert_eq!(again["expiresAt"], expires);
    assert_ne!(again["connectionId"], ok["connectionId"]);
    // Twice, even: a ticket is good until it expires.
    let (_, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &ticket).await;
    assert_eq!(checks, 0);
    // Without an expiry from the backend, a ticket lives RESUME_TTL_MS (10 min).
    let t = ticket_of(&h.main, &r, "dev:bob").await;
    let (ok, _) = auth_with_ticket(&h.main, &r, "dev:bob", &t).await;
    let at = ok["expiresAt"].as_u64().expect("the ticket's expiry");
    assert!(at > now_ms() + 590_000 && at <= now_ms() + 600_000, "{ok}");
    // The audit says which sockets were resumed.
    let audit = h.main.audit(&r).await;
    let resumed = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "resumed")
        .count();
    assert_eq!(resumed, 3, "{audit}");
}

async fn tickets_the_hub_cannot_trust_fall_back_to_the_check(h: Hubs) {
    let r = room("resume-bad");
    let other = room("resume-other");
    let good = ticket_of(&h.main, &r, "dev:ann").await;
    let elsewhere = ticket_of(&h.main, &other, "dev:ann").await;
    let now = now_ms();
    let expired = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &r,
        "ann",
        now - 60_000,
        now - 1,
    );
    let (payload, mac) = good.split_once('.').expect("payload.mac");
    let mut flipped: Vec<char> = mac.chars().collect();
    flipped[0] = if flipped[0] == 'A' { 'B' } else { 'A' };
    let tampered_mac = format!("{payload}.{}", flipped.into_iter().collect::<String>());
    // Another user in the payload, the MAC kept.
    let forged_payload = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &r,
        "mallory",
        now,
        now + 60_000,
    );
    let forged = format!("{}.{mac}", forged_payload.split_once('.').unwrap().0);
    for (what, ticket) in [
        ("tampered MAC", tampered_mac),
        ("forged payload", forged),
        ("another room", elsewhere),
        ("expired", expired),
        ("malformed", "not-a-ticket".to_owned()),
    ] {
        let (ok, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &ticket).await;
        assert_eq!(checks, 1, "{what}: no participants check");
        assert_eq!(ok["userId"], "ann", "{what}");
        // A real check issues a fresh ticket.
        assert_ne!(ok["resume"], ticket.as_str(), "{what}");
    }
    // A bad ticket alone never refuses a client; the check still decides.
    let mut c = Client::connect(&h.main.room_url(&r)).await;
    c.send_json(&json!({"type": "auth", "token": "deny:x", "roomId": r, "resume": "junk"}))
        .await;
    c.expect_closed_with("unauthorized", 4401).await;
}

async fn a_disconnect_revokes_the_tickets_issued_before_it(h: Hubs) {
    let r = room("resume-revoked");
    let mut ann = Client::connect(&h.main.room_url(&r)).await;
    let ok = ann.auth(&r, "dev:ann", None).await;
    let before = ok["resume"].as_str().expect("a ticket").to_owned();
    let _bob = joined(&h.main, &r, "bob").await;
    let path = format!("/api/rooms/{r}/disconnect");
    let body = json!({"userIds": ["ann"], "reason": "reauth"}).to_string();
    let (status, _) = backend_post(&h.main, &path, body, "http/disconnect-response.json").await;
    assert_eq!(status, 200);
    ann.expect_closed_with("reauth_required", 4401).await;
    let (ok, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &before).await;
    assert_eq!(checks, 1, "a revoked ticket was taken: {ok}");
    // The ticket that check issued is newer than the disconnect: it works.
    let after = ok["resume"].as_str().expect("a new ticket").to_owned();
    let (_, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &after).await;
    assert_eq!(checks, 0);
    // bob was not disconnected: his ticket still works.
    let bobs = ticket_of(&h.main, &r, "dev:bob").await;
    let (_, checks) = auth_with_ticket(&h.main, &r, "dev:bob", &bobs).await;
    assert_eq!(checks, 0);
}

/// The instance that issued a ticket may be gone before it wrote anything: the room
/// then has no tables. A disconnect still records the user, and the ticket no longer
/// readmits them.
async fn a_disconnect_in_a_room_without_tables_still_revokes(h: Hubs) {
    let r = room("resume-no-tables");
    let now = now_ms();
    let ticket = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &r,
        "ann",
        now - 1_000,
        now + 60_000,
    );
    let path = format!("/api/rooms/{r}/disconnect");
    let body = json!({"userIds": ["ann"]}).to_string();
    let (status, v) = backend_post(&h.main, &path, body, "http/disconnect-response.json").await;
    assert_eq!((status, v["disconnected"].as_u64()), (200, Some(0)), "{v}");
    let (ok, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &ticket).await;
    assert_eq!(checks, 1, "a revoked ticket was taken: {ok}");
    // In a room that has never been disconnected from, such a ticket stands (nothing
    // was revoked, and reading the records created no tables).
    let other = room("resume-no-tables-clean");
    let ticket = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &other,
        "ann",
        now - 1_000,
        now + 60_000,
    );
    let (_, checks) = auth_with_ticket(&h.main, &other, "dev:ann", &ticket).await;
    assert_eq!(checks, 0);
}

/// A ticket issued for longer than today's RESUME_TTL_MS (10 min on this hub), under an
/// earlier configuration, is worth no more than today's TTL allows: the check decides.
async fn a_ticket_longer_than_the_ttl_falls_back_to_the_check(h: Hubs) {
    let r = room("resume-long");
    let now = now_ms();
    let day = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &r,
        "ann",
        now - 1_000,
        now + 86_400_000,
    );
    let (_, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &day).await;
    assert_eq!(checks, 1);
    let within = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &r,
        "ann",
        now - 1_000,
        now + 500_000,
    );
    let (_, checks) = auth_with_ticket(&h.main, &r, "dev:ann", &within).await;
    assert_eq!(checks, 0);
}

async fn the_previous_secret_still_verifies_after_a_rotation(h: Hubs) {
    let r = room("resume-rotation");
    // Open the room (a ticket exists only where someone authenticated).
    let _ann = joined(&h.main, &r, "ann").await;
    let now = now_ms();
    let previous = issue(
        &secret(RESUME_SECRET_PREVIOUS),
        Domain::Room,
        &r,
        "cat",
        now,
        now + 60_000,
    );
    let (ok, checks) = auth_with_ticket(&h.main, &r, "dev:cat", &previous).await;
    assert_eq!(checks, 0, "{ok}");
    assert_eq!(ok["userId"], "cat");
    let retired = issue(
        &secret("a-retired-secret"),
        Domain::Room,
        &r,
        "cat",
        now,
        now + 60_000,
    );
    let (_, checks) = auth_with_ticket(&h.main, &r, "dev:cat", &retired).await;
    assert_eq!(checks, 1);
    // New tickets are signed with the current secret.
    let fresh = ticket_of(&h.main, &r, "dev:dan").await;
    let current = secret(RESUME_SECRET);
    assert!(hub_core::resume::verify(&[&current], Domain::Room, &fresh, &r, now_ms()).is_ok());
}

async fn tight_hub_without_a_secret_issues_and_reads_no_tickets(h: Hubs) {
    let hub = &h.tight.expect("the tight hub");
    let r = room("resume-off");
    let mut c = Client::connect(&hub.room_url(&r)).await;
    let ok = c.auth(&r, "dev:ann", None).await;
    assert!(ok.get("resume").is_none(), "{ok}");
    let now = now_ms();
    let ticket = issue(
        &secret(RESUME_SECRET),
        Domain::Room,
        &r,
        "ann",
        now,
        now + 60_000,
    );
    let (ok, checks) = auth_with_ticket(hub, &r, "dev:ann", &ticket).await;
    assert_eq!(checks, 1);
    assert!(ok.get("resume").is_none(), "{ok}");
}
