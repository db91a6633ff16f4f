//! `loadgen`: the benchmark's load generator. `scripts/bench.sh` starts the servers
//! under test (this hub, a JS baseline, the JS floor) directly on workerd and runs it:
//!
//! ```text
//! loadgen --server hub=http://127.0.0.1:9801@<pid> --server baseline=…@<pid> --server floor=…@<pid>
//!         [--rounds 3] [--quick] [--out results.json] [--wasm-raw N --wasm-gzip N] [--runtime TEXT]
//! ```
//! Servers are interleaved within every round. Prints a table; writes JSON; exits 1 if
//! any run lost or duplicated a delivery (or otherwise failed).

mod args;
mod deflate;
mod personal;
mod probe;
mod report;
mod restart;
mod round;
mod scenarios;
mod socket;

use args::{parse_args, FULL, QUICK};
use probe::{median, min};
use report::{fmt, ratio, summary, values, DEFLATE_PAIRS, SCENARIOS};
use round::{round, Results};
use scenarios::Run;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

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
