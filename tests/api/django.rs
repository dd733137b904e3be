//! A Django project moves in: a real Django + DRF + djangorestframework-simplejwt
//! project (tests/django/project, copied into a temp dir) makes its users with Django's
//! own `create_user`, dumps them with `dumpdata auth.user`; tessera imports them, logs
//! them in with their Django passwords, and the project's stock `JWTAuthentication`
//! maps tessera's tokens to its own users.
//!
//! Python packages come from tests/django/requirements.txt in a venv: the one named by
//! `TESSERA_TEST_DJANGO_PYTHON` (set by .ci/run), else `target/django-venv`, made on
//! first use (pip fetches the packages). The test needs Python 3 and those packages, so
//! it is `#[ignore]`d: a plain `cargo test` shows it as ignored, `.ci/run` runs it
//! (`--include-ignored`), and `cargo test -- --ignored django` runs it here; without
//! `python3` it fails, never passes having checked nothing.

use crate::helpers::{free_port, spawn_simplejwt_app, Answer, CliOutput, TestApp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

const PASSWORD: &str = "a Django password";
const AUDIENCE: &str = "https://api.example.com";
const PACKAGES: &str =
    "import django, rest_framework, rest_framework_simplejwt, jwt, argon2, bcrypt";

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django")
}

fn has_packages(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", PACKAGES])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The venv's Python, made if need be.
fn python() -> PathBuf {
    static MADE: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(named) = std::env::var("TESSERA_TEST_DJANGO_PYTHON") {
        let python = PathBuf::from(named);
        assert!(
            has_packages(&python),
            "TESSERA_TEST_DJANGO_PYTHON={} lacks the packages of tests/django/requirements.txt",
            python.display()
        );
        return python;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/django-venv");
    let python = venv.join("bin/python");
    if has_packages(&python) {
        return python;
    }
    let have_python3 = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have_python3,
        "the Django test needs python3 (and pip, to make its venv)"
    );
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "python3 -m venv {} failed", venv.display());
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(source_dir().join("requirements.txt"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        installed,
        "pip could not install tests/django/requirements.txt"
    );
    python
}

/// The project in a temp dir, with its own SQLite database.
struct DjangoProject {
    python: PathBuf,
    dir: tempfile::TempDir,
    issuer: String,
}

impl DjangoProject {
    fn new(python: PathBuf, issuer: &str) -> DjangoProject {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&source_dir().join("project"), dir.path());
        DjangoProject {
            python,
            dir,
            issuer: issuer.to_string(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg("manage.py")
            .args(args)
            .current_dir(self.dir.path())
            .env("TESSERA_ISSUER", &self.issuer)
            .env("TESSERA_AUDIENCE", AUDIENCE)
            .env("DJANGO_DB_PATH", self.dir.path().join("db.sqlite3"));
        cmd
    }

    /// Runs `manage.py args…` with `stdin`; returns stdout, panicking on failure.
    fn manage(&self, args: &[&str], stdin: Option<&Path>) -> Vec<u8> {
        let mut cmd = self.command(args);
        if let Some(path) = stdin {
            cmd.stdin(std::fs::File::open(path).expect("stdin file"));
        }
        let out = cmd.output().expect("manage.py runs");
        assert!(
            out.status.success(),
            "manage.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `manage.py runserver` on a free port, until dropped.
    fn serve(&self) -> DjangoServer {
        let port = free_port();
        let child = self
            .command(&["runserver", &format!("127.0.0.1:{port}"), "--noreload"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("runserver starts");
        DjangoServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

struct DjangoServer {
    child: std::process::Child,
    url: String,
}

impl DjangoServer {
    /// `GET /whoami/` with `token`: (status, body).
    async fn whoami(&self, http: &reqwest::Client, token: &str) -> (u16, Value) {
        let res = http
            .get(format!("{}/whoami/", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("Django answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        for _ in 0..150 {
            if let Ok(res) = http.get(format!("{}/whoami/", self.url)).send().await {
                assert_eq!(res.status(), 401, "an anonymous call is refused");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Django's runserver did not come up");
    }
}

impl Drop for DjangoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read project dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            if entry.file_name() == "__pycache__" {
                continue;
            }
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

async fn import(app: &TestApp, file: &Path, extra: &[&str]) -> CliOutput {
    let path = file.display().to_string();
    let mut args = vec!["user", "import", "--django", path.as_str()];
    args.extend_from_slice(extra);
    app.cli(&args).await
}

async fn login(app: &TestApp, username: &str) -> Answer {
    let body = json!({"username": username, "password": PASSWORD});
    app.post_json("/api/token/", &body, None).await
}

async fn scheme(app: &TestApp, username: &str) -> Value {
    let out = app.cli(&["user", "show", username]).await;
    assert!(out.success, "{}", out.stderr);
    out.json()["password_scheme"].clone()
}

#[tokio::test]
#[ignore = "needs Python 3 with Django, DRF and simplejwt: .ci/run runs it; here: cargo test -- --ignored django"]
async fn a_django_project_moves_in_with_its_users_and_stock_simplejwt() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let (app, _) = spawn_simplejwt_app(&["--audience", AUDIENCE], |_| {}).await;
    let issuer = app.metadata().await["issuer"]
        .as_str()
        .expect("issuer")
        .to_string();

    // The project as it was: its users, made by Django, dumped by Django.
    let project = DjangoProject::new(python, &issuer);
    project.manage(&["migrate", "-v", "0"], None);
    project.manage(&["shell"], Some(&source_dir().join("make_users.py")));
    let dump = project.dir.path().join("users.json");
    std::fs::write(&dump, project.manage(&["dumpdata", "auth.user"], None)).expect("dump");
    let records: Value =
        serde_json::from_slice(&std::fs::read(&dump).expect("read")).expect("json");
    let pk_of = |name: &str| {
        records
            .as_array()
            .expect("records")
            .iter()
            .find(|r| r["fields"]["username"] == name)
            .map(|r| r["pk"].clone())
            .expect("user in dump")
    };

    // A dump of the whole auth app (permissions too) is not a user dump: nothing written.
    let whole_app = project.dir.path().join("auth.json");
    std::fs::write(&whole_app, project.manage(&["dumpdata", "auth"], None)).expect("dump");
    let bad = import(&app, &whole_app, &[]).await;
    assert!(!bad.success, "{}", bad.stdout);
    assert!(bad.stderr.contains("is not auth.user"), "{}", bad.stderr);
    assert_eq!(app.count_rows("users"), 0);

    let dry = import(&app, &dump, &["--dry-run"]).await;
    assert!(dry.success, "{}", dry.stderr);
    assert_eq!(dry.json()["imported"], 7);
    assert_eq!(app.count_rows("users"), 0, "a dry run writes nothing");
    let out = import(&app, &dump, &[]).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        out.json(),
        json!({"imported": 7, "updated": 0, "skipped": 0, "unsupported": ["grace"], "dry_run": false})
    );

    let django = project.serve();
    django.wait_ready(&app.http).await;

    // Each format logs in with the Django password, then is argon2id; the stock
    // JWTAuthentication finds the Django user by its pk.
    for (name, before) in [
        ("Alice", "django_pbkdf2_sha256"),
        ("bob", "django_pbkdf2_sha1"),
        ("carol", "django_argon2"),
        ("dave", "django_bcrypt_sha256"),
    ] {
        assert_eq!(scheme(&app, name).await, before, "{name} as imported");
        let pair = login(&app, name).await;
        assert_eq!(pair.status, 200, "{name}: {}", pair.body);
        let access = pair.body["access"].as_str().expect("access");
        let (status, me) = django.whoami(&app.http, access).await;
        assert_eq!(status, 200, "{name}: Django says {me}");
        assert_eq!(me, json!({"pk": pk_of(name), "username": name}));
        assert_eq!(scheme(&app, name).await, "argon2id", "{name} after login");
        assert_eq!(login(&app, name).await.status, 200, "{name} with argon2id");
    }

    // No usable password, inactive, a format tessera does not verify: no login.
    for name in ["erin", "frank", "grace"] {
        let no = login(&app, name).await;
        assert_eq!(no.status, 401, "{name}: {}", no.body);
    }

    // Refresh, verify and blacklist round trips, with Django checking the tokens.
    let pair = login(&app, "bob").await;
    let refresh = pair.body["refresh"].clone();
    let next = app
        .post_json("/api/token/refresh/", &json!({ "refresh": refresh }), None)
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    let access = next.body["access"].as_str().expect("access");
    assert_eq!(django.whoami(&app.http, access).await.1["pk"], pk_of("bob"));
    let verified = app
        .post_json("/api/token/verify/", &json!({ "token": access }), None)
        .await;
    assert_eq!((verified.status, &verified.body), (200, &json!({})));
    let current = next.body["refresh"].clone();
    let out = app
        .post_json(
            "/api/token/blacklist/",
            &json!({ "refresh": current }),
            None,
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let after = app
        .post_json("/api/token/refresh/", &json!({ "refresh": current }), None)
        .await;
    assert_eq!(after.status, 401, "logged out");

    // A machine token is nobody to Django.
    let machine = app.create_client(&["--audience", AUDIENCE]).await;
    let token = app.client_credentials_token(&machine).await;
    let (status, _) = django.whoami(&app.http, &token).await;
    assert_eq!(status, 401, "a client_credentials token is no Django user");

    // The bad dump again, with --update: still nothing changes.
    let bad = import(&app, &whole_app, &["--update"]).await;
    assert!(!bad.success);
    assert_eq!(scheme(&app, "Alice").await, "argon2id", "not reverted");
    let again = import(&app, &dump, &[]).await;
    assert_eq!(
        again.json()["skipped"],
        7,
        "a second import skips by username"
    );
}
