//! A personal channel's object (`@<userId>`, see `hub_core::personal`): its ties to
//! other users' objects and its tables. The rules are the room core's
//! (`hub_core::room`'s `personal`); this module carries out what it decides:
//! - at a wake, the core takes back what the earlier instance stored;
//! - during a socket's sessions check, the object registers with every watched user's
//!   object and reads its state (one call each, all at once);
//! - a change of this user's state goes to every watcher's object, which answers
//!   whether it still watches.
//!
//! Nothing here logs a user id or an object name.

use crate::chat_room::Shell;
use crate::effects::{now_ms, Effects};
use crate::shards::{internal_request, ok_text, stub};
use futures_util::future::join_all;
use hub_core::channel::Channel;
use hub_core::internal::personal::{Heard, Status, Watch, Watched};
use hub_core::internal::Internal;
use hub_core::personal::online::Stored;
use hub_core::personal::user_channel::UserChannel;
use hub_core::room::{Contacts, Known};
use std::rc::Rc;
use worker::console_error;

impl Shell {
    /// Once per instance, after the core took the sockets back: on a personal
    /// channel, the core takes back the user's state.
    pub fn restore_personal(self: &Rc<Self>, user: UserChannel) {
        let restored = self.store.personal().unwrap_or_else(|e| {
            console_error!("reading the personal channel's tables failed: {e}");
            Default::default()
        });
        self.with_core(|core, io| core.set_personal(user, restored, now_ms(), io));
    }

    /// Registers this user as a watcher of each of `watch` and hands their states
    /// to the core, before the socket whose check named them gets its `auth:ok`. A
    /// user whose object does not answer counts as offline, with no changes to come.
    pub async fn watch_all(self: &Rc<Self>, watch: &[String]) {
        let Some(me) = self.personal_user() else {
            return;
        };
        let request = Internal::Watch(Watch { watcher: me });
        let answers = self.ask_users(watch, &request).await;
        for (user, text) in watch.iter().zip(answers) {
            let Some(watched) = text.and_then(|t| serde_json::from_str::<Watched>(&t).ok()) else {
                continue;
            };
            self.with_core(|core, io| {
                core.on_user_status(user, watched.online, watched.at, now_ms(), io)
            });
        }
    }

    /// Tells every one of `watchers` that this user is `online` (or not) as of `at`;
    /// a watcher that no longer watches is forgotten.
    fn tell(self: &Rc<Self>, watchers: Vec<String>, online: bool, at: u64) {
        let Some(me) = self.personal_user() else {
            return;
        };
        let shell = Rc::clone(self);
        self.state.wait_until(async move {
            let request = Internal::Status(Status {
                user: me,
                online,
                at,
            });
            let answers = shell.ask_users(&watchers, &request).await;
            for (watcher, text) in watchers.iter().zip(answers) {
                let heard = text.and_then(|t| serde_json::from_str::<Heard>(&t).ok());
                // Only a watcher that answered it no longer watches is forgotten: one
                // that did not answer may still.
                if heard.is_some_and(|h| !h.watching) {
                    shell.with_core(|core, io| core.on_unwatched(watcher, io));
                }
            }
        });
    }

    /// This object's user, on a personal channel. Read from the shell, never the
    /// core: the core calls `tell` while it is borrowed.
    fn personal_user(&self) -> Option<String> {
        let channel = self.channel.borrow();
        channel.as_ref()?.user().map(|u| u.as_str().to_owned())
    }

    /// One internal request to each of `users`' objects, all at once; each 200 answer's
    /// text, in order.
    async fn ask_users(&self, users: &[String], request: &Internal<'_>) -> Vec<Option<String>> {
        let body = request.body();
        let body = body.as_str();
        join_all(users.iter().map(|user| async move {
            let channel = Channel::User(UserChannel::parse(user).ok()?);
            let object = stub(&self.env, &channel.key()).ok()?;
            let req = internal_request(&request.url_for(&channel), body).ok()?;
            ok_text(object.fetch_with_request(&req).ok()?).await.ok()
        }))
        .await
    }
}

impl Contacts for Effects<'_> {
    fn tell_watchers(&mut self, watchers: Vec<String>, online: bool, at: u64) {
        self.shell.tell(watchers, online, at);
    }

    fn store_online(&mut self, stored: Stored) {
        if let Err(e) = self.shell.store.save_online(stored) {
            console_error!("storing the online state failed: {e}");
        }
    }

    fn store_watcher(&mut self, watcher: &str, present: bool) {
        if let Err(e) = self.shell.store.save_watcher(watcher, present) {
            console_error!("storing a watcher failed: {e}");
        }
    }

    fn store_watching(&mut self, watching: &[(String, Known)]) {
        if let Err(e) = self.shell.store.save_watching(watching) {
            console_error!("storing the watchlist failed: {e}");
        }
    }

    fn store_known(&mut self, user: &str, known: Known) {
        if let Err(e) = self.shell.store.save_known(user, known) {
            console_error!("storing a watched user's state failed: {e}");
        }
    }
}
