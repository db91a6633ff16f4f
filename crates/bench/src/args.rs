//! The load generator's settings: the sizes of a full and a quick run, and the command
//! line (`scripts/bench.sh` passes the servers it started and what it measured).

use crate::restart;
use crate::scenarios::Server;
use std::collections::BTreeMap;

pub(crate) struct Sizes {
    pub(crate) rounds: usize,
    pub(crate) handshakes: usize,
    pub(crate) fanout: [usize; 2],
    pub(crate) broadcasts: [usize; 2],
    pub(crate) inflight: usize,
    pub(crate) typing_room: usize,
    pub(crate) typing_events: usize,
    pub(crate) storm: usize,
    /// The burst: sockets, broadcasts, in flight.
    pub(crate) burst: [usize; 3],
    /// The typing storm: sockets, of which typing, events each.
    pub(crate) typing_storm: [usize; 3],
    pub(crate) rooms: usize,
    pub(crate) per_room: usize,
    pub(crate) room_broadcasts: usize,
    pub(crate) idle: usize,
    /// The restart scenarios: sockets in one room, and rooms × sockets.
    pub(crate) restart_one: usize,
    pub(crate) restart_rooms: [usize; 2],
    /// Personal channels: users, users per publish, publishes.
    pub(crate) personal: [usize; 3],
    /// The status storm: users, watched by each.
    pub(crate) status_storm: [usize; 2],
}

pub(crate) const FULL: Sizes = Sizes {
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

pub(crate) const QUICK: Sizes = Sizes {
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

pub(crate) struct Args {
    pub(crate) servers: Vec<Server>,
    pub(crate) quick: bool,
    pub(crate) rounds: Option<usize>,
    pub(crate) out: Option<String>,
    pub(crate) wasm_raw: Option<u64>,
    pub(crate) wasm_gzip: Option<u64>,
    pub(crate) runtime: String,
    /// Run only the scenarios whose name starts with one of these.
    pub(crate) only: Vec<String>,
    /// Servers the restart scenarios may restart, and how.
    pub(crate) restarts: BTreeMap<String, restart::Restart>,
    /// Servers that run the restart scenarios only.
    pub(crate) restart_only: Vec<String>,
    /// The dev backend (its check count).
    pub(crate) backend: Option<String>,
    /// Run the compressing variants (`_deflate`) of the scenarios run. Off by default
    /// in a full run: their idle sockets with the others' would pass this machine's
    /// 20,000 open files in the load generator.
    pub(crate) deflate: bool,
    /// `--expect-compression on|off`: whether every server must negotiate
    /// permessage-deflate with a browser's offer (scripts/bench.sh passes what the
    /// servers were started with). Checked with the compressing clients; a server that
    /// disagrees fails the run, since its figures would be for the wrong setting.
    pub(crate) expect_compression: Option<bool>,
}

pub(crate) fn parse_args() -> Result<Args, String> {
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
