//! Resume tickets: after a real participants check, the hub hands the client a ticket
//! (`auth:ok`'s `resume`) that lets it back into the same room without a check, until
//! the ticket expires. A deploy then costs the backend no storm of checks. Pure.
//!
//! A ticket is `base64url(payload) "." base64url(HMAC-SHA256(key, DOMAIN || payload))`,
//! where the payload is the JSON array `[roomId, userId, issuedAt, expiresAt]` (Unix ms).
//! The MAC is RustCrypto's `hmac` over `sha2` (already in the build for the webhook
//! token); its check is constant-time (`verify_slice`). Tickets are never extended: only
//! a real check issues one, so no session outlives the backend's say.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a ticket lets its holder back into. Its domain string is bound into every
/// MAC, so a ticket can never be confused with another use of the key, and a room's
/// ticket never verifies as a personal channel's, even for a room and a user of the
/// same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Room,
    Personal,
}

impl Domain {
    fn bytes(self) -> &'static [u8] {
        match self {
            Domain::Room => b"nativor-chat-worker resume v1\n",
            Domain::Personal => b"nativor-chat-worker personal resume v1\n",
        }
    }
}
/// Longest ticket the hub reads: a room id and a user id of 128 characters each (up to
/// 6 bytes per character once JSON-escaped), two times, framing, in base64url.
pub const MAX_TICKET_CHARS: usize = 2_200;

/// A secret the hub signs or verifies tickets with. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from its configured text; an empty one is none.
    pub fn new(text: &str) -> Option<Secret> {
        (!text.is_empty()).then(|| Secret(text.as_bytes().to_vec()))
    }

    fn mac(&self, domain: Domain) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(domain.bytes());
        mac
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What a valid ticket says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user_id: String,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// A ticket for `user_id` in `room_id` (under `domain`), issued at `now`, valid until
/// `expires_at`.
pub fn issue(
    secret: &Secret,
    domain: Domain,
    room_id: &str,
    user_id: &str,
    now: u64,
    expires_at: u64,
) -> String {
    let payload = serde_json::to_string(&(room_id, user_id, now, expires_at)).unwrap_or_default();
    let mut mac = secret.mac(domain);
    mac.update(payload.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Why a ticket was not taken; the hub then runs the participants check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a ticket, or too long.
    Malformed,
    /// No configured secret made this MAC (tampered, or signed with a retired secret).
    BadMac,
    /// Issued for another room.
    OtherRoom,
    /// Past its expiry.
    Expired,
}

/// The claims of `ticket` if one of `secrets` signed it for `room_id` and it has not
/// expired at `now`. Whether its user was revoked since is for the caller to ask.
pub fn verify(
    secrets: &[&Secret],
    domain: Domain,
    ticket: &str,
    room_id: &str,
    now: u64,
) -> Result<Claims, Refusal> {
    if ticket.len() > MAX_TICKET_CHARS {
        return Err(Refusal::Malformed);
    }
    let (payload, tag) = ticket.split_once('.').ok_or(Refusal::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Refusal::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| Refusal::Malformed)?;
    let signed = secrets.iter().any(|secret| {
        let mut mac = secret.mac(domain);
        mac.update(&payload);
        mac.verify_slice(&tag).is_ok()
    });
    if !signed {
        return Err(Refusal::BadMac);
    }
    // Parsed only once the MAC holds: what is read below was written by the hub.
    let (room, user_id, issued_at, expires_at): (String, String, u64, u64) =
        serde_json::from_slice(&payload).map_err(|_| Refusal::Malformed)?;
    if room != room_id {
        return Err(Refusal::OtherRoom);
    }
    if now >= expires_at {
        return Err(Refusal::Expired);
    }
    Ok(Claims {
        user_id,
        issued_at,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rooms_ticket_never_verifies_as_a_personal_one() {
        let k = Secret::new("k").unwrap();
        let room = issue(&k, Domain::Room, "@ann", "ann", 1_000, 5_000);
        let personal = issue(&k, Domain::Personal, "@ann", "ann", 1_000, 5_000);
        assert_ne!(room, personal);
        let v = |t: &str, d| verify(&[&k], d, t, "@ann", 2_000).map(|c| c.user_id);
        assert_eq!(v(&personal, Domain::Personal), Ok("ann".into()));
        assert_eq!(v(&room, Domain::Personal), Err(Refusal::BadMac));
        assert_eq!(v(&personal, Domain::Room), Err(Refusal::BadMac));
    }

    fn secret(s: &str) -> Secret {
        Secret::new(s).unwrap()
    }

    #[test]
    fn a_ticket_round_trips_for_its_room_until_it_expires() {
        let k = secret("k1");
        let t = issue(
            &k,
            Domain::Room,
            "room:1",
            "ann \"the\" first",
            1_000,
            5_000,
        );
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        let claims = verify(&[&k], Domain::Room, &t, "room:1", 4_999).unwrap();
        assert_eq!(
            claims,
            Claims {
                user_id: "ann \"the\" first".into(),
                issued_at: 1_000,
                expires_at: 5_000
            }
        );
        assert_eq!(
            verify(&[&k], Domain::Room, &t, "room:1", 5_000),
            Err(Refusal::Expired)
        );
        assert_eq!(
            verify(&[&k], Domain::Room, &t, "room:2", 2_000),
            Err(Refusal::OtherRoom)
        );
    }

    #[test]
    fn only_a_configured_secret_verifies_and_any_change_breaks_the_mac() {
        let (k1, k2) = (secret("k1"), secret("k2"));
        let t = issue(&k1, Domain::Room, "r", "ann", 1_000, 5_000);
        assert_eq!(
            verify(&[&k2], Domain::Room, &t, "r", 2_000),
            Err(Refusal::BadMac)
        );
        // Rotation: the previous secret still verifies.
        assert!(verify(&[&k2, &k1], Domain::Room, &t, "r", 2_000).is_ok());
        assert_eq!(
            verify(&[], Domain::Room, &t, "r", 2_000),
            Err(Refusal::BadMac)
        );
        // Another user, room or expiry in the payload: the MAC no longer matches.
        let (_, tag) = t.split_once('.').unwrap();
        for forged in [
            ("r", "mallory", 1_000, 5_000),
            ("r2", "ann", 1_000, 5_000),
            ("r", "ann", 1_000, 9_999_999),
        ] {
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_string(&forged).unwrap());
            let t = format!("{payload}.{tag}");
            assert_eq!(
                verify(&[&k1], Domain::Room, &t, forged.0, 2_000),
                Err(Refusal::BadMac)
            );
        }
        let mut flipped = t.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_ne!(
            verify(&[&k1], Domain::Room, &flipped, "r", 2_000).map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn malformed_tickets_are_refused_without_panicking() {
        let k = secret("k");
        for bad in ["", ".", "abc", "a.b.c", "!!!.???", "e30.e30"] {
            assert!(verify(&[&k], Domain::Room, bad, "r", 0).is_err(), "{bad}");
        }
        let long = "A".repeat(MAX_TICKET_CHARS + 1);
        assert_eq!(
            verify(&[&k], Domain::Room, &long, "r", 0),
            Err(Refusal::Malformed)
        );
        // A validly signed payload of the wrong shape.
        let mut mac = k.mac(Domain::Room);
        mac.update(b"{}");
        let t = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("{}"),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(
            verify(&[&k], Domain::Room, &t, "r", 0),
            Err(Refusal::Malformed)
        );
        assert_eq!(Secret::new(""), None);
        assert_eq!(format!("{:?}", k), "Secret(…)");
    }

    #[test]
    fn the_longest_ticket_fits_the_bound() {
        let k = secret("k");
        let worst = "\u{1}".repeat(128);
        let t = issue(&k, Domain::Room, &worst, &worst, u64::MAX, u64::MAX);
        assert!(t.len() <= MAX_TICKET_CHARS, "{}", t.len());
    }
}
