//! What the load generator reports: the scenarios it knows and their units, each run's
//! summary as JSON, and the helpers of the tables it prints.

use crate::probe::{median, min};
use crate::scenarios::Run;
use serde_json::{json, Value};

/// Scenario name → what its value measures, and whether it is a fan-out scenario.
pub(crate) const SCENARIOS: &[(&str, &str, bool)] = &[
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
pub(crate) const DEFLATE_PAIRS: &[(&str, &str, bool)] = &[
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

pub(crate) fn values(runs: &[Run], f: impl Fn(&Run) -> f64) -> Vec<f64> {
    runs.iter().filter(|r| r.error.is_none()).map(f).collect()
}

pub(crate) fn summary(runs: &[Run]) -> Value {
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

pub(crate) fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v >= 1000.0 {
        format!("{:.0}", v)
    } else {
        format!("{:.2}", v)
    }
}

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if a.is_finite() && b.is_finite() && b != 0.0 {
        a / b
    } else {
        f64::NAN
    }
}
