//! `GET /api/rooms/:roomId/audit?limit=N`: the room's connection audit, newest first.

use super::{DecodeError, Endpoint, Invalid, Method};
use crate::audit::{parse_limit, Entry};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audit {
    /// At most this many events (1–`audit::MAX_LIMIT`).
    pub limit: usize,
}

/// `{"success":true,"events":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Events {
    pub success: bool,
    pub events: Vec<Entry>,
}

impl Endpoint<'_> for Audit {
    const NAME: &'static str = "audit";
    const METHOD: Option<Method> = Some(Method::Get);
    type Answer = Events;

    fn from_public(query: Option<&str>, _body: &str) -> Result<Self, Invalid> {
        parse_limit(query)
            .map(|limit| Audit { limit })
            .map_err(|message| Invalid {
                code: "invalid_query",
                message,
            })
    }

    fn encode(&self) -> String {
        self.limit.to_string()
    }

    fn decode(body: &str) -> Result<Self, DecodeError> {
        let limit = body.parse().map_err(|_| DecodeError)?;
        Ok(Audit { limit })
    }
}
