//! `loadgen`: the benchmark's load generator. `scripts/bench.sh` starts the servers
//! under test (this hub, a JS baseline, the JS floor) directly on workerd and runs it:
//!
//! ```text
//! loadgen --server hub=http://127.0.0.1:9801@<pid> --server baseline=…@<pid> --server floor=…@<pid>
//!         [--rounds 3] [--quick] [--out results.json] [--wasm-raw N --wasm-gzip N] [--runtime TEXT]
//! ```
//! Servers are interleaved within every round. Prints a table; writes JSON; exits 1 if
//! any run lost or duplicated a delivery (or otherwise failed).

mod deflate;
mod personal;
mod probe;
mod restart;
mod scenarios;
mod socket;

use probe::{median, min};
use scenarios::{Run, Server};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

struct Sizes {
    rounds: usize,
    handshakes: usize,
    fanout: [usize; 2],
    broadcasts: [usize; 2],
    inflight: usize,
    typing_room: usize,
    typing_events: usize,
    storm: usize,
    /// The burst: sockets, broadcasts, in flight.
    burst: [usize; 3],
    /// The typing storm: sockets, of which typing, events each.
    typing_storm: [usize; 3],
    rooms: usize,
    per_room: usize,
    room_broadcasts: usize,
    idle: usize,
    /// The restart scenarios: sockets in one room, and rooms × sockets.
    restart_one: usize,
    restart_rooms: [usize; 2],
    /// Personal channels: users, users per publish, publishes.
    personal: [usize; 3],
    /// The status storm: users, watched by each.
    status_storm: [usize; 2],
}

const FULL: Sizes = Sizes {
    rounds: 3,
    handshakes: 2000,
    fanout: [1000, 4000],
    broadcasts: [30, 15],
    inflight: 4,
    typing_room: 200,
    typing_events: 5,
    storm: 200,
    burst: [1000, 64, 16],
    typing_storm: [1000, 50, 5],
    rooms: 200,
    per_room: 10,
    room_broadcasts: 5,
    idle: 1000,
    restart_one: 2000,
    restart_rooms: [200, 10],
    personal: [1000, 100, 30],
    status_storm: [1000, 50],
};

const QUICK: Sizes = Sizes {
    rounds: 1,
    handshakes: 100,
    fanout: [50, 100],
    broadcasts: [5, 5],
    inflight: 4,
    typing_room: 10,
    typing_events: 3,
    storm: 20,
    burst: [50, 16, 16],
    typing_storm: [40, 5, 3],
    rooms: 10,
    per_room: 3,
    room_broadcasts: 2,
    idle: 100,
    restart_one: 40,
    restart_rooms: [5, 4],
    personal: [20, 10, 3],
    status_storm: [20, 5],
};

/// Scenario name → what its value measures, and whether it is a fan-out scenario.
const SCENARIOS: &[(&str, &str, bool)] = &[
    ("handshake", "handshakes/s", false),
    ("fanout_1000_sequential", "deliveries/s", true),
    ("fanout_1000_sequential_batch", "deliveries/s", false),
    ("fanout_1000_inflight", "deliveries/s", true),
    ("fanout_4000_sequential", "deliveries/s", true),
    ("fanout_4000_inflight", "deliveries/s", true),
    ("fanout_4000_inflight_batch", "deliveries/s", false),
    ("burst_1000", "deliveries/s", false),
    ("burst_1000_batch", "deliveries/s", false),
    ("typing_storm_1000", "deliveries/s", false),
    ("typing_storm_1000_batch", "deliveries/s", false),
    ("typing_200", "deliveries/s", false),
    ("join_storm_200", "members known/s", false),
    ("rooms_200x10", "deliveries/s", false),
    ("restart_2000", "s to 99% back", false),
    ("restart_200x10", "s to 99% back", false),
    ("idle_memory", "KiB/socket", false),
    ("room_memory_100x10", "KiB/socket", false),
    // The hub's servers only: personal channels (`personal`).
    ("personal_publish", "deliveries/s", false),
    ("status_storm", "s until every watcher knows", false),
    // The same loads with clients that negotiate permessage-deflate as browsers do
    // (`--deflate`; on in quick runs): see `DEFLATE_PAIRS`.
    ("fanout_1000_sequential_deflate", "deliveries/s", false),
    (
        "fanout_1000_sequential_batch_deflate",
        "deliveries/s",
        false,
    ),
    ("fanout_1000_inflight_deflate", "deliveries/s", false),
    ("fanout_4000_inflight_deflate", "deliveries/s", false),
    ("burst_1000_deflate", "deliveries/s", false),
    ("burst_1000_batch_deflate", "deliveries/s", false),
    ("idle_memory_deflate", "KiB/socket", false),
];

/// Each compressing scenario and its uncompressed twin; the fan-out ones (for the
/// compressed fan-out ratios against the baseline and the floor) are marked.
const DEFLATE_PAIRS: &[(&str, &str, bool)] = &[
    (
        "fanout_1000_sequential_deflate",
        "fanout_1000_sequential",
        true,
    ),
    (
        "fanout_1000_sequential_batch_deflate",
        "fanout_1000_sequential_batch",
        false,
    ),
    ("fanout_1000_inflight_deflate", "fanout_1000_inflight", true),
    ("fanout_4000_inflight_deflate", "fanout_4000_inflight", true),
    ("burst_1000_deflate", "burst_1000", false),
    ("burst_1000_batch_deflate", "burst_1000_batch", false),
    ("idle_memory_deflate", "idle_memory", false),
];

struct Args {
    servers: Vec<Server>,
    quick: bool,
    rounds: Option<usize>,
    out: Option<String>,
    wasm_raw: Option<u64>,
    wasm_gzip: Option<u64>,
    runtime: String,
    /// Run only the scenarios whose name starts with one of these.
    only: Vec<String>,
    /// Servers the restart scenarios may restart, and how.
    restarts: BTreeMap<String, restart::Restart>,
    /// Servers that run the restart scenarios only.
    restart_only: Vec<String>,
    /// The dev backend (its check count).
    backend: Option<String>,
    /// Run the compressing variants (`_deflate`) of the scenarios run. Off by default
    /// in a full run: their idle sockets with the others' would pass this machine's
    /// 20,000 open files in the load generator.
    deflate: bool,
    /// `--expect-compression on|off`: whether every server must negotiate
    /// permessage-deflate with a browser's offer (scripts/bench.sh passes what the
    /// servers were started with). Checked with the compressing clients; a server that
    /// disagrees fails the run, since its figures would be for the wrong setting.
    expect_compression: Option<bool>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        servers: Vec::new(),
        quick: false,
        rounds: None,
        out: None,
        wasm_raw: None,
        wasm_gzip: None,
        runtime: "workerd".into(),
        only: Vec::new(),
        restarts: BTreeMap::new(),
        restart_only: Vec::new(),
        backend: None,
        deflate: false,
        expect_compression: None,
    };
    let mut workerd = String::new();
    let mut restart_configs = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => {
                let v = value()?;
                let (name, rest) = v.split_once('=').ok_or("--server NAME=ORIGIN@PID")?;
                let (origin, pid) = rest.rsplit_once('@').ok_or("--server NAME=ORIGIN@PID")?;
                a.servers.push(Server {
                    name: name.into(),
                    origin: origin.into(),
                    pid: pid.parse().map_err(|_| "bad pid")?,
                    token: "dev:".into(),
                    batch: false,
                    deflate: false,
                });
            }
            "--quick" => a.quick = true,
            "--deflate" => a.deflate = true,
            "--expect-compression" => {
                a.expect_compression = match value()?.as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => return Err("--expect-compression on|off".into()),
                }
            }
            "--rounds" => a.rounds = Some(value()?.parse().map_err(|_| "bad --rounds")?),
            "--out" => a.out = Some(value()?),
            "--wasm-raw" => a.wasm_raw = value()?.parse().ok(),
            "--wasm-gzip" => a.wasm_gzip = value()?.parse().ok(),
            "--runtime" => a.runtime = value()?,
            "--only" => a.only.push(value()?),
            "--workerd" => workerd = value()?,
            "--backend" => a.backend = Some(value()?),
            "--restart-only" => a.restart_only.push(value()?),
            "--restart" => {
                let v = value()?;
                let (name, config) = v.split_once('=').ok_or("--restart NAME=CONFIG")?;
                restart_configs.push((name.to_owned(), config.to_owned()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.servers.is_empty() {
        return Err("give at least one --server".into());
    }
    // Quick runs prove the compressing clients work; naming one runs it.
    a.deflate |= a.quick || a.only.iter().any(|o| o.contains("deflate"));
    for (name, config) in restart_configs {
        let log = config
            .strip_suffix(".capnp")
            .map(|stem| format!("{stem}.log"))
            .unwrap_or_else(|| format!("{config}.log"));
        let how = restart::Restart {
            workerd: workerd.clone(),
            config,
            log,
        };
        a.restarts.insert(name, how);
    }
    Ok(a)
}

type Results = BTreeMap<&'static str, BTreeMap<String, Vec<Run>>>;

#[allow(clippy::too_many_arguments)]
async fn round(
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

fn values(runs: &[Run], f: impl Fn(&Run) -> f64) -> Vec<f64> {
    runs.iter().filter(|r| r.error.is_none()).map(f).collect()
}

fn summary(runs: &[Run]) -> Value {
    let ok = values(runs, |r| r.value);
    json!({
        "runs": runs.iter().map(|r| json!({
            "value": if r.error.is_none() { json!(r.value) } else { Value::Null },
            "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            "loadgen_cpu_cores": r.cpu.loadgen, "server_cpu_cores": r.cpu.server,
            "error": r.error,
            "extra": r.extra,
        })).collect::<Vec<_>>(),
        "failed_runs": runs.len() - ok.len(),
        "min": min(&ok), "median": median(&ok),
        "p50_ms_median": median(&values(runs, |r| r.p50_ms)),
        "p99_ms_median": median(&values(runs, |r| r.p99_ms)),
        "loadgen_cpu_cores_median": median(&values(runs, |r| r.cpu.loadgen)),
        "server_cpu_cores_median": median(&values(runs, |r| r.cpu.server)),
    })
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v >= 1000.0 {
        format!("{:.0}", v)
    } else {
        format!("{:.2}", v)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if a.is_finite() && b.is_finite() && b != 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

#[tokio::main]
async fn main() {
    let mut args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let sizes = if args.quick { &QUICK } else { &FULL };
    let rounds = args.rounds.unwrap_or(sizes.rounds);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        // Idle connections are dropped well before a server would close them: a POST
        // sent on a connection the server is closing fails as "error sending request".
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("HTTP client");
    let mut results: Results = BTreeMap::new();
    let mut idle: BTreeMap<String, Vec<socket::Joined>> = BTreeMap::new();
    // The compression switches as the clients see them, once per server.
    let mut extensions = Map::new();
    if args.deflate {
        for s in args
            .servers
            .iter()
            .filter(|s| !args.restart_only.contains(&s.name))
        {
            let tag = format!("x-{}", std::process::id());
            let seen = scenarios::extensions(s, &tag).await;
            println!("extensions {}: {seen}", s.name);
            let negotiated = seen["offer"]["extensions"].is_string();
            if let Some(expected) = args.expect_compression.filter(|e| *e != negotiated) {
                let setting = |on: bool| if on { "on" } else { "off" };
                eprintln!(
                    "{} negotiated compression {}, but its setting is {}: its figures would be for the wrong setting",
                    s.name,
                    setting(negotiated),
                    setting(expected)
                );
                std::process::exit(1);
            }
            extensions.insert(s.name.clone(), seen);
        }
    }
    for r in 0..rounds {
        // Interleave: each round starts with a different server.
        for i in 0..args.servers.len() {
            let s = &args.servers[(i + r) % args.servers.len()];
            if args.restart_only.contains(&s.name) {
                continue;
            }
            println!("round {}/{rounds}: {}", r + 1, s.name);
            let keep = idle.entry(s.name.clone()).or_default();
            round(
                s,
                sizes,
                r,
                &args.only,
                args.deflate,
                &http,
                keep,
                &mut results,
            )
            .await;
        }
    }
    drop(idle);
    // Restarts last: they kill the servers, and every idle socket with them.
    if let Some(backend) = args.backend.clone() {
        let wanted =
            |name: &str| args.only.is_empty() || args.only.iter().any(|o| name.starts_with(o));
        let scenarios = [
            ("restart_2000", 1, sizes.restart_one),
            (
                "restart_200x10",
                sizes.restart_rooms[0],
                sizes.restart_rooms[1],
            ),
        ];
        let scenarios: Vec<_> = scenarios.into_iter().filter(|s| wanted(s.0)).collect();
        for r in 0..rounds {
            for i in 0..args.servers.len() {
                let idx = (i + r) % args.servers.len();
                let name = args.servers[idx].name.clone();
                let Some(how) = args.restarts.get(&name).cloned() else {
                    continue;
                };
                for (scenario, rooms, per_room) in &scenarios {
                    println!("restart {}/{rounds}: {name} {scenario}", r + 1);
                    let s = &mut args.servers[idx];
                    probe::settle(s.pid, 4_000).await;
                    let tag = format!("r{r}-{}-{scenario}", std::process::id());
                    let run = restart::run(s, &how, &backend, &http, &tag, *rooms, *per_room).await;
                    if let Some(e) = &run.error {
                        eprintln!("  {scenario} on {name}: FAILED: {e}");
                    }
                    results
                        .entry(scenario)
                        .or_default()
                        .entry(name.clone())
                        .or_default()
                        .push(run);
                }
            }
        }
    }

    let names: Vec<String> = args.servers.iter().map(|s| s.name.clone()).collect();
    let med = |scenario: &str, server: &str| {
        results
            .get(scenario)
            .and_then(|m| m.get(server))
            .map(|r| median(&values(r, |x| x.value)))
            .unwrap_or(f64::NAN)
    };
    let p99 = |scenario: &str, server: &str| {
        results
            .get(scenario)
            .and_then(|m| m.get(server))
            .map(|r| median(&values(r, |x| x.p99_ms)))
            .unwrap_or(f64::NAN)
    };

    println!();
    let header: Vec<String> = names.iter().map(|n| format!("{n} median (min)")).collect();
    println!("| scenario | unit | {} | hub/baseline | hub/floor | p99 ms (hub / baseline) | loadgen CPU (cores) |", header.join(" | "));
    println!("|---|---|{}---|---|---|---|", "---|".repeat(names.len()));
    let mut scen_json = Map::new();
    let mut ratios = Map::new();
    let (mut vs_js, mut vs_floor) = (Vec::new(), Vec::new());
    for (scenario, unit, is_fanout) in SCENARIOS {
        let Some(per_server) = results.get(scenario) else {
            continue;
        };
        let cells: Vec<String> = names
            .iter()
            .map(|n| match per_server.get(n) {
                Some(runs) => {
                    let ok = values(runs, |r| r.value);
                    let failed = runs.len() - ok.len();
                    let mut cell = format!("{} ({})", fmt(median(&ok)), fmt(min(&ok)));
                    if failed > 0 {
                        cell.push_str(&format!(" **{failed} FAILED**"));
                    }
                    cell
                }
                None => "n/a".into(),
            })
            .collect();
        let (hub_js, hub_floor) = (
            ratio(med(scenario, "hub"), med(scenario, "baseline")),
            ratio(med(scenario, "hub"), med(scenario, "floor")),
        );
        if *is_fanout {
            vs_js.push(hub_js);
            vs_floor.push(hub_floor);
        }
        let mut scenario_ratios = json!({"hub_vs_baseline": hub_js, "hub_vs_floor": hub_floor,
            "p99_hub_vs_baseline": ratio(p99(scenario, "hub"), p99(scenario, "baseline"))});
        // An earlier build run alongside (`BENCH_HUB_BEFORE` in scripts/bench.sh).
        if per_server.contains_key("hub_before") {
            scenario_ratios["hub_vs_hub_before"] =
                json!(ratio(med(scenario, "hub"), med(scenario, "hub_before")));
            scenario_ratios["p99_hub_vs_hub_before"] =
                json!(ratio(p99(scenario, "hub"), p99(scenario, "hub_before")));
        }
        ratios.insert(scenario.to_string(), scenario_ratios);
        let lg = per_server
            .get("hub")
            .map(|r| median(&values(r, |x| x.cpu.loadgen)))
            .unwrap_or(f64::NAN);
        println!(
            "| {scenario} | {unit} | {} | {} | {} | {} / {} | {} |",
            cells.join(" | "),
            fmt(hub_js),
            fmt(hub_floor),
            fmt(p99(scenario, "hub")),
            fmt(p99(scenario, "baseline")),
            fmt(lg)
        );
        let servers: Map<String, Value> = per_server
            .iter()
            .map(|(k, v)| (k.clone(), summary(v)))
            .collect();
        scen_json.insert(
            scenario.to_string(),
            json!({"unit": unit, "servers": servers}),
        );
    }
    // Batching: logical deliveries/s of batching clients against the floor's per-frame
    // deliveries/s, p99 against the per-frame hub's, and the frames that carried them.
    let frames_per_s = |scenario: &str| {
        results
            .get(scenario)
            .and_then(|m| m.get("hub"))
            .map(|runs| {
                median(
                    &runs
                        .iter()
                        .filter_map(|r| r.extra["frames_per_s"].as_f64())
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or(f64::NAN)
    };
    let mut batching = Map::new();
    let mut batch_vs_floor = Vec::new();
    let pairs = [
        ("fanout_1000_sequential_batch", "fanout_1000_sequential"),
        ("fanout_4000_inflight_batch", "fanout_4000_inflight"),
        ("burst_1000_batch", "burst_1000"),
        ("typing_storm_1000_batch", "typing_storm_1000"),
    ];
    if pairs.iter().any(|(b, _)| results.contains_key(b)) {
        println!();
        println!("| batching | hub deliveries/s | hub frames/s | per-frame hub deliveries/s | floor deliveries/s | batch/floor | p99 ms batch / per-frame | p99 ratio |");
        println!("|---|---|---|---|---|---|---|---|");
    }
    for (batched, plain) in pairs {
        if !results.contains_key(batched) {
            continue;
        }
        let vs_floor = ratio(med(batched, "hub"), med(plain, "floor"));
        let p99_ratio = ratio(p99(batched, "hub"), p99(plain, "hub"));
        // The target's two burst scenarios.
        if ["fanout_4000_inflight_batch", "burst_1000_batch"].contains(&batched) {
            batch_vs_floor.push(vs_floor);
        }
        println!(
            "| {batched} | {} | {} | {} | {} | {} | {} / {} | {} |",
            fmt(med(batched, "hub")),
            fmt(frames_per_s(batched)),
            fmt(med(plain, "hub")),
            fmt(med(plain, "floor")),
            fmt(vs_floor),
            fmt(p99(batched, "hub")),
            fmt(p99(plain, "hub")),
            fmt(p99_ratio)
        );
        batching.insert(
            batched.to_string(),
            json!({
                "deliveries_per_s": med(batched, "hub"),
                "frames_per_s": frames_per_s(batched),
                "per_frame_deliveries_per_s": med(plain, "hub"),
                "per_frame_frames_per_s": frames_per_s(plain),
                "floor_deliveries_per_s": med(plain, "floor"),
                "vs_floor": vs_floor,
                "p99_ms": p99(batched, "hub"),
                "per_frame_p99_ms": p99(plain, "hub"),
                "p99_vs_per_frame": p99_ratio,
            }),
        );
    }
    let batch_vs_floor_min = min(&batch_vs_floor);
    if !batch_vs_floor.is_empty() {
        println!("batch_vs_floor_min = {}", fmt(batch_vs_floor_min));
    }
    // Compression: each compressing scenario against its plain twin, per server, in
    // the same run (same servers, same rounds). Server CPU per delivery is the
    // median server CPU (cores) over the median rate.
    let med_of = |scenario: &str, server: &str, f: &dyn Fn(&Run) -> f64| {
        results
            .get(scenario)
            .and_then(|m| m.get(server))
            .map(|r| median(&values(r, f)))
            .unwrap_or(f64::NAN)
    };
    let extra_of = |scenario: &str, server: &str, key: &str| {
        results
            .get(scenario)
            .and_then(|m| m.get(server))
            .map(|runs| {
                median(
                    &runs
                        .iter()
                        .filter(|r| r.error.is_none())
                        .filter_map(|r| r.extra[key].as_f64())
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or(f64::NAN)
    };
    let mut compression = Map::new();
    let (mut deflate_vs_js, mut deflate_vs_floor) = (Vec::new(), Vec::new());
    if DEFLATE_PAIRS
        .iter()
        .any(|(z, _, _)| results.contains_key(z))
    {
        println!();
        println!("| compression | server | plain | deflate | deflate/plain | server CPU cores plain / deflate | server µs per delivery plain / deflate | loadgen CPU deflate | p99 ms plain / deflate | wire / inflated bytes per frame |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
    }
    for (zipped, plain, is_fanout) in DEFLATE_PAIRS {
        let Some(per_server) = results.get(zipped) else {
            continue;
        };
        if *is_fanout {
            deflate_vs_js.push(ratio(med(zipped, "hub"), med(zipped, "baseline")));
            deflate_vs_floor.push(ratio(med(zipped, "hub"), med(zipped, "floor")));
        }
        let mut servers = Map::new();
        for name in names.iter().filter(|n| per_server.contains_key(*n)) {
            let cpu = |sc: &str| med_of(sc, name, &|r| r.cpu.server);
            let us = |sc: &str| 1e6 * ratio(cpu(sc), med(sc, name));
            let row = json!({
                "plain": med(plain, name),
                "deflate": med(zipped, name),
                "deflate_vs_plain": ratio(med(zipped, name), med(plain, name)),
                "server_cpu_cores_plain": cpu(plain),
                "server_cpu_cores_deflate": cpu(zipped),
                "server_cpu_us_per_delivery_plain": us(plain),
                "server_cpu_us_per_delivery_deflate": us(zipped),
                "loadgen_cpu_cores_plain": med_of(plain, name, &|r| r.cpu.loadgen),
                "loadgen_cpu_cores_deflate": med_of(zipped, name, &|r| r.cpu.loadgen),
                "p99_ms_plain": p99(plain, name),
                "p99_ms_deflate": p99(zipped, name),
                "wire_bytes_per_frame": extra_of(zipped, name, "wire_bytes_per_frame"),
                "inflated_bytes_per_frame": extra_of(zipped, name, "inflated_bytes_per_frame"),
                "awake_kib_per_socket_plain": extra_of(plain, name, "awake_kib_per_socket"),
                "awake_kib_per_socket_deflate": extra_of(zipped, name, "awake_kib_per_socket"),
                "negotiated": per_server[name].iter().find_map(|r| r.extra.get("negotiated").cloned()),
            });
            let f = |k: &str| fmt(row[k].as_f64().unwrap_or(f64::NAN));
            println!(
                "| {zipped} | {name} | {} | {} | {} | {} / {} | {} / {} | {} | {} / {} | {} / {} |",
                f("plain"),
                f("deflate"),
                f("deflate_vs_plain"),
                f("server_cpu_cores_plain"),
                f("server_cpu_cores_deflate"),
                f("server_cpu_us_per_delivery_plain"),
                f("server_cpu_us_per_delivery_deflate"),
                f("loadgen_cpu_cores_deflate"),
                f("p99_ms_plain"),
                f("p99_ms_deflate"),
                f("wire_bytes_per_frame"),
                f("inflated_bytes_per_frame"),
            );
            servers.insert(name.clone(), row);
        }
        compression.insert(
            zipped.to_string(),
            json!({"plain_scenario": plain, "servers": servers}),
        );
    }
    if !deflate_vs_js.is_empty() {
        println!(
            "fanout_deflate_vs_js_min = {}, fanout_deflate_vs_floor_min = {}",
            fmt(min(&deflate_vs_js)),
            fmt(min(&deflate_vs_floor))
        );
    }
    // The restart scenarios in full: times to 50/99/100% back, the participants checks
    // the backend received while the clients came back, refused authentications.
    let mut restart_json = Map::new();
    let mut ticket_vs_js = Vec::new();
    let extra_median = |runs: &[Run], key: &str| {
        median(
            &runs
                .iter()
                .filter_map(|r| r.extra[key].as_f64())
                .collect::<Vec<_>>(),
        )
    };
    for scenario in ["restart_2000", "restart_200x10"] {
        let Some(per_server) = results.get(scenario) else {
            continue;
        };
        println!();
        println!("| {scenario} | to 50% (s) | to 99% (s) | to 100% (s) | participants checks | refused auths | failed runs |");
        println!("|---|---|---|---|---|---|---|");
        let mut servers = Map::new();
        for (name, runs) in per_server {
            let ok: Vec<Run> = runs.iter().filter(|r| r.error.is_none()).cloned().collect();
            let row = json!({
                "t50_s": median(&values(runs, |r| r.p50_ms)) / 1000.0,
                "t99_s": median(&values(runs, |r| r.value)),
                "t100_s": extra_median(&ok, "t100_ms") / 1000.0,
                "checks": extra_median(runs, "checks"),
                "refused_auths": extra_median(runs, "refused_auths"),
                "failed_runs": runs.len() - ok.len(),
            });
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} |",
                fmt(row["t50_s"].as_f64().unwrap_or(f64::NAN)),
                fmt(row["t99_s"].as_f64().unwrap_or(f64::NAN)),
                fmt(row["t100_s"].as_f64().unwrap_or(f64::NAN)),
                fmt(row["checks"].as_f64().unwrap_or(f64::NAN)),
                fmt(row["refused_auths"].as_f64().unwrap_or(f64::NAN)),
                runs.len() - ok.len()
            );
            servers.insert(name.clone(), row);
        }
        let t99 = |server: &str| med(scenario, server);
        let ratios = json!({
            "tickets_t99_vs_baseline": ratio(t99("hub"), t99("baseline")),
            "no_tickets_t99_vs_baseline": ratio(t99("hub_noresume"), t99("baseline")),
        });
        ticket_vs_js.push(
            ratios["tickets_t99_vs_baseline"]
                .as_f64()
                .unwrap_or(f64::NAN),
        );
        println!(
            "t99 with tickets / baseline = {}, without tickets / baseline = {}",
            fmt(ratios["tickets_t99_vs_baseline"]
                .as_f64()
                .unwrap_or(f64::NAN)),
            fmt(ratios["no_tickets_t99_vs_baseline"]
                .as_f64()
                .unwrap_or(f64::NAN))
        );
        restart_json.insert(
            scenario.to_string(),
            json!({"servers": servers, "ratios": ratios}),
        );
    }
    let failed: usize = results
        .values()
        .flat_map(|m| m.values())
        .flatten()
        .filter(|r| r.error.is_some())
        .count();
    let report = json!({
        "date": std::env::var("BENCH_DATE").unwrap_or_default(),
        "quick": args.quick,
        "rounds": rounds,
        "runtime": args.runtime,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "wasm": { "raw_bytes": args.wasm_raw, "gzip_bytes": args.wasm_gzip },
        "fanout_vs_js_min": min(&vs_js),
        "fanout_vs_floor_min": min(&vs_floor),
        "batch_vs_floor_min": batch_vs_floor_min,
        "batching": batching,
        "fanout_deflate_vs_js_min": min(&deflate_vs_js),
        "fanout_deflate_vs_floor_min": min(&deflate_vs_floor),
        "compression": compression,
        "extensions": extensions,
        "ratios": ratios,
        "scenarios": scen_json,
        "restart": restart_json,
        "restart_tickets_t99_vs_baseline_max": ticket_vs_js.iter().copied().fold(f64::NAN, f64::max),
        "failed_runs": failed,
    });
    println!();
    println!(
        "fanout_vs_js_min = {}, fanout_vs_floor_min = {}",
        fmt(min(&vs_js)),
        fmt(min(&vs_floor))
    );
    if let (Some(raw), Some(gz)) = (args.wasm_raw, args.wasm_gzip) {
        println!("wasm: {raw} bytes raw, {gz} bytes gzip");
    }
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
        println!("wrote {path}");
    }
    if failed > 0 {
        eprintln!("{failed} run(s) failed: see above");
        std::process::exit(1);
    }
}
