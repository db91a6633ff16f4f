//! The WebSocket wire protocol: client frames parsed once into [`ClientFrame`]
//! ([`client`]), and server frames encoded from [`ServerFrame`] ([`server`]). The
//! stable error and close codes are declared in `errors` (re-exported here). Pure; no
//! `worker` types.

pub mod client;
pub mod server;

pub use crate::errors::{echo_close_code, ClientError, CloseCode, ErrorCode};
pub use client::*;
pub use server::*;
