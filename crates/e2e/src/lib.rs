//! Test support: starts the hub (`wrangler dev`, i.e. real workerd) and the dev backend
//! on free loopback ports, and gives tests a small WebSocket client.

pub mod client;
pub mod hub;
pub mod runner;
pub mod spec;

pub use client::{Client, Closed};
pub use hub::{Hub, HubOptions};
