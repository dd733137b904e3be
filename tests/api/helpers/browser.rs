//! A real Chromium, driven through chromedriver (WebDriver), for the console tests.
//!
//! Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `.ci/run` installs them), or the programs named by
//! `TESSERA_TEST_CHROMIUM` / `TESSERA_TEST_CHROMEDRIVER`. chromedriver runs as a child
//! process on a free loopback port, in a process group of its own that is killed on
//! drop; Chromium runs headless in a fresh profile, 1280×900.
//!
//! A test runs its actions as named steps ([`Browser::step`]): when anything in a step
//! panics — a missing field, a failed assertion, a refused token — the page is saved as
//! `target/console-screenshots/<test>-<step>.png` and that path is in the panic message.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{json, Value};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where screenshots go: `target/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

/// The program named by `var`, else the first of `names` found on `PATH` or as a path.
fn program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(named) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(named));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        let direct = Path::new(name);
        if direct.is_absolute() {
            return direct.is_file().then(|| direct.to_path_buf());
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver as a child process, killed (with everything it started in its process
/// group) on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        use rustix::process::{kill_process_group, Pid, Signal};
        let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        use std::os::unix::process::CommandExt;
        let chromedriver = program(
            "TESSERA_TEST_CHROMEDRIVER",
            &["chromedriver", "/usr/lib/chromium/chromedriver"],
        )
        .unwrap_or_else(|| {
            panic!(
                "the console browser test needs chromedriver: install Debian's chromium and \
                 chromium-driver (apt-get install chromium chromium-driver; .ci/run does), or \
                 name one in TESSERA_TEST_CHROMEDRIVER"
            )
        });
        let port = super::free_port();
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", chromedriver.display()));
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(r) = ready {
                let status: Value = r.json().await.unwrap_or(Value::Null);
                if status["value"]["ready"] == json!(true) {
                    return driver;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} did not answer on port {port} within 30 s",
                chromedriver.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A headless Chromium session, for one test.
pub struct Browser {
    /// The WebDriver session, for what the helpers below do not cover.
    pub client: Client,
    test: String,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "a panic without a message".to_string()
    }
}

/// `text` as an XPath string literal.
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for the test named `test` (used in
    /// screenshot names).
    pub async fn start(test: &str) -> Browser {
        let chromium = program(
            "TESSERA_TEST_CHROMIUM",
            &["chromium", "/usr/lib/chromium/chromium", "chromium-browser"],
        )
        .unwrap_or_else(|| {
            panic!(
                "the console browser test needs Chromium: install Debian's chromium and \
                 chromium-driver (apt-get install chromium chromium-driver; .ci/run does), or \
                 name one in TESSERA_TEST_CHROMIUM"
            )
        });
        let driver = Driver::start().await;
        let profile = tempfile::tempdir().expect("temp profile dir");
        let mut args = vec![
            "--headless=new".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-extensions".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-sync".to_string(),
            "--password-store=basic".to_string(),
            "--lang=en-US".to_string(),
        ];
        if rustix::process::geteuid().is_root() {
            // Chromium refuses to run as root inside its own sandbox.
            args.push("--no-sandbox".to_string());
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": args,
                // Offering to save a typed password is not part of any test.
                "prefs": {"credentials_enable_service": false,
                          "profile.password_manager_enabled": false},
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("capabilities are an object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start {}: {e}", chromium.display()));
        client
            .set_window_size(1280, 900)
            .await
            .expect("window size 1280×900");
        Browser {
            client,
            test: test.to_string(),
            _profile: profile,
            _driver: driver,
        }
    }

    /// Runs `work` as the step `name`: if it panics, the page is saved as a screenshot and
    /// the panic says where, with the step and the page's URL.
    pub async fn step<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(done) => done,
            Err(payload) => {
                let message = panic_text(payload.as_ref());
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_else(|e| format!("(no URL: {e})"));
                let shot = self.failure_screenshot(name).await;
                panic!(
                    "browser step `{name}` failed: {message}\n  page: {url}\n  screenshot: {shot}"
                )
            }
        }
    }

    /// Saves the page as `target/console-screenshots/<test>-<step>.png`; returns the path
    /// or why there is none.
    async fn failure_screenshot(&self, step: &str) -> String {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect()
        };
        let path = screenshot_dir().join(format!("{}-{}.png", safe(&self.test), safe(step)));
        match self.save_screenshot(&path).await {
            Ok(()) => path.display().to_string(),
            Err(e) => format!("(none: {e})"),
        }
    }

    /// Saves the visible page as a PNG at `path` (directories made as needed).
    pub async fn save_screenshot(&self, path: &Path) -> Result<(), String> {
        let png = self.client.screenshot().await.map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The current URL's path (and query).
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("a body")
            .text()
            .await
            .expect("body text")
    }

    /// The `<h1>` of the page.
    pub async fn heading(&self) -> String {
        match self.client.find(Locator::Css("h1")).await {
            Ok(h) => h.text().await.expect("h1 text"),
            Err(e) => panic!("the page has no <h1>: {e}"),
        }
    }

    /// Asserts the page shows `needle` somewhere.
    pub async fn expect_text(&self, needle: &str) {
        let text = self.text().await;
        assert!(
            text.contains(needle),
            "the page does not show {needle:?}; it shows:\n{text}"
        );
    }

    /// Finds one element by CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element matches {css:?}: {e}"))
    }

    /// The form control that the `<label>` whose text is (or starts with) `label` names,
    /// by its `for` or by holding it: how a person finds a field.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!(
            "//label[normalize-space(.)={lit} or starts-with(normalize-space(.), {lit})]",
            lit = xpath_literal(label)
        );
        let labels = self
            .client
            .find_all(Locator::XPath(&xpath))
            .await
            .expect("labels");
        let Some(found) = labels.into_iter().next() else {
            let all = self.label_texts().await;
            panic!("no field is labelled {label:?}; the labels here: {all:?}");
        };
        match found.attr("for").await.expect("label for") {
            Some(id) if !id.is_empty() => self
                .client
                .find(Locator::Id(&id))
                .await
                .unwrap_or_else(|e| panic!("label {label:?} names #{id}, which is missing: {e}")),
            _ => found
                .find(Locator::XPath(".//input|.//textarea|.//select"))
                .await
                .unwrap_or_else(|e| panic!("label {label:?} names no control: {e}")),
        }
    }

    /// The texts of every `<label>` on the page (for failure messages).
    async fn label_texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in self
            .client
            .find_all(Locator::Css("label"))
            .await
            .unwrap_or_default()
        {
            out.push(l.text().await.unwrap_or_default());
        }
        out
    }

    /// Types `value` into the field labelled `label` (replacing what it held).
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear the field");
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {label:?}: {e}"));
    }

    /// Chooses the option shown as `option` in the `<select>` labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        self.field(label)
            .await
            .select_by_label(option)
            .await
            .unwrap_or_else(|e| panic!("{label:?} has no option {option:?}: {e}"));
    }

    /// The visible buttons whose text is `text` (`<button>` or a submit `<input>`).
    pub async fn buttons_named(&self, text: &str) -> Vec<Element> {
        let lit = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={lit}] | //input[@type='submit' and @value={lit}]"
        );
        let mut shown = Vec::new();
        for b in self
            .client
            .find_all(Locator::XPath(&xpath))
            .await
            .expect("buttons")
        {
            if b.is_displayed().await.unwrap_or(false) {
                shown.push(b);
            }
        }
        shown
    }

    /// Marks the current document, so [`Browser::wait_new_page`] can tell when another
    /// has replaced it.
    pub async fn mark_page(&self) {
        self.js("window.__tesseraOldPage = true; return null;")
            .await;
    }

    /// Waits (up to 15 s) until the marked document is replaced by a loaded one: what
    /// a person waits for after pressing a button or following a link.
    pub async fn wait_new_page(&self) {
        let start = Instant::now();
        loop {
            let now = self
                .client
                .execute(
                    "return window.__tesseraOldPage === undefined && document.readyState === 'complete';",
                    Vec::new(),
                )
                .await;
            if let Ok(Value::Bool(true)) = now {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no new page within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the button labelled `text` (the first shown, when several are) and waits
    /// for the page it leads to.
    pub async fn press(&self, text: &str) {
        let Some(button) = self.buttons_named(text).await.into_iter().next() else {
            let all = self.button_texts().await;
            panic!("no button {text:?} is shown; the buttons here: {all:?}");
        };
        self.mark_page().await;
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot press {text:?}: {e}"));
        self.wait_new_page().await;
    }

    /// The texts of every shown button (for failure messages).
    async fn button_texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in self
            .client
            .find_all(Locator::Css("button, input[type=submit]"))
            .await
            .unwrap_or_default()
        {
            if b.is_displayed().await.unwrap_or(false) {
                let text = b.text().await.unwrap_or_default();
                let value = b.attr("value").await.ok().flatten().unwrap_or_default();
                out.push(if text.is_empty() { value } else { text });
            }
        }
        out
    }

    /// Follows the link whose text is `text` and waits for its page.
    pub async fn follow(&self, text: &str) {
        let lit = xpath_literal(text);
        let link = self
            .client
            .find(Locator::XPath(&format!("//a[normalize-space(.)={lit}]")))
            .await
            .unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
        self.mark_page().await;
        link.click()
            .await
            .unwrap_or_else(|e| panic!("cannot follow {text:?}: {e}"));
        self.wait_new_page().await;
    }

    /// Sends keys to whatever has the focus (Tab, Enter, typed text).
    pub async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(keys)
            .await
            .expect("keys sent");
    }

    /// The focused element's `name` attribute, if any.
    pub async fn focused_name(&self) -> Option<String> {
        let el = self.client.active_element().await.ok()?;
        el.attr("name").await.ok().flatten()
    }

    /// Runs `script` in the page; returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("cannot resize to {width}×{height}: {e}"));
    }

    /// Ends the WebDriver session (Chromium quits); chromedriver stops on drop.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }
}
