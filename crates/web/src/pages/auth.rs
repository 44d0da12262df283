//! Login, second factor, logout, language switch, invitations.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use tsunagu_app::AppError;
use tsunagu_app::auth::LoginStep;

use crate::WebState;
use crate::error::WebError;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PENDING_COOKIE, PageCtx, SESSION_COOKIE, Visitor, cookie, removal};
use crate::tls::ClientCertificate;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    p: PageCtx,
    login: String,
    /// The request came with a verified client certificate: offer to log in with it.
    certificate: bool,
    errors: FormErrors,
}

impl LoginPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

pub async fn login_page(
    v: Visitor,
    cert: Option<Extension<ClientCertificate>>,
) -> Result<Response, WebError> {
    if v.actor.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    render(&LoginPage { p: v.page, login: String::new(), certificate: cert.is_some(), errors: vec![] })
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

fn throttled_message(t: &crate::i18n::Tr, secs: i64) -> String {
    let minutes = ((secs + 59) / 60).max(1);
    t.fmt("login.throttled", &[("minutes", &minutes.to_string())])
}

pub async fn login_submit(
    State(s): State<WebState>,
    v: Visitor,
    jar: CookieJar,
    cert: Option<Extension<ClientCertificate>>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let secure = s.config.secure_cookies;
    let certificate = cert.is_some();
    match s.app.login_password(&f.login, &f.password, v.address.clone()).await {
        Ok(LoginStep::Done { token }) => {
            let jar = jar.add(cookie(SESSION_COOKIE, token, secure)).add(removal(PENDING_COOKIE));
            Ok((jar, Redirect::to("/")).into_response())
        }
        Ok(LoginStep::SecondFactor { token }) => {
            let jar = jar.add(cookie(PENDING_COOKIE, token, secure));
            Ok((jar, Redirect::to("/login/second-factor")).into_response())
        }
        Err(AppError::Throttled { retry_after_secs }) => {
            let msg = throttled_message(&v.page.t, retry_after_secs);
            let page =
                LoginPage { p: v.page, login: f.login, certificate, errors: vec![("form".into(), msg)] };
            let mut r = render(&page)?;
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            if let Ok(h) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, h);
            }
            Ok(r)
        }
        Err(e) => {
            let errors = form_errors(&v.page.t, e)?;
            let mut r = render(&LoginPage { p: v.page, login: f.login, certificate, errors })?;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(r)
        }
    }
}

/// Logs in with the client certificate the TLS connection was verified with (the form carries
/// only the CSRF token). A certificate bound to no account, or to a disabled one, gets the login
/// page again with a message; the app has written the audit event.
pub async fn login_certificate(
    State(s): State<WebState>,
    v: Visitor,
    jar: CookieJar,
    cert: Option<Extension<ClientCertificate>>,
) -> Result<Response, WebError> {
    let refuse = |page: PageCtx, certificate: bool, key: &'static str, status: StatusCode| {
        let msg = page.t.get(key).to_string();
        let mut r = render(&LoginPage {
            p: page,
            login: String::new(),
            certificate,
            errors: vec![("form".into(), msg)],
        })?;
        *r.status_mut() = status;
        Ok::<_, WebError>(r)
    };
    // The plain listener, or TLS without a client CA: there is no certificate to log in with.
    let Some(Extension(ClientCertificate(fingerprint))) = cert else {
        return refuse(v.page, false, "login.certificate_missing", StatusCode::BAD_REQUEST);
    };
    match s.app.login_certificate(&fingerprint, v.address.clone()).await {
        Ok(token) => {
            let jar =
                jar.add(cookie(SESSION_COOKIE, token, s.config.secure_cookies)).add(removal(PENDING_COOKIE));
            Ok((jar, Redirect::to("/")).into_response())
        }
        Err(AppError::Unauthenticated) => {
            refuse(v.page, true, "login.certificate_unknown", StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            let errors = form_errors(&v.page.t, e)?;
            let mut r = render(&LoginPage { p: v.page, login: String::new(), certificate: true, errors })?;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    p: PageCtx,
    login: String,
    has_totp: bool,
    /// They have a passkey and the server offers passkeys: offer it (`app.js` shows it).
    passkey: bool,
    errors: FormErrors,
}

impl SecondFactorPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

pub async fn second_factor_page(
    State(s): State<WebState>,
    v: Visitor,
    jar: CookieJar,
) -> Result<Response, WebError> {
    let Some(token) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match s.app.pending_second_factor(&token).await {
        Ok(u) => render(&SecondFactorPage {
            passkey: s.app.can_use_passkey(&u.id).await?,
            p: v.page,
            login: u.login,
            has_totp: u.totp_enabled_at.is_some(),
            errors: vec![],
        }),
        Err(AppError::Unauthenticated) => {
            Ok((jar.add(removal(PENDING_COOKIE)), Redirect::to("/login")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn second_factor_submit(
    State(s): State<WebState>,
    v: Visitor,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    let Some(pending) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match s.app.complete_second_factor(&pending, &f.code, v.address.clone()).await {
        Ok(token) => {
            let jar =
                jar.add(cookie(SESSION_COOKIE, token, s.config.secure_cookies)).add(removal(PENDING_COOKIE));
            Ok((jar, Redirect::to("/")).into_response())
        }
        Err(AppError::Unauthenticated) => {
            Ok((jar.add(removal(PENDING_COOKIE)), Redirect::to("/login")).into_response())
        }
        Err(e) => {
            let u = s.app.pending_second_factor(&pending).await?;
            let errors = match e {
                AppError::Throttled { retry_after_secs } => {
                    vec![("code".to_string(), throttled_message(&v.page.t, retry_after_secs))]
                }
                e => form_errors(&v.page.t, e)?,
            };
            let page = SecondFactorPage {
                passkey: s.app.can_use_passkey(&u.id).await?,
                p: v.page,
                login: u.login,
                has_totp: u.totp_enabled_at.is_some(),
                errors,
            };
            let mut r = render(&page)?;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(r)
        }
    }
}

pub async fn logout(State(s): State<WebState>, a: Authed, jar: CookieJar) -> Result<Response, WebError> {
    s.app.logout(&a.actor).await?;
    Ok((jar.add(removal(SESSION_COOKIE)), Redirect::to("/login")).into_response())
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Switches the language and returns to the page the person was on (same site only).
pub async fn switch_lang(Path(code): Path<String>, Query(q): Query<NextQuery>, jar: CookieJar) -> Response {
    let Some(lang) = crate::i18n::Lang::from_code(&code) else {
        return WebError(AppError::NotFound).into_response();
    };
    let next = q.next.filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or_else(|| "/".into());
    let c = Cookie::build(("lang", lang.code())).path("/").max_age(time::Duration::days(365)).build();
    (jar.add(c), Redirect::to(&next)).into_response()
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    p: PageCtx,
    display_name: String,
    login: String,
    token: String,
    errors: FormErrors,
}

impl InvitationPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

pub async fn invitation_page(
    State(s): State<WebState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let u = s.app.invitation(&token).await?;
    render(&InvitationPage { p: v.page, display_name: u.display_name, login: u.login, token, errors: vec![] })
}

#[derive(serde::Deserialize)]
pub struct InvitationForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn invitation_submit(
    State(s): State<WebState>,
    v: Visitor,
    Path(token): Path<String>,
    Form(f): Form<InvitationForm>,
) -> Result<Response, WebError> {
    match s.app.accept_invitation(&token, &f.password, &f.confirm).await {
        Ok(_) => Ok(Redirect::to("/login").into_response()),
        Err(e) => {
            let errors = form_errors(&v.page.t, e)?;
            let u = s.app.invitation(&token).await?;
            let mut r = render(&InvitationPage {
                p: v.page,
                display_name: u.display_name,
                login: u.login,
                token,
                errors,
            })?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}
