//! The console's session: the API's own sign-in session (access token and
//! refresh token, `desk::auth`) carried in two HttpOnly cookies, refreshed
//! here when the access token has expired, and the anti-forgery token each
//! state-changing form must carry.
//!
//! Logout and revocation apply at once because every request verifies the
//! access token with `Desk::authenticate_jwt`, which checks the session.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{error::PageError, Console};
use crate::{
    desk::{auth::Session, Actor, DeskError},
    domain::Channel,
};

const ACCESS_COOKIE: &str = "sb_access";
const REFRESH_COOKIE: &str = "sb_refresh";
/// Binds a single sign-on under way to the browser that started it.
const SSO_COOKIE: &str = "sb_sso";
/// Double-submit token of the forms shown before a session exists
/// (sign-in, the TOTP step, password reset, invitations).
const PRE_SESSION_COOKIE: &str = "sb_form";

/// The person signed in to the console, put in the request by [`layer`].
#[derive(Clone)]
pub struct SignedIn {
    pub actor: Actor,
    /// The anti-forgery token of this session.
    pub csrf: String,
    /// The organization requires MFA and this person has not enrolled:
    /// only the enrolment page is open to them.
    pub must_enrol: bool,
}

/// A page that needs a signed-in person; anyone else is sent to sign in.
pub struct Signed(pub SignedIn);

/// Like [`Signed`], but also admits people who still have to enrol in MFA.
pub struct SignedEnrolling(pub SignedIn);

fn sign_in_redirect(parts: &Parts) -> PageError {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/console/".into());
    PageError::SignIn { next }
}

impl FromRequestParts<Console> for SignedEnrolling {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &Console) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<SignedIn>() {
            Some(signed) => Ok(SignedEnrolling(signed.clone())),
            None => Err(sign_in_redirect(parts)),
        }
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Console,
    ) -> Result<Self, Self::Rejection> {
        let SignedEnrolling(signed) = SignedEnrolling::from_request_parts(parts, state).await?;
        if signed.must_enrol {
            return Err(PageError::Redirect("/console/mfa".into()));
        }
        Ok(Signed(signed))
    }
}

/// Whether someone is signed in, for pages that also serve strangers.
pub struct MaybeSigned(pub Option<SignedIn>);

impl FromRequestParts<Console> for MaybeSigned {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &Console) -> Result<Self, Self::Rejection> {
        Ok(MaybeSigned(parts.extensions.get::<SignedIn>().cloned()))
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Finds who is signed in (refreshing an expired access token with the
/// refresh cookie) and hands them to the handlers; sets the new cookies
/// on the way out.
pub async fn layer(State(console): State<Console>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let access = cookie(headers, ACCESS_COOKIE).map(str::to_string);
    let refresh = cookie(headers, REFRESH_COOKIE).map(str::to_string);
    let mut set_cookies = Vec::new();
    let mut found = None;
    if let Some(access) = &access {
        match console.desk.authenticate_jwt(access, Channel::Web).await {
            Ok(auth) => found = Some(auth),
            Err(DeskError::Unauthenticated(_)) => {}
            Err(other) => return PageError::Desk(other).into_response(),
        }
    }
    if found.is_none() {
        if let Some(refresh) = refresh {
            match console.desk.refresh(refresh).await {
                Ok(Ok(session)) => {
                    match console
                        .desk
                        .authenticate_jwt(&session.access_token, Channel::Web)
                        .await
                    {
                        Ok(auth) => {
                            set_cookies = console.session_cookies(&session);
                            found = Some(auth);
                        }
                        Err(DeskError::Unauthenticated(_)) => {
                            set_cookies = console.cleared_cookies();
                        }
                        Err(other) => return PageError::Desk(other).into_response(),
                    }
                }
                Ok(Err(_)) => set_cookies = console.cleared_cookies(),
                Err(other) => return PageError::Desk(other).into_response(),
            }
        } else if access.is_some() {
            set_cookies = console.cleared_cookies();
        }
    }
    if let Some(auth) = found {
        let csrf = match console.desk.session_csrf_token(auth.session_id).await {
            Ok(csrf) => csrf,
            Err(e) => return PageError::Desk(e).into_response(),
        };
        request.extensions_mut().insert(SignedIn {
            actor: auth.actor,
            csrf,
            must_enrol: auth.mfa_enrollment_required,
        });
    }
    let mut response = next.run(request).await;
    for value in set_cookies {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

impl Console {
    fn cookie_value(&self, name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ))
        .ok()
    }

    /// The cookies of a new or refreshed session.
    pub fn session_cookies(&self, session: &Session) -> Vec<HeaderValue> {
        let refresh_ttl = self.desk.settings.auth.refresh_ttl.num_seconds();
        [
            self.cookie_value(ACCESS_COOKIE, &session.access_token, refresh_ttl),
            self.cookie_value(REFRESH_COOKIE, &session.refresh_token, refresh_ttl),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn cleared_cookies(&self) -> Vec<HeaderValue> {
        [
            self.cookie_value(ACCESS_COOKIE, "", 0),
            self.cookie_value(REFRESH_COOKIE, "", 0),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The cookie that binds a single sign-on under way to this browser
    /// (empty and expired: cleared).
    pub fn sso_cookie(&self, value: &str, max_age: i64) -> Option<HeaderValue> {
        self.cookie_value(SSO_COOKIE, value, max_age)
    }

    /// The pre-session form token: the cookie's value, or a new one to set.
    pub fn pre_session_token(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        match cookie(headers, PRE_SESSION_COOKIE) {
            Some(token) if token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()) => {
                (token.to_string(), None)
            }
            _ => {
                let token = Uuid::new_v4().simple().to_string();
                let set = self.cookie_value(PRE_SESSION_COOKIE, &token, 3600);
                (token, set)
            }
        }
    }
}

/// The browser's single sign-on binding, if it has one.
pub fn sso_browser(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SSO_COOKIE).map(str::to_string)
}

/// The refresh token of the request, to revoke at sign-out.
pub fn refresh_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, REFRESH_COOKIE).map(str::to_string)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Refuses a state-changing form of a session without its token.
pub fn check_csrf(signed: &SignedIn, form: &Form) -> Result<(), PageError> {
    match form.get("csrf") {
        Some(token) if same(token, &signed.csrf) => Ok(()),
        _ => Err(PageError::Forgery),
    }
}

/// Refuses a pre-session form whose token does not match its cookie.
pub fn check_pre_session(headers: &HeaderMap, form: &Form) -> Result<(), PageError> {
    match (cookie(headers, PRE_SESSION_COOKIE), form.get("csrf")) {
        (Some(cookie), Some(token)) if same(cookie, token) => Ok(()),
        _ => Err(PageError::Forgery),
    }
}

/// A posted form as its name–value pairs in order; repeated names (a
/// multi-choice field) keep every value.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, trimmed, or `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "on" || v == "true")
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Form {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::BadRequest(
                "send the form as application/x-www-form-urlencoded".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| PageError::BadRequest(e.body_text()))?;
        let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .map_err(|e| PageError::BadRequest(format!("malformed form: {e}")))?;
        Ok(Form(pairs))
    }
}

/// A redirect after a successful form (303, so the browser GETs it).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Only paths of this site may be a `next` target (no open redirect).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => "/console/".into(),
    }
}
