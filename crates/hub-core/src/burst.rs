//! Adaptive batching of bursts, for the clients that ask for it (`"batch": true` in
//! their `auth`). One frame per delivery is the wall a busy room hits: every `send`
//! costs the runtime the same whatever it carries. While events arrive within
//! `BATCH_WINDOW_MS` of the previous fan-out, the room queues them here; one flush then
//! sends each batching socket one `{"type":"batch","events":[…]}` frame and every other
//! socket each event as its own frame, as before. Pure.

use std::collections::HashSet;

/// Events one burst queues at most; the next one flushes the queue at once. Also the
/// width of the mask that groups sockets by the events they get (`u128`).
pub const MAX_QUEUED_EVENTS: usize = 100;
/// Bytes of event frames one burst queues at most; past it the queue is flushed at once.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024;
/// What one `send` costs, in µs, until a room has measured its own runtime (the floor's
/// rate on the reference machine, rounded up; the figure is in docs/benchmarks.md). A
/// fan-out's end is estimated as its start plus the cost per frame (learned, see
/// `room::send_cost`): an event that arrives within `BATCH_WINDOW_MS` of that end finds
/// the room busy.
pub const SEND_COST_US: u64 = 40;
/// Largest batch frame: the events of a flush that would not fit go in the next frame.
pub const MAX_BATCH_FRAME_BYTES: usize = 128 * 1024;

/// Who an event is for, decided when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every member.
    Everyone,
    /// Every member but this connection (its sender, for typing).
    AllBut(String),
    /// A broadcast's exclusions and, with `users`, its targets.
    Selected {
        exclude: HashSet<String>,
        users: Option<HashSet<String>>,
    },
}

impl Audience {
    pub fn includes(&self, connection_id: &str, user_id: Option<&str>) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::AllBut(sender) => sender != connection_id,
            Audience::Selected { exclude, users } => {
                !exclude.contains(connection_id)
                    && users
                        .as_ref()
                        .is_none_or(|users| user_id.is_some_and(|u| users.contains(u)))
            }
        }
    }
}

/// An event waiting for the flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub frame: String,
    pub audience: Audience,
    /// The room's join counter when the event arrived: members that joined later never
    /// get it, as they would not have had it sent at once.
    pub seq: u64,
}

/// The queue of one burst, bounded by event count and bytes.
#[derive(Debug, Default)]
pub struct Burst {
    events: Vec<Queued>,
    bytes: usize,
}

impl Burst {
    /// Queues an event; true when the queue is now at its cap and must be flushed.
    pub fn push(&mut self, event: Queued) -> bool {
        self.bytes += event.frame.len();
        self.events.push(event);
        self.events.len() >= MAX_QUEUED_EVENTS || self.bytes >= MAX_QUEUED_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn take(&mut self) -> Vec<Queued> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }
}

/// The frames that carry `events` (in order) to one batching socket: a lone event as
/// itself; more as `{"type":"batch","events":[…]}` frames of at most
/// `MAX_BATCH_FRAME_BYTES` (an event too big to share a frame goes on its own).
pub fn batch_frames<'a>(events: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    const HEAD: &str = r#"{"type":"batch","events":["#;
    const TAIL: &str = "]}";
    let mut frames = Vec::new();
    let mut group: Vec<&str> = Vec::new();
    let mut size = HEAD.len() + TAIL.len();
    let close = |group: &mut Vec<&str>, frames: &mut Vec<String>| {
        match group.len() {
            0 => {}
            1 => frames.push(group[0].to_owned()),
            _ => frames.push(format!("{HEAD}{}{TAIL}", group.join(","))),
        }
        group.clear();
    };
    for event in events {
        if !group.is_empty() && size + 1 + event.len() > MAX_BATCH_FRAME_BYTES {
            close(&mut group, &mut frames);
            size = HEAD.len() + TAIL.len();
        }
        size += event.len() + usize::from(!group.is_empty());
        group.push(event);
    }
    close(&mut group, &mut frames);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences() {
        assert!(Audience::Everyone.includes("c1", None));
        let typing = Audience::AllBut("c1".into());
        assert!(!typing.includes("c1", Some("u1")) && typing.includes("c2", None));
        let selected = Audience::Selected {
            exclude: ["c2".to_owned()].into(),
            users: Some(["u1".to_owned()].into()),
        };
        assert!(selected.includes("c1", Some("u1")));
        assert!(!selected.includes("c2", Some("u1")), "excluded");
        assert!(!selected.includes("c3", Some("u9")), "not a target");
        assert!(!selected.includes("c3", None), "no verified id");
    }

    #[test]
    fn the_queue_is_bounded_by_events_and_bytes() {
        let q = |n: usize| Queued {
            frame: "x".repeat(n),
            audience: Audience::Everyone,
            seq: 0,
        };
        let mut b = Burst::default();
        for _ in 0..MAX_QUEUED_EVENTS - 1 {
            assert!(!b.push(q(10)));
        }
        assert!(b.push(q(10)), "the 100th event fills it");
        assert_eq!(b.take().len(), MAX_QUEUED_EVENTS);
        assert!(b.is_empty());
        assert!(!b.push(q(MAX_QUEUED_BYTES - 1)));
        assert!(b.push(q(1)), "the bytes fill it");
    }

    #[test]
    fn batch_frames_keep_order_and_size() {
        assert!(batch_frames([]).is_empty());
        assert_eq!(batch_frames([r#"{"type":"a"}"#]), [r#"{"type":"a"}"#]);
        let frames = batch_frames([r#"{"type":"a"}"#, r#"{"type":"b","n":[1]}"#]);
        assert_eq!(
            frames,
            [r#"{"type":"batch","events":[{"type":"a"},{"type":"b","n":[1]}]}"#]
        );
        let v: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(v["events"].as_array().map(Vec::len), Some(2));
        // Split at the size bound, in order; each frame within it.
        let big = format!(r#"{{"type":"m","p":"{}"}}"#, "x".repeat(50_000));
        let events: Vec<&str> = vec![&big, &big, &big, r#"{"type":"z"}"#];
        let frames = batch_frames(events.iter().copied());
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|f| f.len() <= MAX_BATCH_FRAME_BYTES));
        let unpacked: Vec<serde_json::Value> = frames
            .iter()
            .flat_map(|f| {
                let v: serde_json::Value = serde_json::from_str(f).unwrap();
                v["events"].as_array().cloned().unwrap_or_else(|| vec![v])
            })
            .collect();
        assert_eq!(unpacked.len(), 4);
        assert_eq!(unpacked[3]["type"], "z");
        // An event over the bound travels alone.
        let huge = format!(
            r#"{{"type":"m","p":"{}"}}"#,
            "x".repeat(MAX_BATCH_FRAME_BYTES)
        );
        let frames = batch_frames([r#"{"type":"a"}"#, huge.as_str(), r#"{"type":"b"}"#]);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1], huge);
    }
}
