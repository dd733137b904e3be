//! `tessera serve` as a child process, and free ports for it.

use std::process::Stdio;

/// A `tessera serve` child process; killed on drop.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub address: String,
    /// What it printed on stderr up to "listening on".
    pub stderr_lines: Vec<String>,
    /// Everything it printed on stderr so far (collected in the background).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServeProcess {
    /// Every stderr line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits up to `limit` for a stderr line containing `needle`; returns it.
    pub async fn wait_for_line(&self, needle: &str, limit: std::time::Duration) -> Option<String> {
        let start = std::time::Instant::now();
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            if start.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Starts the binary with `envs` in `cwd`, waits for "listening on", returns it.
pub async fn serve_process(cwd: &std::path::Path, envs: &[(&str, String)]) -> ServeProcess {
    let mut cmd = super::tessera_command();
    use tokio::io::{AsyncBufReadExt, BufReader};
    cmd.current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("TESSERA_DATABASE_URL")
        .env("TESSERA_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("serve starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let address = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stderr line") {
            seen.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().expect("address").to_string();
            }
        }
        panic!("serve exited before listening: {seen:?}");
    })
    .await
    .expect("serve listens within 60 s");
    // Keep draining stderr so the child never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(seen.clone()));
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    ServeProcess {
        child,
        address,
        stderr_lines: seen,
        log,
    }
}

/// A listener on a free loopback port, and its base URL (`http://127.0.0.1:PORT`), for
/// the test servers standing in for outside services.
pub async fn listen_local() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, base)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
