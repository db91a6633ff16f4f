//! Resume tickets on admission: issued after a real participants check, and verified
//! (signature, room, expiry) when a socket offers one. Per socket group; whether a
//! ticket still stands against the room's disconnects is `revocation`'s call.

use crate::config::Config;
use crate::resume::{self, Claims, Domain};
use crate::session::Session;

/// A resume ticket for a session a real check just verified: until its token expires,
/// and at most `resume_ttl_ms`. None without a secret or a user id.
pub fn issue(config: &Config, verified: &Session, now: u64) -> Option<String> {
    let secret = config.resume_secret.as_ref()?;
    let user = verified.user_id.as_deref()?;
    let cap = now.saturating_add(config.resume_ttl_ms);
    let until = verified.expires_at.map_or(cap, |at| at.min(cap));
    Some(resume::issue(
        secret,
        domain(verified),
        &verified.channel.key(),
        user,
        now,
        until,
    ))
}

/// The claims of `ticket` when a configured secret signed it for this session's room,
/// it has not expired, and its lifetime is within today's `resume_ttl_ms` (so lowering
/// the TTL, like rotating the secret, only ever shortens what an outstanding ticket is
/// worth). Anything else is `None`: the check runs as if there were no ticket.
pub fn verify(
    config: &Config,
    session: &Session,
    ticket: Option<&str>,
    now: u64,
) -> Option<Claims> {
    let secrets = config.resume_secrets();
    if secrets.is_empty() {
        return None;
    }
    let key = session.channel.key();
    let claims = resume::verify(&secrets, domain(session), ticket?, &key, now).ok()?;
    let lifetime = claims.expires_at.saturating_sub(claims.issued_at);
    (lifetime <= config.resume_ttl_ms).then_some(claims)
}

/// A personal channel's tickets are signed under their own domain.
fn domain(session: &Session) -> Domain {
    match session.channel.is_personal() {
        true => Domain::Personal,
        false => Domain::Room,
    }
}
