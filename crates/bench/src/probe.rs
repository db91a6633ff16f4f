//! What the load generator measures besides time: percentiles, CPU time of this
//! process and of a server process, and a server's resident memory.

use std::time::Duration;

/// The p-th percentile (0–100) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

pub fn min(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::min)
}

/// CPU seconds (user + system) this process has used so far.
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds (user + system) process `pid` has used so far, from /proc.
pub fn process_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may contain spaces) start after ") ".
    let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// Resident memory of process `pid` in KiB, from /proc.
pub fn process_rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// Waits (at most 30 s, outside every measured window) until the server holds at most
/// `allowed` open files. workerd 2026-11-17 keeps a WebSocket whose client has gone in
/// CLOSE-WAIT, two descriptors each, until the server answers its close, or, if it never
/// does, until its object goes idle (~10 s). This hub answers: after a 4,000-socket
/// fan-out it waits here about 1 s; the floor, the baseline (whose echo of a close
/// without a code fails) and the hub before it answered closes wait 10–30 s. Without
/// this pause the sockets of consecutive scenarios piled up past this machine's limit
/// of 20,000 open files and the server refused connections.
pub async fn settle(pid: u32, allowed: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let open = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|fds| fds.count());
        match open {
            Ok(n) if n > allowed => tokio::time::sleep(Duration::from_millis(500)).await,
            _ => return,
        }
    }
}

/// CPU use over one measured interval, in cores (1.0 = one core busy all along).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuShare {
    pub loadgen: f64,
    pub server: f64,
}

pub struct CpuMeter {
    pid: u32,
    wall: std::time::Instant,
    self0: f64,
    server0: f64,
}

impl CpuMeter {
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            wall: std::time::Instant::now(),
            self0: self_cpu(),
            server0: process_cpu(pid),
        }
    }

    pub fn stop(&self) -> CpuShare {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        CpuShare {
            loadgen: (self_cpu() - self.self0) / wall,
            server: (process_cpu(self.pid) - self.server0) / wall,
        }
    }
}
