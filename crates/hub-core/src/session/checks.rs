//! The participants check of a session: started for an auth, and its outcome for an
//! auth or a member's refresh.

use super::state::{is_expired, AuthState, Session};
use crate::auth::AuthOutcome;
use crate::protocol::{ClientError, CloseCode, ErrorCode};

/// The session while its participants check runs.
pub fn begin_auth(session: Session) -> Session {
    Session {
        state: AuthState::Authenticating,
        ..session
    }
}

/// The session after the participants check answered, or the error to close with.
/// A token the backend says has already expired admits nobody.
pub fn finish_auth(
    session: &Session,
    outcome: AuthOutcome,
    now: u64,
) -> Result<Session, (ClientError, CloseCode)> {
    match outcome {
        AuthOutcome::Verified { expires_at, .. } if is_expired(expires_at, now) => {
            Err(ErrorCode::TokenExpired.closing())
        }
        // A personal channel is its user's own: the backend naming anyone else closes it.
        AuthOutcome::Verified { ref user_id, .. }
            if session
                .channel
                .user()
                .is_some_and(|u| user_id.as_deref() != Some(u.as_str())) =>
        {
            Err(ErrorCode::IdentityChanged.closing())
        }
        AuthOutcome::Verified {
            user_id,
            expires_at,
            ..
        } => Ok(Session {
            state: AuthState::Authenticated,
            user_id,
            expires_at,
            ..session.clone()
        }),
        AuthOutcome::Denied => Err(ErrorCode::Unauthorized.closing()),
        AuthOutcome::Unavailable => Err(ErrorCode::AuthUnavailable.closing()),
    }
}

/// What a refresh's participants check means for a live connection.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The same user: the session with its new expiry.
    Renewed(Session),
    /// Send this error; the connection stays open until its current expiry (the
    /// backend was unavailable, and a hiccup must not drop live users).
    Kept(ClientError),
    /// Send this error, then close with this code.
    Close(ClientError, CloseCode),
}

/// The live `session` after the participants check of its `auth:refresh` answered.
pub fn finish_refresh(session: &Session, outcome: AuthOutcome, now: u64) -> Refreshed {
    match outcome {
        AuthOutcome::Verified { user_id, .. } if user_id != session.user_id => {
            Refreshed::close(ErrorCode::IdentityChanged)
        }
        AuthOutcome::Verified { expires_at, .. } if is_expired(expires_at, now) => {
            let (e, code) = ErrorCode::TokenExpired.closing();
            Refreshed::Close(e, code)
        }
        AuthOutcome::Verified { expires_at, .. } => Refreshed::Renewed(Session {
            expires_at,
            ..session.clone()
        }),
        AuthOutcome::Denied => {
            let (e, code) = ErrorCode::Unauthorized.closing();
            Refreshed::Close(e, code)
        }
        AuthOutcome::Unavailable => Refreshed::Kept(ErrorCode::AuthUnavailable.into()),
    }
}

impl Refreshed {
    /// Send the error, then close with the code that goes with it (see `errors`).
    pub fn close(code: ErrorCode) -> Refreshed {
        let (e, close) = code.closing();
        Refreshed::Close(e, close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::support::*;

    #[test]
    fn finishing_auth() {
        let a = session(AuthState::Authenticating);
        let done = finish_auth(&a, verified("server-u", Some(9_000)), 2_000).unwrap();
        assert_eq!(done.state, AuthState::Authenticated);
        assert_eq!(done.user_id.as_deref(), Some("server-u"));
        assert_eq!(done.expires_at, Some(9_000));
        assert_eq!(done.connection_id, "c1");
        assert_eq!(
            finish_auth(&a, AuthOutcome::Denied, 2_000),
            Err(ErrorCode::Unauthorized.closing())
        );
        assert_eq!(
            finish_auth(&a, AuthOutcome::Unavailable, 2_000),
            Err(ErrorCode::AuthUnavailable.closing())
        );
        // A token that is already expired admits nobody.
        assert_eq!(
            finish_auth(&a, verified("u", Some(2_000)), 2_000),
            Err(ErrorCode::TokenExpired.closing())
        );
    }

    #[test]
    fn finishing_a_refresh() {
        let ok = Session {
            expires_at: Some(5_000),
            ..session(AuthState::Authenticated)
        };
        assert_eq!(
            finish_refresh(&ok, verified("u1", Some(60_000)), 4_000),
            Refreshed::Renewed(Session {
                expires_at: Some(60_000),
                ..ok.clone()
            })
        );
        assert_eq!(
            finish_refresh(&ok, verified("u1", None), 4_000),
            Refreshed::Renewed(Session {
                expires_at: None,
                ..ok.clone()
            })
        );
        let close = Refreshed::close;
        assert_eq!(
            finish_refresh(&ok, verified("mallory", Some(60_000)), 4_000),
            close(ErrorCode::IdentityChanged)
        );
        let anonymous = Session {
            user_id: None,
            ..ok.clone()
        };
        assert_eq!(
            finish_refresh(&anonymous, verified("u1", None), 4_000),
            close(ErrorCode::IdentityChanged)
        );
        assert_eq!(
            finish_refresh(&ok, verified("u1", Some(4_000)), 4_000),
            close(ErrorCode::TokenExpired)
        );
        assert_eq!(
            finish_refresh(&ok, AuthOutcome::Denied, 4_000),
            close(ErrorCode::Unauthorized)
        );
        assert_eq!(
            finish_refresh(&ok, AuthOutcome::Unavailable, 4_000),
            Refreshed::Kept(ErrorCode::AuthUnavailable.into())
        );
    }
}
