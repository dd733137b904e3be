//! `tessera serve` as a child process, and free ports for it.

use std::process::Stdio;

/// A `tessera serve` child process; killed on drop.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub address: String,
    pub stderr_lines: Vec<String>,
}

/// Starts the binary with `envs` in `cwd`, waits for "listening on", returns it.
pub async fn serve_process(cwd: &std::path::Path, envs: &[(&str, String)]) -> ServeProcess {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
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
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    ServeProcess {
        child,
        address,
        stderr_lines: seen,
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
