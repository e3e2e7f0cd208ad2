//! The web console without a browser: a cookie-keeping HTTP client that
//! reads forms' hidden fields, and people with passwords to sign in as.

use reqwest::{header, redirect, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";

/// Invites someone (as the holder of `admin_token`) and registers them with
/// [`PASSWORD`] through the emailed link's token; returns the person as
/// `/api/v1/people` lists them.
pub async fn person_with_password(
    app: &TestApp,
    admin_token: &str,
    name: &str,
    email: &str,
    roles: &[&str],
) -> Value {
    let invited = app
        .post(
            "/api/v1/invitations",
            admin_token,
            &json!({ "email": email, "name": name, "roles": roles }),
        )
        .await;
    let invitation = expect_json(invited, StatusCode::CREATED).await;
    let url = invitation["accept_url"].as_str().expect("accept_url");
    let token = url.split("token=").nth(1).expect("a token in the link");
    let registered = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    expect_json(registered, StatusCode::CREATED).await;
    let people: Vec<Value> = app.get_json("/api/v1/people", admin_token).await;
    people
        .into_iter()
        .find(|p| p["email"] == email)
        .unwrap_or_else(|| panic!("{email} is a person now"))
}

/// A browser as far as HTTP goes: keeps cookies, follows no redirect (so
/// tests see each 303), sends forms.
pub struct Visitor {
    pub client: reqwest::Client,
    base: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub html: String,
}

impl Page {
    /// The value of the first hidden field named `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        hidden(&self.html, name)
    }

    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(redirect::Policy::none())
                .build()
                .expect("client"),
            base: app.url(""),
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        Self::page(response).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("request sent");
        Self::page(response).await
    }

    /// Posts a form of `page_path` with the token that page carries.
    pub async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, StatusCode::OK, "{page_path}: {}", page.html);
        let csrf = page.hidden("csrf").expect("the page has a form token");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    /// Posts the sign-in form (password only); the answer.
    pub async fn try_sign_in(&self, email: &str, password: &str) -> Page {
        self.submit(
            "/console/sign-in",
            "/console/sign-in",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Signs in with a password (no MFA); asserts it worked.
    pub async fn sign_in(&self, email: &str, password: &str) {
        let signed = self.try_sign_in(email, password).await;
        assert_eq!(
            signed.status,
            StatusCode::SEE_OTHER,
            "signed in: {}",
            signed.html
        );
    }
}

/// Someone new in the default organization, signed in with [`PASSWORD`].
pub async fn signed_in(app: &TestApp, name: &str, email: &str, roles: &[&str]) -> Visitor {
    person_with_password(app, &app.token, name, email, roles).await;
    let visitor = Visitor::new(app);
    visitor.sign_in(email, PASSWORD).await;
    visitor
}

/// The agent Ada, signed in.
pub async fn agent(app: &TestApp) -> Visitor {
    signed_in(app, "Ada Agent", "ada@example.com", &["agent"]).await
}

/// The requester Rex, signed in.
pub async fn requester(app: &TestApp) -> Visitor {
    signed_in(app, "Rex Requester", "rex@example.com", &["requester"]).await
}

/// The approver Fay (not signed in) and an approval policy `Finance` whose
/// one stage she decides alone.
pub async fn finance_policy(app: &TestApp) -> Value {
    let fay = person_with_password(
        app,
        &app.token,
        "Fay Finance",
        "fay@example.com",
        &["approver"],
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/approval-policies",
            &app.token,
            &json!({ "name": "Finance", "stages": [
                { "name": "Finance", "rule": { "type": "any" },
                  "approvers": [{ "type": "person", "id": fay["id"] }] }
            ]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    fay
}
