//! A real, certified OpenID provider for the single sign-on tests: npm's
//! `oidc-provider` run by `tests/oidc/provider.mjs` (Debian's `nodejs`;
//! `.ci/install-deps.sh` installs it and runs `npm ci` there). One per
//! test, on a free loopback port, stopped when the test ends. It knows
//! three clients — `switchboard`, `other-app` (another audience) and
//! `short-lived` (ID tokens expire after one second) — and the people of
//! `provider.mjs`.
//!
//! [`Browser`] is a plain HTTP client with a cookie jar that follows the
//! provider's login and consent forms the way a person would.

use std::{process::Stdio, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::helpers::{expect_json, spawn_app_with, TestApp};

pub const CLIENT_ID: &str = "switchboard";
pub const CLIENT_SECRET: &str = "switchboard-secret";

pub struct Idp {
    pub issuer: String,
    _child: Child,
}

fn project_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

impl Idp {
    /// Starts the provider with `redirect_uri` registered for its clients.
    pub async fn start(redirect_uri: &str) -> Self {
        let dir = project_dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the single sign-on tests need Node.js and npm's oidc-provider: run .ci/install-deps.sh \
             (it installs Debian's nodejs and npm and runs `npm ci` in tests/oidc)"
        );
        let mut child = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("REDIRECT_URI", redirect_uri)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match std::env::var("OIDC_PROVIDER_LOG") {
                Ok(path) => std::fs::File::create(path)
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
                Err(_) => Stdio::null(),
            })
            .kill_on_drop(true)
            .spawn()
            .expect("node starts (install Debian's nodejs: .ci/install-deps.sh)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the provider says where it listens within 20 s")
            .expect("read the provider's stdout")
            .expect("a line from the provider");
        let started: Value = serde_json::from_str(&line).expect("a JSON line");
        let issuer = started["issuer"].as_str().expect("issuer").to_string();
        Idp {
            issuer,
            _child: child,
        }
    }

    /// The provider's discovery document.
    pub async fn discovery(&self) -> Value {
        reqwest::get(format!("{}/.well-known/openid-configuration", self.issuer))
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery JSON")
    }

    /// An ID token for `login`, issued to `client` (`(id, secret)`): the
    /// whole authorization code flow through the provider's own forms,
    /// then the code exchanged at its token endpoint as that client.
    pub async fn id_token(&self, client: (&str, &str), login: &str, redirect_uri: &str) -> String {
        let doc = self.discovery().await;
        let verifier = format!("v{}", uuid::Uuid::new_v4().simple()).repeat(2);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut authorize =
            url::Url::parse(doc["authorization_endpoint"].as_str().expect("authorize"))
                .expect("url");
        authorize
            .query_pairs_mut()
            .append_pair("client_id", client.0)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email profile")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", "test-state")
            .append_pair("nonce", "test-nonce")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let browser = Browser::new();
        let callback = browser
            .through_provider(authorize.as_str(), login, redirect_uri)
            .await;
        let code = query_param(&callback, "code").expect("a code");
        let answer = reqwest::Client::new()
            .post(doc["token_endpoint"].as_str().expect("token endpoint"))
            .basic_auth(client.0, Some(client.1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .expect("token request");
        let body = expect_json(answer, StatusCode::OK).await;
        body["id_token"].as_str().expect("an ID token").to_string()
    }
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A person's browser without JavaScript: a cookie jar, redirects taken
/// one at a time (so the test sees the callback), forms submitted.
pub struct Browser {
    pub client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("request sent")
    }

    /// Follows `start` through the provider's login (as `login`, any
    /// password) and consent pages until the provider sends the browser to
    /// a URL under `callback` — answered without visiting it.
    pub async fn through_provider(&self, start: &str, login: &str, callback: &str) -> String {
        let mut url = start.to_string();
        for _ in 0..20 {
            if url.starts_with(callback) {
                return url;
            }
            let response = self.get(&url).await;
            let response = if response.status().is_redirection() {
                response
            } else {
                let status = response.status();
                let html = response.text().await.expect("page");
                assert_eq!(status, StatusCode::OK, "{url}: {html}");
                let (action, mut fields) = form_of(&html)
                    .unwrap_or_else(|| panic!("a form on the provider's page {url}: {html}"));
                if html.contains("name=\"login\"") {
                    fields.push(("login".into(), login.into()));
                    fields.push(("password".into(), "any password".into()));
                }
                let action = join(&url, &action);
                self.client
                    .post(&action)
                    .form(&fields)
                    .send()
                    .await
                    .expect("form sent")
            };
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(location) = location else {
                let body = response.text().await.unwrap_or_default();
                panic!("{url} answered {status} without a redirect: {body}");
            };
            url = join(&url, &location);
        }
        panic!("the provider never sent the browser to {callback}");
    }
}

fn join(base: &str, target: &str) -> String {
    url::Url::parse(base)
        .and_then(|b| b.join(target))
        .map(String::from)
        .unwrap_or_else(|_| target.to_string())
}

/// The first form of a page: its action and hidden fields.
fn form_of(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = regex::Regex::new(r#"<form[^>]*action="([^"]+)""#).ok()?;
    let action = form.captures(html)?.get(1)?.as_str().replace("&amp;", "&");
    let hidden =
        regex::Regex::new(r#"<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)""#)
            .ok()?;
    let fields = hidden
        .captures_iter(html)
        .filter_map(|c| {
            Some((
                c.get(1)?.as_str().to_string(),
                c.get(2)?.as_str().to_string(),
            ))
        })
        .collect();
    Some((action, fields))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The daemon (its public URL is its own address, so the redirect URI
/// is right), the provider, and the provider configured in `default`
/// with `corp.example` allowed and the groups mapped to roles.
pub struct SsoApp {
    pub app: TestApp,
    pub idp: Idp,
    pub provider_id: String,
    pub redirect_uri: String,
}

pub async fn spawn_sso_app() -> SsoApp {
    let port = free_port();
    let app = spawn_app_with(|c| {
        c.server.listen = format!("127.0.0.1:{port}");
        c.server.public_url = format!("http://127.0.0.1:{port}");
    })
    .await;
    let redirect_uri = app.url("/console/sso/callback");
    let idp = Idp::start(&redirect_uri).await;
    let created = app
        .post(
            "/api/v1/sso/providers",
            &app.token,
            &json!({
                "name": "Corp",
                "issuer": idp.issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "allowed_domains": ["corp.example"],
                "role_mapping": { "itsm-admins": "admin", "itsm-agents": "agent" },
            }),
        )
        .await;
    let provider = expect_json(created, StatusCode::CREATED).await;
    assert_eq!(provider["redirect_uri"], redirect_uri.as_str());
    SsoApp {
        provider_id: provider["id"].as_str().expect("id").to_string(),
        app,
        idp,
        redirect_uri,
    }
}

impl SsoApp {
    /// A console sign-in through the provider as `login`, up to (not
    /// including) the callback: the callback URL the provider sent.
    pub async fn until_callback(&self, browser: &Browser, login: &str) -> String {
        let start = self
            .app
            .url(&format!("/console/sso/{}/start", self.provider_id));
        let response = browser.get(&start).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("to the provider")
            .to_string();
        assert!(to.starts_with(&self.idp.issuer), "{to}");
        browser
            .through_provider(&to, login, &self.redirect_uri)
            .await
    }

    /// A whole console sign-in as `login`: the callback's answer.
    pub async fn sign_in(&self, browser: &Browser, login: &str) -> reqwest::Response {
        let callback = self.until_callback(browser, login).await;
        browser.get(&callback).await
    }

    /// The audit trail's actions, oldest first.
    pub async fn audit_actions(&self) -> Vec<String> {
        audit_actions(&self.app).await
    }
}

pub async fn audit_actions(app: &TestApp) -> Vec<String> {
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("postgres")
    };
    sqlx::query_scalar("SELECT action FROM audit_log ORDER BY at, seq")
        .fetch_all(pool)
        .await
        .expect("audit log")
}
