//! `GET /api/rooms/:roomId/connections`: every connection of the room, oldest first.

use super::{DecodeError, Endpoint, Invalid, Method};
use crate::journal::Row;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections;

/// `{"success":true,"connections":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub success: bool,
    pub connections: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub connection_id: String,
    pub user_id: Option<String>,
    pub state: &'static str,
    pub connected_at: u64,
    pub authenticated_at: Option<u64>,
}

impl Listed {
    /// The rows, oldest connection first.
    pub fn of(mut rows: Vec<Row>) -> Listed {
        rows.sort_by(|a, b| {
            (a.connected_at, &a.connection_id).cmp(&(b.connected_at, &b.connection_id))
        });
        let connections = rows
            .into_iter()
            .map(|r| Item {
                state: r.state.as_str(),
                connection_id: r.connection_id,
                user_id: r.user_id,
                connected_at: r.connected_at,
                authenticated_at: r.authenticated_at,
            })
            .collect();
        Listed {
            success: true,
            connections,
        }
    }
}

impl Endpoint<'_> for Connections {
    const NAME: &'static str = "connections";
    const METHOD: Option<Method> = Some(Method::Get);
    type Answer = Listed;

    fn from_public(_query: Option<&str>, _body: &str) -> Result<Self, Invalid> {
        Ok(Connections)
    }

    fn encode(&self) -> String {
        String::new()
    }

    fn decode(_body: &str) -> Result<Self, DecodeError> {
        Ok(Connections)
    }
}
