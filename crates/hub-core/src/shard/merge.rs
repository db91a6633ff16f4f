//! The first object's answer for a whole room spread over several objects: its own
//! answer merged with each further object's. Counts add up; lists are joined in the
//! order a single object gives them. Pure.

use crate::internal::stats::Counts;
use serde::Deserialize;
use serde_json::value::RawValue;

/// `/stats` for the room: counts summed; `shards` counts the objects holding
/// sockets; the first object's own instance, send cost and memory are kept.
pub fn stats(first: Counts, further: &[Counts]) -> Counts {
    let holding = further.iter().filter(|c| c.runtime_sockets > 0).count();
    further.iter().fold(
        Counts {
            shards: 1 + holding,
            ..first
        },
        |mut sum, c| {
            sum.connections += c.connections;
            sum.runtime_sockets += c.runtime_sockets;
            sum.authenticated += c.authenticated;
            sum.checks_in_flight += c.checks_in_flight;
            sum.checks_queued += c.checks_queued;
            sum.stored_connections += c.stored_connections;
            sum
        },
    )
}

/// What orders an item: its time (`connectedAt` of a connection, `at` of an audit
/// event) and its connection id.
#[derive(Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    #[serde(default, alias = "connectedAt")]
    at: u64,
    #[serde(default, rename = "connectionId")]
    connection_id: String,
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow, default, alias = "events")]
    connections: Vec<&'a RawValue>,
}

/// Each answer's items as they are (each answer already in order), merged into one
/// list in that order by `first` (true when `a` goes before `b`), at most `limit`.
/// Items are passed on verbatim; an answer that cannot be read adds nothing.
fn merged<'a>(
    answers: &[&'a str],
    first: fn(&Key, &Key) -> bool,
    limit: usize,
) -> Vec<&'a RawValue> {
    let mut lists: Vec<Vec<(Key, &'a RawValue)>> = answers
        .iter()
        .filter_map(|a| serde_json::from_str::<Page<'a>>(a).ok())
        .map(|page| {
            let keyed = page.connections.into_iter().rev();
            keyed
                .filter_map(|raw| Some((serde_json::from_str(raw.get()).ok()?, raw)))
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    while out.len() < limit {
        // The list whose head goes first (each list is reversed: heads at the end).
        let mut best: Option<usize> = None;
        for (i, list) in lists.iter().enumerate() {
            let Some((key, _)) = list.last() else {
                continue;
            };
            let better = match best.and_then(|b| lists[b].last()) {
                Some((best_key, _)) => first(key, best_key),
                None => true,
            };
            if better {
                best = Some(i);
            }
        }
        match best.and_then(|b| lists[b].pop()) {
            Some((_, raw)) => out.push(raw),
            None => break,
        }
    }
    out
}

fn answer(key: &str, items: &[&RawValue]) -> String {
    let mut out = format!("{{\"success\":true,\"{key}\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.get());
    }
    out.push_str("]}");
    out
}

/// `/connections` for the room from every object's answer: oldest connection first.
pub fn connections(answers: &[&str]) -> String {
    let items = merged(answers, |a, b| a < b, usize::MAX);
    answer("connections", &items)
}

/// `/audit` for the room from every object's answer: newest first, at most `limit`.
pub fn audit(answers: &[&str], limit: usize) -> String {
    let items = merged(answers, |a, b| a.at > b.at, limit);
    answer("events", &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(connections: usize, started: u64) -> Counts {
        Counts {
            connections,
            runtime_sockets: connections,
            authenticated: connections / 2,
            checks_in_flight: 1,
            checks_queued: 0,
            send_cost_ns: started,
            stored_connections: connections as u64,
            instance_started_at: started,
            wasm_memory_bytes: 7,
            shards: 1,
        }
    }

    #[test]
    fn stats_add_up_and_keep_the_first_objects_own_values() {
        let sum = stats(
            counts(2, 10),
            &[counts(2, 20), counts(0, 30), counts(4, 40)],
        );
        assert_eq!(
            (sum.connections, sum.runtime_sockets, sum.authenticated),
            (8, 8, 4)
        );
        assert_eq!((sum.checks_in_flight, sum.stored_connections), (4, 8));
        assert_eq!((sum.instance_started_at, sum.send_cost_ns), (10, 10));
        assert_eq!(sum.shards, 3, "the empty object holds no sockets");
        assert_eq!(stats(counts(1, 1), &[]).shards, 1);
    }

    #[test]
    fn lists_are_joined_in_a_single_objects_order() {
        let a = r#"{"success":true,"connections":[{"connectionId":"b","connectedAt":5,"state":"authenticated"}]}"#;
        let b = r#"{"success":true,"connections":[{"connectionId":"c","connectedAt":1},{"connectionId":"a","connectedAt":5}]}"#;
        let joined: serde_json::Value =
            serde_json::from_str(&connections(&[a, b, "garbage"])).unwrap();
        let ids: Vec<&str> = joined["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["connectionId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);
        assert_eq!(
            joined["connections"][2]["state"], "authenticated",
            "verbatim"
        );
        let a = r#"{"success":true,"events":[{"at":3,"connectionId":"x"},{"at":1,"connectionId":"x"}]}"#;
        let b = r#"{"success":true,"events":[{"at":2,"connectionId":"y"}]}"#;
        let events: serde_json::Value = serde_json::from_str(&audit(&[a, b], 2)).unwrap();
        let ats: Vec<u64> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["at"].as_u64().unwrap())
            .collect();
        assert_eq!(ats, [3, 2]);
        assert_eq!(connections(&[]), r#"{"success":true,"connections":[]}"#);
    }
}
