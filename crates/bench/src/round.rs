//! One round on one server: every scenario asked for, one after another, each after the
//! previous one's sockets were released.

use crate::args::Sizes;
use crate::scenarios::{self, Run, Server};
use crate::{personal, probe, socket};
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) type Results = BTreeMap<&'static str, BTreeMap<String, Vec<Run>>>;

#[allow(clippy::too_many_arguments)]
pub(crate) async fn round(
    s: &Server,
    sizes: &Sizes,
    r: usize,
    only: &[String],
    deflate: bool,
    http: &reqwest::Client,
    idle: &mut Vec<socket::Joined>,
    out: &mut Results,
) {
    let tag = format!("r{r}-{}", std::process::id());
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.starts_with(o.as_str()));
    // Before each scenario: the previous one's sockets released (see `probe::settle`),
    // beyond the idle sockets this server keeps on purpose.
    let settle = |idle: usize| probe::settle(s.pid, 2 * idle + 4_000);
    let mut add = |name: &'static str, run: Run| {
        if let Some(e) = &run.error {
            eprintln!("  {name} on {}: FAILED: {e}", s.name);
        }
        out.entry(name)
            .or_default()
            .entry(s.name.clone())
            .or_default()
            .push(run);
    };
    // Compressing clients (permessage-deflate negotiated as a browser does).
    let deflating = Server {
        deflate: true,
        ..s.clone()
    };
    if wanted("idle_memory") {
        add(
            "idle_memory",
            scenarios::memory(s, &tag, sizes.idle, 1, idle).await,
        );
    }
    // Half as many: with the plain ones, three servers' idle sockets over three rounds
    // and a 4,000-socket fan-out stay under the load generator's 20,000 open files.
    if deflate && wanted("idle_memory_deflate") {
        let n = sizes.idle / 2;
        add(
            "idle_memory_deflate",
            scenarios::memory(&deflating, &format!("{tag}-z"), n, 1, idle).await,
        );
    }
    // Opt-in (--only room_memory): its idle sockets would push the default run past
    // the machine's 20,000 open files across three servers and three rounds.
    if only.iter().any(|o| o.starts_with("room_memory")) {
        // 100 rooms of 10: what each extra room costs beyond its sockets.
        add(
            "room_memory_100x10",
            scenarios::memory(s, &format!("{tag}-rm"), sizes.idle, 100, idle).await,
        );
    }
    if wanted("handshake") {
        settle(idle.len()).await;
        add(
            "handshake",
            scenarios::handshakes(s, &tag, sizes.handshakes, 10).await,
        );
    }
    let fanouts = [
        ("fanout_1000_sequential", "fanout_1000_inflight"),
        ("fanout_4000_sequential", "fanout_4000_inflight"),
    ];
    for (i, (seq_name, inflight_name)) in fanouts.into_iter().enumerate() {
        if !wanted(seq_name) && !wanted(inflight_name) {
            continue;
        }
        settle(idle.len()).await;
        // One phase when only one is wanted (`--only fanout_4000_inflight`).
        let (n, k) = (sizes.fanout[i], sizes.broadcasts[i]);
        if !wanted(seq_name) || !wanted(inflight_name) {
            let (name, inflight) = if wanted(seq_name) {
                (seq_name, 1)
            } else {
                (inflight_name, sizes.inflight)
            };
            let room = format!("{tag}-fanout-{n}-{name}");
            add(
                name,
                scenarios::fanout_phase(s, http, &room, n, k, inflight).await,
            );
            continue;
        }
        let (seq, inflight) =
            scenarios::fanout(s, http, &tag, n, k, sizes.inflight, 2 * idle.len() + 4_000).await;
        add(seq_name, seq);
        add(inflight_name, inflight);
    }
    // The same loads with clients that ask for `batch` frames. Only this hub batches
    // (the other servers ignore the opt-in), so only it runs the `_batch` variants.
    let batching = Server {
        batch: true,
        ..s.clone()
    };
    let batching_deflating = Server {
        batch: true,
        ..deflating.clone()
    };
    let (n1, k1, n4, k4) = (
        sizes.fanout[0],
        sizes.broadcasts[0],
        sizes.fanout[1],
        sizes.broadcasts[1],
    );
    let loads = [
        (
            "fanout_1000_sequential_batch",
            &batching,
            [sizes.fanout[0], sizes.broadcasts[0], 1],
        ),
        (
            "fanout_4000_inflight_batch",
            &batching,
            [sizes.fanout[1], sizes.broadcasts[1], sizes.inflight],
        ),
        ("burst_1000", s, sizes.burst),
        ("burst_1000_batch", &batching, sizes.burst),
        ("fanout_1000_sequential_deflate", &deflating, [n1, k1, 1]),
        (
            "fanout_1000_sequential_batch_deflate",
            &batching_deflating,
            [n1, k1, 1],
        ),
        (
            "fanout_1000_inflight_deflate",
            &deflating,
            [n1, k1, sizes.inflight],
        ),
        (
            "fanout_4000_inflight_deflate",
            &deflating,
            [n4, k4, sizes.inflight],
        ),
        ("burst_1000_deflate", &deflating, sizes.burst),
        ("burst_1000_batch_deflate", &batching_deflating, sizes.burst),
    ];
    for (name, server, [n, k, inflight]) in loads {
        if !wanted(name) || (server.batch && s.name != "hub") || (server.deflate && !deflate) {
            continue;
        }
        settle(idle.len()).await;
        let room = format!("{tag}-{name}");
        add(
            name,
            scenarios::fanout_phase(server, http, &room, n, k, inflight).await,
        );
    }
    let storms = [
        ("typing_storm_1000", s),
        ("typing_storm_1000_batch", &batching),
    ];
    for (name, server) in storms {
        if !wanted(name) || s.is_floor() || (server.batch && s.name != "hub") {
            continue;
        }
        settle(idle.len()).await;
        let [n, typers, events] = sizes.typing_storm;
        let tag = format!("{tag}-{name}");
        add(
            name,
            scenarios::typing(server, &tag, n, typers, events).await,
        );
    }
    if !s.is_floor() && wanted("typing_200") {
        settle(idle.len()).await;
        add(
            "typing_200",
            scenarios::typing(
                s,
                &tag,
                sizes.typing_room,
                sizes.typing_room,
                sizes.typing_events,
            )
            .await,
        );
    }
    // The floor keeps no member list.
    if !s.is_floor() && wanted("join_storm_200") {
        settle(idle.len()).await;
        add(
            "join_storm_200",
            scenarios::join_storm(s, &tag, sizes.storm).await,
        );
    }
    if wanted("rooms_200x10") {
        settle(idle.len()).await;
        add(
            "rooms_200x10",
            scenarios::many_rooms(
                s,
                http,
                &tag,
                sizes.rooms,
                sizes.per_room,
                sizes.room_broadcasts,
                8,
            )
            .await,
        );
    }
    // Personal channels: the hub under test only (no other server has them).
    let hub = s.name == "hub";
    if hub && wanted("personal_publish") {
        settle(idle.len()).await;
        let [users, targets, publishes] = sizes.personal;
        add(
            "personal_publish",
            personal::publish(s, http, &tag, users, targets, publishes).await,
        );
    }
    if hub && wanted("status_storm") {
        settle(idle.len()).await;
        let [users, watched] = sizes.status_storm;
        add(
            "status_storm",
            personal::status_storm(s, &tag, users, watched).await,
        );
    }
    // Let the runtime process the closes of this round's sockets before the next server.
    tokio::time::sleep(Duration::from_secs(1)).await;
}
