//! Signing in and out: password, then the TOTP (or recovery code) step
//! when the person has MFA; enrolment when the organization requires it;
//! forgotten passwords and invitations (the links the desk mails). The
//! same desk calls as `/api/v1/auth/…`, with the same throttling.

use std::net::SocketAddr;

use askama::Template;
use axum::{
    extract::{ConnectInfo, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::Response,
    routing::get,
    Router,
};
use serde::Deserialize;

use super::{
    layout::{Chrome, Section},
    render, render_status,
    session::{
        check_csrf, check_pre_session, local_path, refresh_token, see_other, sso_browser, Form,
        MaybeSigned, Signed, SignedEnrolling,
    },
    Console, PageError,
};
use crate::desk::{
    auth::{
        oidc::{browser_token, SsoButton, LOGIN_TTL},
        LoginResult, Refusal, Session,
    },
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-in/code", axum::routing::post(sign_in_code))
        .route("/console/sso/{id}/start", get(sso_start))
        .route("/console/sso/callback", get(sso_callback))
        .route("/console/sign-out", axum::routing::post(sign_out))
        .route("/console/forgot-password", get(forgot_page).post(forgot))
        .route("/reset-password", get(reset_page).post(reset))
        .route(
            "/accept-invitation",
            get(invitation_page).post(accept_invitation),
        )
        .route("/console/mfa", get(mfa_page).post(mfa_confirm))
        .route("/console/shortcuts", get(shortcuts))
}

/// Agents start at their queue, everyone else at their own tickets.
async fn home(Signed(signed): Signed) -> Response {
    if signed.actor.is_agent() {
        see_other("/console/queue")
    } else {
        see_other("/console/my")
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    csrf: String,
    next: String,
    email: String,
    organization: String,
    error: Option<String>,
    /// "Sign in with …" buttons: the organization's identity providers.
    providers: Vec<SsoButton>,
    /// `next`, percent-encoded for the buttons' links.
    next_query: String,
}

fn next_query(next: &str) -> String {
    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Template)]
#[template(path = "sign_in_code.html")]
struct CodePage {
    csrf: String,
    next: String,
    mfa_token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    /// Whose "sign in with" buttons to show, when several organizations
    /// share this daemon.
    organization: Option<String>,
}

/// Sets the pre-session form cookie when the browser has none yet.
fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_in_page(
    State(console): State<Console>,
    MaybeSigned(signed): MaybeSigned,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = local_path(q.next.as_deref());
    if signed.is_some_and(|s| !s.must_enrol) {
        return Ok(see_other(&next));
    }
    let (csrf, cookie) = console.pre_session_token(&headers);
    let organization = q.organization.filter(|o| !o.trim().is_empty());
    let providers = console.desk.sso_buttons(organization.as_deref()).await?;
    let page = SignInPage {
        csrf,
        next_query: next_query(&next),
        next,
        email: String::new(),
        organization: organization.unwrap_or_default(),
        error: None,
        providers,
    };
    Ok(with_cookie(render(&page)?, cookie))
}

fn client(ConnectInfo(addr): ConnectInfo<SocketAddr>) -> String {
    addr.ip().to_string()
}

/// A refusal as the sign-in forms say it, with the status the API sends.
fn refusal(refusal: &Refusal) -> (StatusCode, String, Option<i64>) {
    match refusal {
        Refusal::BadCredentials => (
            StatusCode::UNAUTHORIZED,
            "Wrong email, password or code.".into(),
            None,
        ),
        Refusal::PasswordsOff => (
            StatusCode::UNAUTHORIZED,
            "Your organization signs in through single sign-on: use its button below.".into(),
            None,
        ),
        Refusal::LockedOut { until } => {
            let secs = (*until - chrono::Utc::now()).num_seconds().max(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed attempts: sign-in is locked for {}.",
                    super::filters::duration(secs)
                ),
                Some(secs),
            )
        }
    }
}

fn retry_after(mut response: Response, secs: Option<i64>) -> Response {
    if let Some(value) = secs.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Signed in: the session cookies, then where the person was going (or
/// to MFA enrolment when the organization requires it and they have none).
fn signed_in(console: &Console, session: &Session, next: &str) -> Response {
    let to = if session.mfa_enrollment_required {
        "/console/mfa"
    } else {
        next
    };
    let mut response = see_other(to);
    for cookie in console.session_cookies(session) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_in(
    State(console): State<Console>,
    addr: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    check_pre_session(&headers, &form)?;
    let next = local_path(form.get("next"));
    let email = form.text("email").unwrap_or_default();
    let organization = form.text("organization");
    let password = form.get("password").unwrap_or_default().to_string();
    let result = console
        .desk
        .login(&email, &password, organization.as_deref(), &client(addr))
        .await?;
    let csrf = form.get("csrf").unwrap_or_default().to_string();
    match result {
        Ok(LoginResult::Authenticated(session)) => Ok(signed_in(&console, &session, &next)),
        Ok(LoginResult::MfaRequired { mfa_token, .. }) => render(&CodePage {
            csrf,
            next,
            mfa_token,
            error: None,
        }),
        Err(why) => {
            let (status, message, secs) = refusal(&why);
            let providers = console.desk.sso_buttons(organization.as_deref()).await?;
            let page = SignInPage {
                csrf,
                next_query: next_query(&next),
                next,
                email,
                organization: organization.unwrap_or_default(),
                error: Some(message),
                providers,
            };
            Ok(retry_after(render_status(status, &page)?, secs))
        }
    }
}

/// "Sign in with …": the sign-in is recorded (state, nonce, PKCE
/// verifier) and bound to this browser by a cookie, then the browser goes
/// to the provider. A link, not a form: the console's `form-action` policy
/// would stop a form's redirect to another origin.
async fn sso_start(
    State(console): State<Console>,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = local_path(q.next.as_deref());
    let browser = browser_token();
    let start = console.desk.sso_begin(id, &browser, &next).await?;
    let response = see_other(&start.authorize_url);
    Ok(with_cookie(
        response,
        console.sso_cookie(&browser, LOGIN_TTL.num_seconds()),
    ))
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// The provider's refusal (e.g. `access_denied`), instead of a code.
    error: Option<String>,
}

/// The sign-in page with why single sign-on did not sign the person in;
/// the browser's binding cookie is cleared.
async fn sso_refused(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    message: String,
) -> Result<Response, PageError> {
    let (csrf, cookie) = console.pre_session_token(headers);
    let page = SignInPage {
        csrf,
        next: "/console/".into(),
        next_query: next_query("/console/"),
        email: String::new(),
        organization: String::new(),
        error: Some(message),
        providers: console.desk.sso_buttons(None).await?,
    };
    let response = with_cookie(render_status(status, &page)?, cookie);
    Ok(with_cookie(response, console.sso_cookie("", 0)))
}

/// The provider sends the browser back here with a code and the state.
async fn sso_callback(
    State(console): State<Console>,
    addr: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    if let Some(error) = q.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(60)
            .collect();
        return sso_refused(
            &console,
            &headers,
            StatusCode::UNAUTHORIZED,
            format!("The identity provider did not sign you in ({error})."),
        )
        .await;
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return sso_refused(
            &console,
            &headers,
            StatusCode::BAD_REQUEST,
            "The identity provider's answer has no code or state; start again.".into(),
        )
        .await;
    };
    let browser = sso_browser(&headers);
    match console
        .desk
        .sso_complete(&state, &code, browser.as_deref(), &client(addr))
        .await?
    {
        Ok((session, next)) => Ok(with_cookie(
            signed_in(&console, &session, &local_path(Some(&next))),
            console.sso_cookie("", 0),
        )),
        Err(why) => {
            let mut message = why.0.to_string();
            if let Some(first) = message.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            sso_refused(
                &console,
                &headers,
                StatusCode::UNAUTHORIZED,
                format!("{message}."),
            )
            .await
        }
    }
}

async fn sign_in_code(
    State(console): State<Console>,
    addr: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    check_pre_session(&headers, &form)?;
    let next = local_path(form.get("next"));
    let mfa_token = form.get("mfa_token").unwrap_or_default().to_string();
    // Recovery codes are longer than six digits and contain a dash.
    let code = form.text("code").unwrap_or_default();
    let (totp, recovery) = if code.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        (Some(code.replace(' ', "")), None)
    } else {
        (None, Some(code))
    };
    let result = console
        .desk
        .login_mfa(mfa_token.clone(), totp, recovery, &client(addr))
        .await?;
    match result {
        Ok(session) => Ok(signed_in(&console, &session, &next)),
        Err(why) => {
            let (status, message, secs) = refusal(&why);
            let page = CodePage {
                csrf: form.get("csrf").unwrap_or_default().to_string(),
                next,
                mfa_token,
                error: Some(message),
            };
            Ok(retry_after(render_status(status, &page)?, secs))
        }
    }
}

async fn sign_out(
    State(console): State<Console>,
    SignedEnrolling(signed): SignedEnrolling,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    if let Some(refresh) = refresh_token(&headers) {
        console.desk.logout(refresh).await?;
    }
    let mut response = see_other("/console/sign-in");
    for cookie in console.cleared_cookies() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "password_form.html")]
struct PasswordPage {
    title: &'static str,
    intro: &'static str,
    action: &'static str,
    csrf: String,
    token: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    csrf: String,
    sent: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    title: &'static str,
    text: &'static str,
}

async fn forgot_page(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (csrf, cookie) = console.pre_session_token(&headers);
    Ok(with_cookie(
        render(&ForgotPage { csrf, sent: false })?,
        cookie,
    ))
}

async fn forgot(
    State(console): State<Console>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    check_pre_session(&headers, &form)?;
    if let Some(email) = form.text("email") {
        // The same answer whether or not the address has an account.
        console.desk.request_password_reset(&email).await?;
    }
    render(&ForgotPage {
        csrf: form.get("csrf").unwrap_or_default().to_string(),
        sent: true,
    })
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

const RESET: (&str, &str, &str) = (
    "Choose a new password",
    "Set the password you will sign in with from now on.",
    "/reset-password",
);
const INVITATION: (&str, &str, &str) = (
    "Welcome to the service desk",
    "Choose the password for your new account.",
    "/accept-invitation",
);

fn password_page(
    (title, intro, action): (&'static str, &'static str, &'static str),
    csrf: String,
    token: String,
    error: Option<String>,
) -> PasswordPage {
    PasswordPage {
        title,
        intro,
        action,
        csrf,
        token,
        error,
    }
}

async fn reset_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let (csrf, cookie) = console.pre_session_token(&headers);
    let page = password_page(RESET, csrf, q.token.unwrap_or_default(), None);
    Ok(with_cookie(render(&page)?, cookie))
}

async fn invitation_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let (csrf, cookie) = console.pre_session_token(&headers);
    let page = password_page(INVITATION, csrf, q.token.unwrap_or_default(), None);
    Ok(with_cookie(render(&page)?, cookie))
}

/// Refusals the password forms show at the form (a weak password, a used
/// or expired link); anything else is an error page.
fn form_refusal(error: DeskError) -> Result<(StatusCode, String), PageError> {
    match &error {
        DeskError::Invalid(_) | DeskError::Unauthenticated(_) | DeskError::Conflict(_) => {
            let (status, _) = super::error::describe(&error);
            Ok((status, super::error::message(&error)))
        }
        DeskError::NotFound(_) => Ok((
            StatusCode::NOT_FOUND,
            "This link is not valid (any more); ask for a new one.".into(),
        )),
        _ => Err(PageError::Desk(error)),
    }
}

async fn reset(
    State(console): State<Console>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    check_pre_session(&headers, &form)?;
    let token = form.get("token").unwrap_or_default().to_string();
    let password = form.get("password").unwrap_or_default().to_string();
    match console.desk.reset_password(token.clone(), password).await {
        Ok(()) => render(&MessagePage {
            title: "Password changed",
            text: "Your password is set. Sign in with it now.",
        }),
        Err(error) => {
            let (status, message) = form_refusal(error)?;
            let csrf = form.get("csrf").unwrap_or_default().to_string();
            render_status(status, &password_page(RESET, csrf, token, Some(message)))
        }
    }
}

async fn accept_invitation(
    State(console): State<Console>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    check_pre_session(&headers, &form)?;
    let token = form.get("token").unwrap_or_default().to_string();
    let password = form.get("password").unwrap_or_default().to_string();
    match console.desk.register(token.clone(), password).await {
        Ok(session) => Ok(signed_in(&console, &session, "/console/")),
        Err(error) => {
            let (status, message) = form_refusal(error)?;
            let csrf = form.get("csrf").unwrap_or_default().to_string();
            render_status(
                status,
                &password_page(INVITATION, csrf, token, Some(message)),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    chrome: Chrome,
    required: bool,
    secret: String,
    otpauth_uri: String,
    recovery_codes: Vec<String>,
    error: Option<String>,
}

/// MFA enrolment: a new secret to add to an authenticator app, then the
/// first code confirms it and shows the recovery codes once.
async fn mfa_page(
    State(console): State<Console>,
    SignedEnrolling(signed): SignedEnrolling,
) -> Result<Response, PageError> {
    let actor = signed.actor.clone();
    let desk = console.desk.clone();
    let enrolment = console
        .desk
        .execute(move |work| Box::pin(async move { desk.begin_mfa(work, &actor).await }))
        .await;
    let chrome = Chrome::new(&signed, Section::Account, "Two-factor sign-in");
    match enrolment {
        Ok(e) => render(&MfaPage {
            chrome,
            required: signed.must_enrol,
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            recovery_codes: Vec::new(),
            error: None,
        }),
        Err(DeskError::Conflict(message)) => render(&MfaPage {
            chrome,
            required: false,
            secret: String::new(),
            otpauth_uri: String::new(),
            recovery_codes: Vec::new(),
            error: Some(message),
        }),
        Err(other) => Err(other.into()),
    }
}

async fn mfa_confirm(
    State(console): State<Console>,
    SignedEnrolling(signed): SignedEnrolling,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let code = form.text("code").unwrap_or_default();
    let actor = signed.actor.clone();
    let desk = console.desk.clone();
    let confirmed = console
        .desk
        .execute(move |work| Box::pin(async move { desk.confirm_mfa(work, &actor, &code).await }))
        .await;
    let chrome = Chrome::new(&signed, Section::Account, "Two-factor sign-in");
    match confirmed {
        Ok(codes) => render(&MfaPage {
            chrome,
            required: false,
            secret: String::new(),
            otpauth_uri: String::new(),
            recovery_codes: codes.recovery_codes,
            error: None,
        }),
        Err(error @ (DeskError::Invalid(_) | DeskError::Unauthenticated(_))) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &MfaPage {
                chrome,
                required: signed.must_enrol,
                secret: form.get("secret").unwrap_or_default().to_string(),
                otpauth_uri: form.get("otpauth_uri").unwrap_or_default().to_string(),
                recovery_codes: Vec::new(),
                error: Some(super::error::message(&error)),
            },
        ),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "shortcuts.html")]
struct ShortcutsPage {
    chrome: Chrome,
}

async fn shortcuts(Signed(signed): Signed) -> Result<Response, PageError> {
    render(&ShortcutsPage {
        chrome: Chrome::new(&signed, Section::Account, "Keyboard shortcuts"),
    })
}
