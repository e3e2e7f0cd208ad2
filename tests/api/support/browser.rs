//! A real headless Chromium for the console's browser tests, driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, installed by
//! `.ci/install-deps.sh`). Each test gets its own ChromeDriver on a free
//! loopback port, stopped when the test ends; a failing test leaves a
//! screenshot in `target/browser-screenshots/<test>.png`.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::json;

fn executable(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

/// The driver process; killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start() -> (Driver, Client) {
    let chromedriver = executable("CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = executable("CHROMIUM", "/usr/bin/chromium");
    assert!(
        std::path::Path::new(&chromedriver).exists() && std::path::Path::new(&chromium).exists(),
        "the browser tests need Chromium and ChromeDriver: run .ci/install-deps.sh \
         (or set CHROMIUM and CHROMEDRIVER)"
    );
    let port = free_port();
    let driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"]
        }
    });
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object"),
    };
    let url = format!("http://127.0.0.1:{port}");
    // The driver takes a moment to listen.
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                last = Some(e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("no WebDriver session: {last:?}");
}

/// Runs a browser test; on failure keeps a screenshot, then fails.
pub async fn run<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let (_driver, client) = start().await;
    let outcome = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
    if let Err(panic) = outcome {
        if let Ok(png) = client.screenshot().await {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("browser-screenshots");
            if std::fs::create_dir_all(&dir).is_ok() {
                let path = dir.join(format!("{name}.png"));
                if std::fs::write(&path, png).is_ok() {
                    eprintln!("screenshot of the failing page: {}", path.display());
                }
            }
        }
        let _ = client.close().await;
        std::panic::resume_unwind(panic);
    }
    client.close().await.expect("browser closes");
}

/// Types into the field with this CSS selector.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("field {css}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

pub async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("element {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Clicks a form's button and waits until the page it leads to has
/// loaded: a mark set on the old page is gone and the new one is complete.
/// Waiting for text alone races when that text is already on the old page
/// (an option of a select, a button's label).
pub async fn submit(client: &Client, css: &str) {
    client
        .execute("window.__beforeSubmit = true;", vec![])
        .await
        .expect("mark the page");
    click(client, css).await;
    for _ in 0..100 {
        let loaded = client
            .execute(
                "return window.__beforeSubmit !== true && document.readyState === 'complete';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if loaded {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "submitting {css} never led to a new page: {}",
        text(client).await
    );
}

/// The text of the page's body; read in one script, so a page that is
/// just being replaced by the next one is read again, not failed on.
pub async fn text(client: &Client) -> String {
    let mut last = None;
    for _ in 0..20 {
        match client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
        {
            Ok(serde_json::Value::String(text)) => return text,
            Ok(other) => last = Some(format!("not text: {other}")),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page's text could not be read: {last:?}");
}

/// Waits until the page's text contains `needle` (or fails after 10 s).
pub async fn wait_for_text(client: &Client, needle: &str) {
    for _ in 0..100 {
        if text(client).await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed {needle:?}: {}", text(client).await);
}

/// Signs in on the console's page (and passes the code step if `code`).
pub async fn sign_in(client: &Client, base: &str, email: &str, password: &str, code: Option<&str>) {
    client
        .goto(&format!("{base}/console/sign-in"))
        .await
        .expect("sign-in page");
    fill(client, "#email", email).await;
    fill(client, "#password", password).await;
    click(client, "form button[type=submit]").await;
    if let Some(code) = code {
        fill(client, "#code", code).await;
        click(client, "form button[type=submit]").await;
    }
    wait_for_text(client, "Sign out").await;
}
