//! A real browser for the dashboard's tests: Debian's Chromium, headless, driven over the
//! W3C WebDriver protocol by Debian's ChromeDriver, and axe-core (pinned in
//! `tests/browser/package.json`) run inside the page for the accessibility check.
//!
//! What is missing is installed on first use, as the test setup of this project: the two
//! Debian packages with `apt-get` when `/usr/bin/chromedriver` is not there, axe-core with
//! `npm ci` when its `node_modules` is not. A machine where that cannot happen fails the
//! tests, naming what to install; it never skips them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One installation at a time, for tests that run in parallel.
static SETUP: Mutex<bool> = Mutex::new(false);

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn run(program: &str, args: &[&str], dir: Option<&PathBuf>) -> bool {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.status().is_ok_and(|status| status.success())
}

/// Installs Chromium, ChromeDriver and axe-core when they are missing.
fn ensure_installed() {
    let mut done = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        let packages = ["install", "-y", "-q", "chromium", "chromium-driver"];
        let installed = run("apt-get", &packages, None)
            || (run("apt-get", &["update", "-q"], None) && run("apt-get", &packages, None));
        assert!(
            installed,
            "the browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
        );
    }
    let dir = browser_dir();
    if !dir.join("node_modules/axe-core/axe.min.js").exists() {
        assert!(
            run("npm", &["ci", "--no-audit", "--no-fund"], Some(&dir)),
            "the accessibility check needs axe-core: run npm ci in {}",
            dir.display()
        );
    }
    *done = true;
}

/// A ChromeDriver process and one browser session in it.
pub struct Chrome {
    driver: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An element on the current page.
pub struct Element {
    id: String,
}

impl Chrome {
    /// Starts ChromeDriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Self {
        ensure_installed();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{root}/status")).send().await;
            if ready.is_ok_and(|answer| answer.status().is_success()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--window-size=1280,900",
                ],
            },
        }}});
        let created: Value = http
            .post(format!("{root}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        Self {
            driver,
            base: format!("{root}/session/{session}"),
            http,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_command(method, path, body).await {
            Ok(value) => value,
            Err(error) => panic!("WebDriver {path}: {error}"),
        }
    }

    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        match answer["value"]["error"].as_str() {
            Some(error) => Err(format!(
                "{error}: {}",
                answer["value"]["message"].as_str().unwrap_or_default()
            )),
            None => Ok(answer["value"].clone()),
        }
    }

    /// Finds the element `css` selects and does `action` to it, again when the page
    /// changed under it (a navigation that had not finished yet).
    async fn act(&self, css: &str, action: &str, body: Value) {
        let started = Instant::now();
        loop {
            let element = self.find(css).await;
            let done = self
                .try_command(
                    reqwest::Method::POST,
                    &format!("/element/{}/{action}", element.id),
                    Some(body.clone()),
                )
                .await;
            match done {
                Ok(_) => return,
                Err(error)
                    if error.starts_with("stale element")
                        && started.elapsed() < Duration::from_secs(5) =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("WebDriver {action} on {css}: {error}"),
            }
        }
    }

    /// Opens `url` and waits for it to load.
    pub async fn open(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The URL the browser is at now.
    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The current page's text, as a person reads it.
    pub async fn text(&self) -> String {
        self.script("return document.body.innerText;", json!([]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element `css` selects, waiting up to five seconds for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            let answer: Value = self
                .http
                .post(format!("{}/element", self.base))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = answer["value"][ELEMENT].as_str() {
                return Element { id: id.to_string() };
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no element {css} on {}:\n{}",
                self.url().await,
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.act(css, "value", json!({"text": text})).await;
    }

    /// Clicks the element `css` selects without waiting for anything after.
    pub async fn click(&self, css: &str) {
        self.act(css, "click", json!({})).await;
    }

    /// Clicks a link or a submit button and waits until the page it leads to has loaded
    /// (after the server answered, redirects included): the old page is marked first, and
    /// the wait ends when a page without the mark is complete.
    pub async fn click_through(&self, css: &str) {
        self.script("window.__wardenLeft = true;", json!([])).await;
        self.click(css).await;
        let started = Instant::now();
        loop {
            let arrived = self
                .try_command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({
                        "script": "return !window.__wardenLeft && document.readyState === 'complete';",
                        "args": [],
                    })),
                )
                .await;
            if arrived == Ok(Value::Bool(true)) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "clicking {css} led nowhere: still at {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the browser is at a URL ending in `path` (redirects, refreshes).
    pub async fn wait_for_path(&self, path: &str) {
        let started = Instant::now();
        loop {
            let url = self.url().await;
            if url.split('?').next().is_some_and(|url| url.ends_with(path)) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the browser stayed at {url}, not {path}:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page shows `part`, the page changing by itself (a reload it does).
    pub async fn wait_for_text(&self, part: &str) {
        let started = Instant::now();
        loop {
            let text = self
                .try_command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": "return document.body ? document.body.innerText : '';", "args": []})),
                )
                .await
                .ok()
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default();
            if text.contains(part) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the page never showed {part}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs axe-core on the current page and returns its serious and critical violations,
    /// each as "rule: the first element it names".
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let axe = std::fs::read_to_string(browser_dir().join("node_modules/axe-core/axe.min.js"))
            .unwrap();
        let script = format!(
            "{axe}\nconst done = arguments[arguments.length - 1];\
             axe.run(document, {{resultTypes: ['violations']}}).then(result => done(\
             result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
             .map(v => v.id + ': ' + (v.nodes[0] ? v.nodes[0].html : ''))), \
             error => done(['axe failed: ' + error]));"
        );
        let found = self
            .command(
                reqwest::Method::POST,
                "/execute/async",
                Some(json!({"script": script, "args": []})),
            )
            .await;
        found
            .as_array()
            .unwrap_or_else(|| panic!("axe-core did not run: {found}"))
            .iter()
            .map(|problem| problem.as_str().unwrap_or_default().to_string())
            .collect()
    }
}
