//! The person's own security settings: password, TOTP with recovery codes, passkeys (the list
//! and removal here; registering is JSON in `pages::passkeys`), API tokens.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tsunagu_app::passkeys::PasskeyInfo;
use tsunagu_app::tokens::{TokenInfo, TokenStatus};

use crate::WebState;
use crate::error::WebError;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx};

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    p: PageCtx,
    has_totp: bool,
    must_enrol: bool,
    required: bool,
    /// A TOTP enrolment in progress: (secret, otpauth URL).
    totp_setup: Option<(String, String)>,
    /// Recovery codes just made, shown once.
    recovery_codes: Vec<String>,
    recovery_left: i64,
    /// The person's passkeys, and whether this server offers passkeys at all.
    passkeys: Vec<PasskeyInfo>,
    passkeys_available: bool,
    /// An API token just made, shown once.
    new_token: Option<String>,
    /// The person's API tokens (never their secrets).
    tokens: Vec<TokenInfo>,
    message: Option<String>,
    errors: FormErrors,
}

impl SecurityPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    /// The catalog key of a token's status.
    fn status_key(&self, s: &TokenStatus) -> &'static str {
        match s {
            TokenStatus::Active => "tokens.status_active",
            TokenStatus::Expired => "tokens.status_expired",
            TokenStatus::Revoked => "tokens.status_revoked",
        }
    }
}

async fn page(s: &WebState, a: Authed) -> Result<SecurityPage, WebError> {
    let required = s.app.second_factor_required().await?;
    let recovery_left = s.app.recovery_codes_left(&a.actor).await?;
    let passkeys = s.app.list_passkeys(&a.actor).await?;
    let tokens = s.app.tokens(&a.actor).await?;
    Ok(SecurityPage {
        has_totp: a.actor.has_totp,
        must_enrol: a.actor.must_enrol_second_factor,
        required,
        totp_setup: None,
        recovery_codes: vec![],
        recovery_left,
        passkeys,
        passkeys_available: s.app.passkeys_available(),
        new_token: None,
        tokens,
        message: None,
        errors: vec![],
        p: a.page,
    })
}

fn refused(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

pub async fn security_page(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    render(&page(&s, a).await?)
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let actor = a.actor.clone();
    let mut pg = page(&s, a).await?;
    if f.new_password != f.confirm {
        pg.errors = vec![("confirm".into(), pg.p.t.get("error.password_mismatch").to_string())];
        return Ok(refused(render(&pg)?));
    }
    match s.app.change_password(&actor, &f.current_password, &f.new_password).await {
        // Every session ended, this one too: log in again with the new password.
        Ok(()) => Ok(Redirect::to("/login").into_response()),
        Err(e) => {
            pg.errors = form_errors(&pg.p.t, e)?;
            Ok(refused(render(&pg)?))
        }
    }
}

pub async fn totp_start(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    let setup = s.app.totp_begin(&a.actor).await?;
    let mut pg = page(&s, a).await?;
    pg.totp_setup = Some(setup);
    render(&pg)
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn totp_confirm(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    let actor = a.actor.clone();
    match s.app.totp_confirm(&actor, &f.code).await {
        Ok(codes) => {
            let mut pg = page(&s, a).await?;
            pg.has_totp = true;
            pg.must_enrol = false;
            pg.recovery_left = codes.len() as i64;
            pg.recovery_codes = codes;
            pg.message = Some(pg.p.t.get("security.totp_enabled").to_string());
            render(&pg)
        }
        Err(e) => {
            let mut pg = page(&s, a).await?;
            pg.errors = form_errors(&pg.p.t, e)?;
            pg.totp_setup = s.app.totp_pending(&actor).await?;
            Ok(refused(render(&pg)?))
        }
    }
}

#[derive(serde::Deserialize)]
pub struct PasswordOnly {
    #[serde(default)]
    password: String,
}

pub async fn totp_disable(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<PasswordOnly>,
) -> Result<Response, WebError> {
    let actor = a.actor.clone();
    let result = s.app.totp_disable(&actor, &f.password).await;
    let mut pg = page(&s, a).await?;
    match result {
        Ok(()) => {
            pg.has_totp = false;
            pg.recovery_left = 0;
            pg.message = Some(pg.p.t.get("security.totp_disabled").to_string());
            render(&pg)
        }
        Err(e) => {
            pg.errors = form_errors(&pg.p.t, e)?;
            Ok(refused(render(&pg)?))
        }
    }
}

/// Removes one of the person's passkeys (a form with the CSRF token only).
pub async fn remove_passkey(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.app.remove_passkey(&a.actor, &id).await?;
    let mut pg = page(&s, a).await?;
    pg.message = Some(pg.p.t.get("security.passkey_removed").to_string());
    render(&pg)
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    read_only: Option<String>,
}

pub async fn create_token(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    let actor = a.actor.clone();
    let mut pg = page(&s, a).await?;
    let days: i64 = match f.days.trim().parse() {
        Ok(d) if (1..=366).contains(&d) => d,
        _ => {
            pg.errors = vec![("days".into(), pg.p.t.get("error.bad_expiry").to_string())];
            return Ok(refused(render(&pg)?));
        }
    };
    match s.app.create_token(Some(&actor), &actor.login, &f.label, days * 86_400, f.read_only.is_some()).await
    {
        Ok(t) => {
            pg.new_token = Some(t);
            pg.tokens = s.app.tokens(&actor).await?;
            render(&pg)
        }
        Err(e) => {
            pg.errors = form_errors(&pg.p.t, e)?;
            Ok(refused(render(&pg)?))
        }
    }
}

/// Revokes one of the person's API tokens (a form with the CSRF token only). Someone else's
/// token, an unknown id and one already revoked all get the 404 page.
pub async fn revoke_token(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.app.revoke_token(&a.actor, &id).await?;
    let mut pg = page(&s, a).await?;
    pg.message = Some(pg.p.t.get("tokens.revoked").to_string());
    render(&pg)
}
