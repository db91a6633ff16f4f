//! The first object's answer for a whole room spread over several objects: its own
//! answer merged with each further object's. Counts add up; lists are joined in the
//! order a single object gives them. Pure.

use crate::internal::stats::Counts;
use serde_json::Value;

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

/// The items of `key` in each answer, joined and sorted by `order`, at most `limit`.
fn joined(
    answers: &[Value],
    key: &str,
    order: impl Fn(&Value, &Value) -> std::cmp::Ordering,
    limit: usize,
) -> Vec<Value> {
    let mut items: Vec<Value> = answers
        .iter()
        .filter_map(|a| a.get(key)?.as_array())
        .flatten()
        .cloned()
        .collect();
    items.sort_by(order);
    items.truncate(limit);
    items
}

fn field<'v>(item: &'v Value, name: &str) -> (u64, &'v str) {
    (
        item.get(name).and_then(Value::as_u64).unwrap_or(0),
        item.get("connectionId")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )
}

/// `/connections` for the room: every object's, oldest connection first.
pub fn connections(answers: &[Value]) -> Value {
    let items = joined(
        answers,
        "connections",
        |a, b| field(a, "connectedAt").cmp(&field(b, "connectedAt")),
        usize::MAX,
    );
    serde_json::json!({ "success": true, "connections": items })
}

/// `/audit` for the room: every object's, newest first, at most `limit`.
pub fn audit(answers: &[Value], limit: usize) -> Value {
    let items = joined(
        answers,
        "events",
        |a, b| field(b, "at").cmp(&field(a, "at")),
        limit,
    );
    serde_json::json!({ "success": true, "events": items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let a = json!({"connections": [{"connectionId": "b", "connectedAt": 5}]});
        let b = json!({"connections": [
            {"connectionId": "a", "connectedAt": 5},
            {"connectionId": "c", "connectedAt": 1}
        ]});
        let ids: Vec<Value> = connections(&[a, b])["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["connectionId"].clone())
            .collect();
        assert_eq!(ids, [json!("c"), json!("a"), json!("b")]);
        let a = json!({"events": [{"at": 3, "connectionId": "x"}, {"at": 1, "connectionId": "x"}]});
        let b = json!({"events": [{"at": 2, "connectionId": "y"}], "success": true});
        let events = audit(&[a, b, json!("garbage")], 2);
        let ats: Vec<u64> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["at"].as_u64().unwrap())
            .collect();
        assert_eq!(ats, [3, 2]);
    }
}
