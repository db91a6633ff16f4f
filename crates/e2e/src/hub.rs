//! Starting and stopping the hub under test.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dev_backend::DevBackend;

/// The repository root (this crate is `crates/e2e`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[derive(Clone, Debug)]
pub struct HubOptions {
    /// `None` starts the hub with no WEBHOOK_TOKEN at all (fail-closed tests).
    pub webhook_token: Option<String>,
    /// Extra `--var NAME:VALUE` pairs.
    pub vars: Vec<(String, String)>,
    /// Where the hub's Durable Object storage lives.
    pub persist_to: PathBuf,
    /// false: BACKEND_ORIGIN points at a port where nothing listens (connection refused).
    pub backend_reachable: bool,
    /// What the dev backend's `bench:<userId>` checks cost, and how many it serves at once.
    pub bench: dev_backend::BenchMode,
}

/// Builds the Worker once (release) so every `wrangler dev` started afterwards serves
/// the same bundle without rebuilding it.
pub fn build_worker() -> Result<(), String> {
    let status = Command::new("bash")
        .arg(repo_root().join("scripts/build.sh"))
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("run scripts/build.sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("scripts/build.sh failed: {status}"))
    }
}

/// A running hub: `wrangler dev` in its own process group plus the dev backend.
pub struct Hub {
    pub origin: String,
    pub ws_origin: String,
    pub webhook_token: Option<String>,
    pub backend: DevBackend,
    /// What the hub was given as BACKEND_ORIGIN.
    pub backend_origin: String,
    pub persist_to: PathBuf,
    pub port: u16,
    options: HubOptions,
    child: Mutex<Option<Child>>,
    log: PathBuf,
    pub http: reqwest::Client,
}

fn spawn_wrangler(
    port: u16,
    backend_origin: &str,
    options: &HubOptions,
    log: &Path,
) -> std::io::Result<Child> {
    let root = repo_root();
    let wrangler = root.join("node_modules/.bin/wrangler");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(wrangler);
    cmd.current_dir(&root)
        .arg("dev")
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port().to_string()])
        .args(["--persist-to", &options.persist_to.to_string_lossy()])
        .args([
            "--show-interactive-dev-session=false",
            "--live-reload=false",
        ])
        // An empty env file stops wrangler from reading the developer's .dev.vars.
        .args(["--env-file", &log.with_extension("env").to_string_lossy()])
        .args(["--var", &format!("BACKEND_ORIGIN:{backend_origin}")])
        .env("CI", "1")
        .env("NATIVOR_PREBUILT", "1")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(token) = &options.webhook_token {
        cmd.args(["--var", &format!("WEBHOOK_TOKEN:{token}")]);
    }
    for (k, v) in &options.vars {
        cmd.args(["--var", &format!("{k}:{v}")]);
    }
    std::fs::write(log.with_extension("env"), "")?;
    // Own process group, so stopping the hub stops wrangler and every workerd it started;
    // and if this test process dies, the kernel signals wrangler too.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.process_group(0);
    cmd.spawn()
}

impl Hub {
    /// Starts the dev backend and `wrangler dev`, and waits (bounded) until `/healthz` answers.
    pub async fn start(options: HubOptions, ready_within: Duration) -> Result<Arc<Hub>, String> {
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let backend = dev_backend::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dev_backend::Options {
                hub_origin: origin.clone(),
                webhook_token: options.webhook_token.clone().unwrap_or_default(),
                bench: options.bench,
            },
        )
        .await
        .map_err(|e| format!("dev backend: {e}"))?;
        std::fs::create_dir_all(&options.persist_to).map_err(|e| e.to_string())?;
        let log = options.persist_to.join("wrangler.log");
        let backend_origin = if options.backend_reachable {
            backend.origin()
        } else {
            format!("http://127.0.0.1:{}", free_port())
        };
        let child = spawn_wrangler(port, &backend_origin, &options, &log)
            .map_err(|e| format!("spawn wrangler: {e}"))?;
        let hub = Arc::new(Hub {
            ws_origin: format!("ws://127.0.0.1:{port}"),
            origin,
            webhook_token: options.webhook_token.clone(),
            backend,
            backend_origin,
            persist_to: options.persist_to.clone(),
            port,
            options,
            child: Mutex::new(Some(child)),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?,
        });
        hub.wait_ready(ready_within).await?;
        Ok(hub)
    }

    async fn wait_ready(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = self
                .http
                .get(format!("{}/healthz", self.origin))
                .timeout(Duration::from_secs(20))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Ok(mut guard) = self.child.lock() {
                if let Some(Ok(Some(status))) = guard.as_mut().map(|c| c.try_wait()) {
                    return Err(format!(
                        "wrangler dev exited ({status}); see {}",
                        self.log.display()
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "hub not ready after {within:?}; see {}",
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Everything wrangler dev and the runtime printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops wrangler dev and every process it started (idempotent).
    pub fn stop(&self) {
        let child = self.child.lock().ok().and_then(|mut c| c.take());
        if let Some(mut child) = child {
            let pgid = child.id() as i32;
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// Kills the runtime and starts it again on the same port and storage (a restart).
    pub async fn restart(&self, ready_within: Duration) -> Result<(), String> {
        self.stop();
        let child = spawn_wrangler(self.port, &self.backend_origin, &self.options, &self.log)
            .map_err(|e| format!("respawn wrangler: {e}"))?;
        if let Ok(mut guard) = self.child.lock() {
            *guard = Some(child);
        }
        self.wait_ready(ready_within).await
    }

    pub fn room_url(&self, room: &str) -> String {
        format!("{}/rooms/{room}", self.ws_origin)
    }

    /// `POST /api/broadcast` with the hub's webhook token.
    pub async fn broadcast(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(format!("{}/api/broadcast", self.origin))
            .json(body);
        if let Some(t) = &self.webhook_token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("broadcast request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        crate::spec::check_api_response(status, "http/broadcast-response.json", &body);
        (status, body)
    }

    /// `GET /api/rooms/:room/stats`.
    pub async fn stats(&self, room: &str) -> serde_json::Value {
        self.room_get(room, "stats").await
    }

    /// When the room's current in-memory instance started (`/stats`): a later value means
    /// it hibernated (or restarted) in between.
    pub async fn instance_started_at(&self, room: &str) -> u64 {
        self.stats(room).await["instanceStartedAt"]
            .as_u64()
            .expect("instanceStartedAt")
    }

    /// `GET /api/rooms/:room/connections`.
    pub async fn connections(&self, room: &str) -> serde_json::Value {
        self.room_get(room, "connections").await
    }

    /// `GET /api/rooms/:room/audit` (the newest 100 events).
    pub async fn audit(&self, room: &str) -> serde_json::Value {
        self.room_get(room, "audit").await
    }

    /// A token-gated `GET /api/rooms/:room/<what>` that must answer 200 and match
    /// `spec/schemas/http/<what>-response.json`.
    async fn room_get(&self, room: &str, what: &str) -> serde_json::Value {
        let mut req = self
            .http
            .get(format!("{}/api/rooms/{room}/{what}", self.origin));
        if let Some(t) = &self.webhook_token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("room API request");
        assert_eq!(resp.status().as_u16(), 200, "{what} status");
        let body = resp.json().await.expect("room API JSON");
        crate::spec::check_api_response(200, &format!("http/{what}-response.json"), &body);
        body
    }

    /// Participants-check requests the backend received for this room (by raw path segment).
    pub fn checks_for(&self, encoded_room: &str) -> Vec<dev_backend::Recorded> {
        let path = format!("/api/v1/message-rooms/{encoded_room}/participants/check");
        self.backend
            .state
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}
