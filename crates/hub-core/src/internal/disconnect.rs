//! `POST /api/rooms/:roomId/disconnect`: the backend takes connections away. The body
//! is `control`'s; the rule is the room core's `on_disconnect`.

use super::{DecodeError, Endpoint, Invalid, Method};
use crate::control::{parse_disconnect, Disconnect};
use serde::{Deserialize, Serialize};

/// `{"success":true,"disconnected":N}`: the sockets closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    pub success: bool,
    pub disconnected: usize,
}

impl Endpoint<'_> for Disconnect {
    const NAME: &'static str = "disconnect";
    const METHOD: Option<Method> = Some(Method::Post);
    type Answer = Disconnected;

    fn from_public(_query: Option<&str>, body: &str) -> Result<Self, Invalid> {
        parse_disconnect(body).map_err(|e| Invalid {
            code: e.code(),
            message: e.message(),
        })
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn decode(body: &str) -> Result<Self, DecodeError> {
        serde_json::from_str(body).map_err(|_| DecodeError)
    }
}
