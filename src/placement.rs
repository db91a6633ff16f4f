//! A room's first object answers an upgrade (`hub_core::shard::placement`): it takes
//! the socket while it has room, tells the Worker which further object to send the
//! same upgrade to, or refuses it (`room_full`). A socket never moves once accepted.

use crate::chat_room::Shell;
use crate::effects::now_ms;
use crate::respond::{respond, respond_later};
use crate::shards::Role;
use hub_core::channel::Channel;
use hub_core::internal::shards::Relayed;
use hub_core::room_id::RoomId;
use hub_core::shard::first::Placed;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{console_error, web_sys, Result};

/// The first object's answer to the Worker for an upgrade it places on a further
/// object: `<shard> <placement number>` (never seen by a client).
pub const PLACE_HEADER: &str = "x-nativor-place";

impl Shell {
    /// A new socket reaches the room's first object: it takes it while it has room,
    /// else tells the Worker which further object to send the same upgrade to, else
    /// refuses it (`room_full`).
    pub(crate) fn connect(self: &Rc<Self>, room: RoomId) -> JsValue {
        let own = self.core.borrow().connections();
        let placed = match &mut *self.role.borrow_mut() {
            Role::First(first) => first.place(own, now_ms()),
            Role::Further(_) => Placed::Here { elsewhere: 0 },
        };
        match placed {
            Placed::Here { elsewhere } => {
                self.core.borrow_mut().set_elsewhere(elsewhere);
                respond(self.accept(Channel::Room(room)))
            }
            Placed::Shard { shard, number, new } => {
                respond_later(Rc::clone(self).place_on(shard, number, new))
            }
        }
    }

    /// Answers the Worker with the further object for an upgrade. A shard opened now
    /// first adopts the room's disconnect records, so a revocation holds there before
    /// its first socket can send a resume ticket.
    async fn place_on(
        self: Rc<Self>,
        shard: u16,
        number: u64,
        new: bool,
    ) -> Result<web_sys::Response> {
        if new {
            if let Err(e) = self.store.save_shard(shard, 0) {
                console_error!("recording a new shard failed: {e}");
            }
            // Fail closed: a shard that could not adopt the records takes no socket.
            let records = self.store.revocations(now_ms())?;
            let adopt = vec![Relayed::Revoked { records }];
            let relay = match &mut *self.role.borrow_mut() {
                Role::First(first) => Some(first.relay(shard, adopt)),
                Role::Further(_) => None,
            };
            if let Some(relay) = relay {
                let promise = self.call(shard, &hub_core::internal::Internal::Relay(relay));
                if self.answer_of(shard, promise).await.is_none() {
                    return Err("a new shard did not adopt the room's disconnect records".into());
                }
            }
        }
        let headers = web_sys::Headers::new()?;
        headers.set(PLACE_HEADER, &format!("{shard} {number}"))?;
        let init = web_sys::ResponseInit::new();
        init.set_status(200);
        init.set_headers(&headers);
        Ok(web_sys::Response::new_with_opt_str_and_init(None, &init)?)
    }
}
