//! One connection's state machine: `(session, frame, now) -> Action`. Pure.
//!
//! The [`Session`] is the socket's hibernation attachment, so everything a socket
//! needs after the Durable Object sleeps (id, room, identity, auth state, deadline)
//! lives here and nowhere else.

use crate::auth::AuthOutcome;
use crate::protocol::{AuthRequest, ClientError, ClientFrame, CloseCode, ErrorCode};
use crate::room_id::RoomId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthState {
    /// Connected, waiting for the auth event until `deadline`.
    #[serde(rename = "p")]
    Pending,
    /// The participants check is in flight.
    #[serde(rename = "a")]
    Authenticating,
    /// Verified by the backend.
    #[serde(rename = "ok")]
    Authenticated,
}

impl AuthState {
    /// The state a connections-table name stands for.
    pub fn parse(name: &str) -> Option<AuthState> {
        [
            AuthState::Pending,
            AuthState::Authenticating,
            AuthState::Authenticated,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// The name stored in the connections table.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::Pending => "pending",
            AuthState::Authenticating => "authenticating",
            AuthState::Authenticated => "authenticated",
        }
    }
}

/// Per-socket state. Field names are short because this is stored per socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Connection id (also the socket's tag).
    #[serde(rename = "c")]
    pub connection_id: String,
    #[serde(rename = "r")]
    pub room_id: RoomId,
    /// Unix ms.
    #[serde(rename = "t")]
    pub connected_at: u64,
    /// Unix ms after which a socket that has not authenticated is closed.
    #[serde(rename = "d")]
    pub auth_deadline: u64,
    #[serde(rename = "s")]
    pub state: AuthState,
    /// The identity the backend verified (or the claim it accepted).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When the token expires (Unix ms), as the backend said; after it, the socket is
    /// closed at its next frame or delivery.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Asked for `batch` frames in its auth.
    #[serde(rename = "b", default, skip_serializing_if = "is_false")]
    pub batch: bool,
    /// Closed by the room: the runtime may still hold the socket (until the client
    /// answers the close), but the room never takes it back, even after a wake.
    #[serde(rename = "x", default, skip_serializing_if = "is_false")]
    pub closed: bool,
    /// Which object of its room holds the socket (0: the room's first; see `shard`):
    /// a further object learns its own number back from its sockets after a wake.
    #[serde(rename = "k", default, skip_serializing_if = "is_zero")]
    pub shard: u16,
}

fn is_zero(k: &u16) -> bool {
    *k == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Session {
    pub fn new(connection_id: String, room_id: RoomId, now: u64, auth_timeout_ms: u64) -> Self {
        Session {
            connection_id,
            room_id,
            connected_at: now,
            auth_deadline: now.saturating_add(auth_timeout_ms),
            state: AuthState::Pending,
            user_id: None,
            expires_at: None,
            batch: false,
            closed: false,
            shard: 0,
        }
    }

    /// The socket attachment: compact JSON in one JS string. One string crosses the
    /// wasm boundary once, where a structured attachment would cost a JS call per field.
    pub fn to_attachment(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_attachment(text: &str) -> Option<Session> {
        serde_json::from_str(text).ok()
    }

    /// A socket still waiting for its auth event after the deadline must be closed.
    pub fn is_overdue(&self, now: u64) -> bool {
        self.state == AuthState::Pending && now >= self.auth_deadline
    }
}

/// Whether a token that expires at `expires_at` has expired at `now`.
pub fn is_expired(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_some_and(|at| now >= at)
}

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

impl Refreshed {
    /// Send the error, then close with the code that goes with it (see `errors`).
    pub fn close(code: ErrorCode) -> Refreshed {
        let (e, close) = code.closing();
        Refreshed::Close(e, close)
    }
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

/// The session while its participants check runs.
pub fn begin_auth(session: Session) -> Session {
    Session {
        state: AuthState::Authenticating,
        ..session
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
        (AuthState::Pending, ClientFrame::Auth(req)) => {
            if req.room_id != session.room_id.as_str() {
                Action::close(ErrorCode::RoomMismatch)
            } else {
                Action::StartAuth(req)
            }
        }
        (AuthState::Authenticating, ClientFrame::Auth(_)) => {
            Action::Reply(ErrorCode::AuthInProgress.into())
        }
        (AuthState::Authenticated, ClientFrame::Auth(_)) => {
            Action::Reply(ErrorCode::AlreadyAuthenticated.into())
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
        AuthOutcome::Verified {
            user_id,
            expires_at,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: &str) -> RoomId {
        RoomId::parse(id).unwrap()
    }

    fn session(state: AuthState) -> Session {
        Session {
            state,
            user_id: (state == AuthState::Authenticated).then(|| "u1".to_string()),
            ..Session::new("c1".into(), room("room-1"), 1_000, 10_000)
        }
    }

    fn auth(room: &str) -> Result<ClientFrame, ClientError> {
        Ok(ClientFrame::Auth(AuthRequest {
            token: "t".into(),
            room_id: room.into(),
            user_id: None,
            resume: None,
            batch: false,
        }))
    }

    fn reply(code: ErrorCode) -> Action {
        Action::Reply(code.into())
    }

    #[test]
    fn new_sessions_are_pending_with_a_deadline() {
        let s = Session::new("c".into(), room("r"), 5, 10);
        assert_eq!(
            (s.state, s.auth_deadline, s.connected_at),
            (AuthState::Pending, 15, 5)
        );
        assert!(!s.is_overdue(14));
        assert!(s.is_overdue(15));
    }

    #[test]
    fn attachments_round_trip_and_stay_small() {
        for state in [
            AuthState::Pending,
            AuthState::Authenticating,
            AuthState::Authenticated,
        ] {
            let s = session(state);
            let text = s.to_attachment();
            assert_eq!(Session::from_attachment(&text), Some(s));
            assert!(text.len() < 120, "{text}");
        }
        assert_eq!(Session::from_attachment("{}"), None);
        // A room id in an attachment is validated like any other.
        let bad = session(AuthState::Pending)
            .to_attachment()
            .replace("room-1", "a/b");
        assert_eq!(Session::from_attachment(&bad), None);
        assert_eq!(Session::from_attachment("garbage"), None);
    }

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

    fn verified(user: &str, expires_at: Option<u64>) -> AuthOutcome {
        AuthOutcome::Verified {
            user_id: Some(user.into()),
            expires_at,
        }
    }

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
