//! Personal channels (one socket per person, `/users/:userId`): the pure rules a
//! user's own object will follow. Groundwork: tested here and not wired into the
//! shells yet, so the hub serves rooms only.
//!
//! - [`user_channel`]: what a personal channel's user id may be, the object that holds
//!   it (no room or shard object can have that name), and how it goes into the
//!   backend's path.
//! - [`online`]: whether watchers are told a user is online, with the offline delay
//!   that keeps a page reload silent, behind one one-shot timer.
//! - [`watchers`]: who watches a user, bounded.
//! - [`fan`]: one backend call over many users' objects: the totals it answers.

pub mod api;
pub mod fan;
pub mod online;
pub mod user_channel;
pub mod watchers;
