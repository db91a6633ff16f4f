//! One connection's state machine: `(session, frame, now) -> Action`. Pure.
//!
//! The [`Session`] is the socket's hibernation attachment, so everything a socket
//! needs after the Durable Object sleeps (id, room, identity, auth state, deadline)
//! lives here and nowhere else.
//! - `state`: the session itself, its auth state and attachment;
//! - `frames`: what one frame means for it ([`decide`]), and what a wake does;
//! - `checks`: the participants check's start and outcome, for an auth or a refresh.

mod checks;
mod frames;
mod state;

pub use checks::*;
pub use frames::*;
pub use state::*;

/// What the session's tests share.
#[cfg(test)]
mod support {
    use super::*;
    use crate::auth::AuthOutcome;
    use crate::protocol::{AuthRequest, ClientError, ClientFrame, ErrorCode};
    use crate::room_id::RoomId;

    pub fn room(id: &str) -> RoomId {
        RoomId::parse(id).unwrap()
    }

    pub fn session(state: AuthState) -> Session {
        Session {
            state,
            user_id: (state == AuthState::Authenticated).then(|| "u1".to_string()),
            ..Session::new("c1".into(), room("room-1"), 1_000, 10_000)
        }
    }

    pub fn auth(room: &str) -> Result<ClientFrame, ClientError> {
        Ok(ClientFrame::Auth(AuthRequest {
            token: "t".into(),
            room_id: Some(room.into()),
            user_id: None,
            resume: None,
            batch: false,
        }))
    }

    pub fn reply(code: ErrorCode) -> Action {
        Action::Reply(code.into())
    }

    pub fn verified(user: &str, expires_at: Option<u64>) -> AuthOutcome {
        AuthOutcome::Verified {
            watch: Vec::new(),
            user_id: Some(user.into()),
            expires_at,
        }
    }
}
