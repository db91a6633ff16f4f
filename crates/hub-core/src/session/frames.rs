//! What one client frame means for a session ([`decide`]), and what becomes of a
//! socket when its room wakes ([`on_wake`]).

use super::state::{is_expired, AuthState, Session};
use crate::channel::Channel;
use crate::protocol::{invalid_field, AuthRequest, ClientError, ClientFrame, CloseCode, ErrorCode};

/// What the room must do in answer to one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this error to the sender; the connection stays open.
    Reply(ClientError),
    /// Send this error, then close with this code.
    Close(ClientError, CloseCode),
    /// Mark the session authenticating and run the participants check.
    StartAuth(AuthRequest),
    /// Fan the typing state out to every other authenticated socket.
    Typing(bool),
    /// Answer the sender with a pong echoing `t`.
    Pong(Option<String>),
    /// Run the participants check again with this token (`auth:refresh`), unless
    /// one is already running.
    Refresh(String),
}

impl Action {
    /// Send the error, then close with the code that goes with it (see `errors`).
    pub fn close(code: ErrorCode) -> Action {
        let (e, close) = code.closing();
        Action::Close(e, close)
    }
}

/// What becomes of a socket when a new instance of its room starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// Closed by the room before: still held by the runtime, never back in the room.
    Closing,
    /// Authenticated: back into the roster.
    Rejoin,
    /// Still within its auth deadline: keep waiting for auth.
    Wait,
    /// Send this error, then close with this code.
    Close(ClientError, CloseCode),
}

pub fn on_wake(session: &Session, now: u64) -> Wake {
    if session.closed {
        return Wake::Closing;
    }
    match session.state {
        AuthState::Authenticated => Wake::Rejoin,
        // Its check died with the previous instance.
        AuthState::Authenticating => {
            let (e, code) = ErrorCode::AuthUnavailable.closing();
            Wake::Close(e, code)
        }
        AuthState::Pending if session.is_overdue(now) => {
            let (e, code) = ErrorCode::AuthTimeout.closing();
            Wake::Close(e, code)
        }
        AuthState::Pending => Wake::Wait,
    }
}

/// Decides what one incoming frame (already parsed) means for this session.
pub fn decide(session: &Session, frame: Result<ClientFrame, ClientError>, now: u64) -> Action {
    if session.is_overdue(now) {
        let (e, code) = ErrorCode::AuthTimeout.closing();
        return Action::Close(e, code);
    }
    if session.state == AuthState::Authenticated && is_expired(session.expires_at, now) {
        let (e, code) = ErrorCode::TokenExpired.closing();
        return Action::Close(e, code);
    }
    let frame = match frame {
        Ok(frame) => frame,
        // Before auth, a well-formed event of any type but `auth` is refused as
        // unauthenticated, whether the hub knows the type or not.
        Err(e) if e.code == ErrorCode::UnknownType && session.state != AuthState::Authenticated => {
            return Action::Reply(ErrorCode::Unauthenticated.into())
        }
        Err(e) => return Action::Reply(e),
    };
    match (session.state, frame) {
        (AuthState::Pending, ClientFrame::Auth(req)) => auth_for(&session.channel, req),
        (AuthState::Authenticating, ClientFrame::Auth(_)) => {
            Action::Reply(ErrorCode::AuthInProgress.into())
        }
        (AuthState::Authenticated, ClientFrame::Auth(_)) => {
            Action::Reply(ErrorCode::AlreadyAuthenticated.into())
        }
        // Typing belongs to a conversation, not to a person's own channel.
        (AuthState::Authenticated, ClientFrame::Typing { .. }) if session.channel.is_personal() => {
            Action::Reply(ErrorCode::UnknownType.into())
        }
        (AuthState::Authenticated, ClientFrame::Typing { is_typing }) => Action::Typing(is_typing),
        (AuthState::Authenticated, ClientFrame::Ping { t }) => Action::Pong(t),
        (AuthState::Authenticated, ClientFrame::Refresh { token }) => Action::Refresh(token),
        (
            _,
            ClientFrame::Typing { .. } | ClientFrame::Ping { .. } | ClientFrame::Refresh { .. },
        ) => Action::Reply(ErrorCode::Unauthenticated.into()),
    }
}

/// An `auth` must name the socket's channel: its room (`roomId`), or on a personal
/// channel its user (`userId`).
fn auth_for(channel: &Channel, req: AuthRequest) -> Action {
    let (named, field, mismatch) = match channel {
        Channel::Room(room) => (
            &req.room_id,
            "roomId",
            room.as_str() != req.room_id.as_deref().unwrap_or_default(),
        ),
        Channel::User(user) => (
            &req.user_id,
            "userId",
            user.as_str() != req.user_id.as_deref().unwrap_or_default(),
        ),
    };
    match (named, mismatch, channel) {
        (None, _, _) => Action::Reply(invalid_field(field)),
        (Some(_), false, _) => Action::StartAuth(req),
        (Some(_), true, Channel::Room(_)) => Action::close(ErrorCode::RoomMismatch),
        (Some(_), true, Channel::User(_)) => Action::close(ErrorCode::UserMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientFrame;
    use crate::session::support::*;

    #[test]
    fn auth_is_the_only_event_before_authentication() {
        let p = session(AuthState::Pending);
        assert!(matches!(
            decide(&p, auth("room-1"), 2_000),
            Action::StartAuth(_)
        ));
        let typing = Ok(ClientFrame::Typing { is_typing: true });
        assert_eq!(
            decide(&p, typing.clone(), 2_000),
            reply(ErrorCode::Unauthenticated)
        );
        let ping = Ok(ClientFrame::Ping { t: None });
        assert_eq!(
            decide(&p, ping.clone(), 2_000),
            reply(ErrorCode::Unauthenticated)
        );
        let a = session(AuthState::Authenticating);
        assert_eq!(decide(&a, typing, 2_000), reply(ErrorCode::Unauthenticated));
        assert_eq!(decide(&a, ping, 2_000), reply(ErrorCode::Unauthenticated));
        // Unknown types too; what is not a well-formed event keeps its own code.
        let unknown = || Err(ErrorCode::UnknownType.into());
        assert_eq!(
            decide(&p, unknown(), 2_000),
            reply(ErrorCode::Unauthenticated)
        );
        assert_eq!(
            decide(&a, unknown(), 2_000),
            reply(ErrorCode::Unauthenticated)
        );
        let not_json = Err(ErrorCode::InvalidJson.into());
        assert_eq!(decide(&p, not_json, 2_000), reply(ErrorCode::InvalidJson));
    }

    #[test]
    fn a_socket_never_moves_to_another_room() {
        let p = session(AuthState::Pending);
        assert_eq!(
            decide(&p, auth("room-2"), 2_000),
            Action::close(ErrorCode::RoomMismatch)
        );
    }

    #[test]
    fn repeated_auth_is_refused_without_closing() {
        let a = session(AuthState::Authenticating);
        assert_eq!(
            decide(&a, auth("room-1"), 2_000),
            reply(ErrorCode::AuthInProgress)
        );
        let ok = session(AuthState::Authenticated);
        assert_eq!(
            decide(&ok, auth("room-1"), 2_000),
            reply(ErrorCode::AlreadyAuthenticated)
        );
        // Even a mismatched room is just "already authenticated": the connection is unchanged.
        assert_eq!(
            decide(&ok, auth("room-2"), 2_000),
            reply(ErrorCode::AlreadyAuthenticated)
        );
    }

    #[test]
    fn overdue_pending_sockets_are_closed_whatever_they_send() {
        let p = session(AuthState::Pending);
        let timeout = Action::close(ErrorCode::AuthTimeout);
        assert_eq!(decide(&p, auth("room-1"), 11_000), timeout);
        assert_eq!(
            decide(&p, Err(ErrorCode::InvalidJson.into()), 20_000),
            timeout
        );
        // An authenticated socket has no deadline.
        let ok = session(AuthState::Authenticated);
        assert_eq!(
            decide(&ok, Ok(ClientFrame::Typing { is_typing: false }), 99_000),
            Action::Typing(false)
        );
    }

    #[test]
    fn authenticated_events() {
        let ok = session(AuthState::Authenticated);
        assert_eq!(
            decide(
                &ok,
                Ok(ClientFrame::Ping {
                    t: Some("7".into())
                }),
                2_000
            ),
            Action::Pong(Some("7".into()))
        );
        assert_eq!(
            decide(&ok, Err(ErrorCode::UnknownType.into()), 2_000),
            reply(ErrorCode::UnknownType)
        );
    }

    #[test]
    fn a_wake_keeps_members_and_waiting_sockets_and_closes_the_rest() {
        assert_eq!(
            on_wake(&session(AuthState::Authenticated), 99_000),
            Wake::Rejoin
        );
        assert_eq!(on_wake(&session(AuthState::Pending), 10_999), Wake::Wait);
        let (e, code) = ErrorCode::AuthTimeout.closing();
        assert_eq!(
            on_wake(&session(AuthState::Pending), 11_000),
            Wake::Close(e, code)
        );
        let (e, code) = ErrorCode::AuthUnavailable.closing();
        assert_eq!(
            on_wake(&session(AuthState::Authenticating), 2_000),
            Wake::Close(e, code)
        );
    }

    #[test]
    fn an_expired_member_is_closed_at_its_next_frame() {
        let ok = Session {
            expires_at: Some(5_000),
            ..session(AuthState::Authenticated)
        };
        let ping = || Ok(ClientFrame::Ping { t: None });
        assert_eq!(decide(&ok, ping(), 4_999), Action::Pong(None));
        let (e, code) = ErrorCode::TokenExpired.closing();
        assert_eq!((code.code(), e.code.as_str()), (4401, "token_expired"));
        assert_eq!(decide(&ok, ping(), 5_000), Action::Close(e, code));
        // Whatever the frame, even a refresh: it came too late.
        let refresh = Ok(ClientFrame::Refresh { token: "t".into() });
        assert!(matches!(decide(&ok, refresh, 6_000), Action::Close(..)));
    }

    #[test]
    fn refresh_is_for_members_only() {
        let refresh = || Ok(ClientFrame::Refresh { token: "t2".into() });
        let ok = session(AuthState::Authenticated);
        assert_eq!(decide(&ok, refresh(), 2_000), Action::Refresh("t2".into()));
        for state in [AuthState::Pending, AuthState::Authenticating] {
            assert_eq!(
                decide(&session(state), refresh(), 2_000),
                reply(ErrorCode::Unauthenticated)
            );
        }
    }

    #[test]
    fn an_auth_names_its_channel() {
        let p = session(AuthState::Pending);
        let with = |room: Option<&str>, user: Option<&str>| {
            Ok(ClientFrame::Auth(AuthRequest {
                token: "t".into(),
                room_id: room.map(str::to_owned),
                user_id: user.map(str::to_owned),
                resume: None,
                batch: false,
            }))
        };
        let missing = |field| Action::Reply(crate::protocol::invalid_field(field));
        assert_eq!(decide(&p, with(None, Some("u")), 2_000), missing("roomId"));
        let ann = Session {
            channel: Channel::from_key("@ann").unwrap(),
            ..p.clone()
        };
        assert!(matches!(
            decide(&ann, with(None, Some("ann")), 2_000),
            Action::StartAuth(_)
        ));
        assert_eq!(
            decide(&ann, with(Some("ann"), None), 2_000),
            missing("userId")
        );
        assert_eq!(
            decide(&ann, with(None, Some("bob")), 2_000),
            Action::close(ErrorCode::UserMismatch)
        );
        // Typing is a conversation's, not a person's own channel's.
        let member = Session {
            state: AuthState::Authenticated,
            ..ann
        };
        let typing = Ok(ClientFrame::Typing { is_typing: true });
        assert_eq!(
            decide(&member, typing, 2_000),
            reply(ErrorCode::UnknownType)
        );
    }
}
