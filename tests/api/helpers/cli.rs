//! The real `tessera` binary as a CLI.

use super::TestDb;
use serde_json::Value;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// What a CLI run produced.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// The prefix of the test suite's own variables (which database, which Python), never
/// meant for tessera: removed from every process the tests start, as a user's
/// environment would not have them (tessera reports unknown `TESSERA_*` variables).
pub const SUITE_PREFIX: &str = "TESSERA_TEST_";

/// The real `tessera` binary, without the suite's own variables (every
/// `TESSERA_TEST_*`: the databases, Django's Python, Chromium, the screenshot switch)
/// in its environment.
pub fn tessera_command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(SUITE_PREFIX) {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs the real `tessera` binary with `args` against `db`, feeding `stdin`.
pub async fn run_cli(db: &TestDb, args: &[&str], stdin: Option<&str>) -> CliOutput {
    run_cli_env(db, args, stdin, &[]).await
}

/// [`run_cli`] with extra environment variables (which may override `TESSERA_LOG`).
pub async fn run_cli_env(
    db: &TestDb,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> CliOutput {
    let mut cmd = tessera_command();
    cmd.args(args)
        .env("TESSERA_DATABASE_URL", db.url())
        .env("TESSERA_LOG", "warn")
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tessera binary runs");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().await.expect("tessera exits");
    CliOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
