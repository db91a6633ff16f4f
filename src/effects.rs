//! The room core's effects carried out on the runtime, one impl per role of
//! `hub_core::room::io`: sockets (`Sockets`), timers and checks in flight (`Timers`),
//! and the room's tables (`Storage`).

use crate::attachment;
use crate::chat_room::Shell;
use crate::fanout;
use crate::net::{self, Cancel};
use crate::shards::Role;
use hub_core::audit;
use hub_core::internal::shards::Relayed;
use hub_core::journal::Write;
use hub_core::protocol::{ClientError, CloseCode};
use hub_core::room::{Check, Sockets, Spread, Storage, Timers};
use hub_core::session::Session;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;
use worker::{console_error, Date, WebSocket};

pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// One core call's effects. Nothing here touches the core: timers and checks call
/// back into it only later, from their own tasks.
pub struct Effects<'a> {
    pub(crate) shell: &'a Rc<Shell>,
}

impl<'a> Effects<'a> {
    pub fn new(shell: &'a Rc<Shell>) -> Self {
        Effects { shell }
    }

    /// Registers the participants check the core decided on, so the deadline timer
    /// can abort it from the start; the shell then runs it with this cancel.
    pub fn register_check(&mut self, check: &Check<WebSocket>) -> Rc<Cancel> {
        let cancel = Rc::new(Cancel::default());
        self.shell
            .checks
            .borrow_mut()
            .insert(check.session.connection_id.clone(), Rc::clone(&cancel));
        cancel
    }
}

impl Sockets<WebSocket> for Effects<'_> {
    fn accept(&mut self, socket: &WebSocket, session: &Session) -> bool {
        // A 22-character base64url tag is always a valid tag (at most 256 chars).
        self.shell
            .state
            .accept_websocket_with_tags(socket, &[session.connection_id.as_str()]);
        attachment::write(socket, session)
    }

    fn refuse(&mut self, socket: &WebSocket, error: &ClientError, code: CloseCode) {
        // Accepted only to say why, so clients see the code rather than a bare
        // handshake failure; never tagged, stored or counted.
        if socket.accept().is_ok() {
            fanout::send_error(socket, error);
            let _ = socket.close(Some(code.code()), Some(error.code.as_str()));
        }
    }

    fn save(&mut self, socket: &WebSocket, session: &Session) -> bool {
        attachment::write(socket, session)
    }

    fn load(&mut self, socket: &WebSocket) -> Option<Session> {
        attachment::read(socket)
    }

    fn send(&mut self, socket: &WebSocket, frame: &str) {
        fanout::send(socket, frame);
    }

    fn fan_out<'s>(&mut self, frame: &str, to: impl Iterator<Item = &'s WebSocket>) -> usize {
        fanout::deliver(frame, to)
    }

    fn close(&mut self, socket: &WebSocket, code: u16, reason: &str) {
        let _ = socket.close(Some(code), Some(reason));
    }
}

impl Timers for Effects<'_> {
    fn cancel_check(&mut self, connection_id: &str) {
        let cancel = self.shell.checks.borrow_mut().remove(connection_id);
        if let Some(cancel) = cancel {
            cancel.fire();
        }
    }

    fn arm_timer(&mut self, at: u64) {
        let cancel = Rc::new(Cancel::default());
        let previous = self.shell.timer.replace(Some(Rc::clone(&cancel)));
        if let Some(previous) = previous {
            previous.fire();
        }
        let shell = Rc::clone(self.shell);
        let after = Duration::from_millis(at.saturating_sub(now_ms()).max(1));
        // A one-shot timer, no alarm: it exists only while something waits.
        self.shell.state.wait_until(async move {
            if net::sleep(after, &cancel).await {
                shell.timer.take();
                shell.with_core(|core, io| core.on_timer(now_ms(), io));
            }
        });
    }

    fn cancel_timer(&mut self) {
        if let Some(cancel) = self.shell.timer.take() {
            cancel.fire();
        }
    }

    fn schedule_flush(&mut self, after_ms: u64) {
        let shell = Rc::clone(self.shell);
        self.shell.state.wait_until(async move {
            worker::Delay::from(Duration::from_millis(after_ms)).await;
            shell.with_core(|core, io| core.flush(now_ms(), io));
        });
    }

    fn schedule_burst(&mut self, after_ms: u64) {
        let shell = Rc::clone(self.shell);
        // One-shot, and only while a burst is queued: an idle room still hibernates.
        self.shell.state.wait_until(async move {
            worker::Delay::from(Duration::from_millis(after_ms)).await;
            shell.with_core(|core, io| core.on_burst_timer(now_ms(), io));
        });
    }
}

impl Spread for Effects<'_> {
    fn spread(&mut self, frame: &str, except: Option<&str>) {
        if let Role::Further(further) = &mut *self.shell.role.borrow_mut() {
            return further.frame(frame, except);
        }
        // A room of one object: nothing to copy or send.
        if !self.shell.spans_objects() {
            return;
        }
        let event = Relayed::Frame {
            frame: frame.to_owned(),
            except: except.map(str::to_owned),
        };
        self.shell.relay_frame(event, None);
    }

    fn report_user(&mut self, user: &str, present: bool, via: Option<&str>) {
        if let Role::Further(further) = &mut *self.shell.role.borrow_mut() {
            further.user(user, present, via);
        }
    }

    fn list_members_to(&mut self, connection_id: &str) {
        let shell = Rc::clone(self.shell);
        let id = connection_id.to_owned();
        self.shell.state.wait_until(async move {
            shell.send_members(&id).await;
        });
    }
}

impl Storage for Effects<'_> {
    fn write_rows(&mut self, writes: Vec<Write>, audit: Vec<audit::Entry>, prune: audit::Prune) {
        if let Err(e) = self.shell.store.apply_batch(&writes, &audit, prune) {
            console_error!("writing connection rows failed: {e}");
        }
    }

    fn find_key(&mut self, key: &str, since: u64) -> Option<usize> {
        match self.shell.store.find_key(key, since) {
            Ok(found) => found.map(|d| d as usize),
            Err(e) => {
                console_error!("reading an idempotency key failed: {e}");
                None
            }
        }
    }

    fn key_count(&mut self) -> Option<usize> {
        match self.shell.store.key_count() {
            Ok(n) => Some(n),
            Err(e) => {
                console_error!("counting idempotency keys failed: {e}");
                None
            }
        }
    }

    fn prune_keys(&mut self, before: u64) -> Option<usize> {
        match self.shell.store.prune_keys(before) {
            Ok(n) => Some(n),
            Err(e) => {
                console_error!("pruning idempotency keys failed: {e}");
                None
            }
        }
    }

    fn store_key(&mut self, key: &str, delivered: usize, at: u64, keep: Option<usize>) {
        if let Err(e) = self.shell.store.store_key(key, delivered, at, keep) {
            console_error!("storing an idempotency key failed: {e}");
        }
    }

    fn revoke(&mut self, users: &[String], at: u64, until: u64) {
        if let Err(e) = self.shell.store.revoke(users, at, until) {
            console_error!("recording a disconnect failed: {e}");
        }
    }

    fn revocations(&mut self, now: u64) -> Option<Vec<(String, u64, u64)>> {
        match self.shell.store.revocations(now) {
            Ok(records) => Some(records),
            Err(e) => {
                console_error!("reading disconnect records failed: {e}");
                None
            }
        }
    }

    fn remove_ghost_rows(&mut self, live: &HashSet<String>) {
        if let Err(e) = self.shell.store.remove_ghosts(live) {
            console_error!("removing stale connection rows failed: {e}");
        }
    }
}
