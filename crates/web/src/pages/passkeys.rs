//! Passkeys over JSON, for `static/app.js`: registering one while logged in, and logging in
//! with one (alone, or as the second step after a password). Every answer is JSON; a refusal is
//! `{"error": "<message in the page's language>"}` with the status that fits. The CSRF
//! middleware has checked the `x-csrf-token` header before any of these runs. Removing a
//! passkey is a plain form (`account::remove_passkey`).

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tsunagu_app::AppError;
use tsunagu_app::passkeys::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::WebState;
use crate::i18n::{Lang, Tr};
use crate::session::{PENDING_COOKIE, SESSION_COOKIE, Visitor, cookie, removal};

/// A refusal: `{"error": message}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A use case's error as JSON in the page's language; `invalid` is the status for refused input.
fn refusal(t: &Tr, e: AppError, invalid: StatusCode) -> Response {
    match e {
        AppError::Invalid(inv) => match inv.0.first() {
            Some(fe) => error(invalid, &t.error(fe)),
            None => error(invalid, t.get("error.page.invalid")),
        },
        AppError::Throttled { retry_after_secs } => {
            let minutes = ((retry_after_secs + 59) / 60).max(1).to_string();
            let mut r =
                error(StatusCode::TOO_MANY_REQUESTS, &t.fmt("login.throttled", &[("minutes", &minutes)]));
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        AppError::Unauthenticated => error(StatusCode::UNAUTHORIZED, t.get("passkey.session_ended")),
        AppError::NotFound => error(StatusCode::NOT_FOUND, t.get("error.page.not_found")),
        AppError::Forbidden => error(StatusCode::FORBIDDEN, t.get("error.page.forbidden")),
        AppError::ReadOnly => error(StatusCode::FORBIDDEN, t.get("error.page.read_only")),
        other => {
            // Storage and internal errors: details to the log only.
            tracing::error!(error = %other, "passkey request failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, t.get("passkey.server_error"))
        }
    }
}

/// A JSON body. One that does not parse gets a JSON refusal in the page's language (axum's
/// own rejection is plain text).
pub struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let t = Tr::new(Lang::from_headers(req.headers()));
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(_) => Err(error(StatusCode::BAD_REQUEST, t.get("error.page.bad_form"))),
        }
    }
}

#[derive(Deserialize)]
pub struct NameBody {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct RegisterAnswer {
    challenge_id: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
pub struct LoginAnswer {
    challenge_id: String,
    credential: PublicKeyCredential,
}

/// `POST /account/passkeys/register/start` `{"name"}` → `{"challenge_id", "options"}`.
pub async fn register_start(
    State(s): State<WebState>,
    v: Visitor,
    JsonBody(b): JsonBody<NameBody>,
) -> Response {
    let t = v.page.t;
    let Some(actor) = v.actor else {
        return refusal(&t, AppError::Unauthenticated, StatusCode::UNAUTHORIZED);
    };
    match s.app.passkey_register_start(&actor, &b.name).await {
        Ok(ch) => Json(ch).into_response(),
        Err(e) => refusal(&t, e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /account/passkeys/register/finish` `{"challenge_id", "credential"}` → the new passkey.
pub async fn register_finish(
    State(s): State<WebState>,
    v: Visitor,
    JsonBody(b): JsonBody<RegisterAnswer>,
) -> Response {
    let t = v.page.t;
    let Some(actor) = v.actor else {
        return refusal(&t, AppError::Unauthenticated, StatusCode::UNAUTHORIZED);
    };
    match s.app.passkey_register_finish(&actor, &b.challenge_id, &b.credential).await {
        Ok(pk) => (StatusCode::CREATED, Json(json!({ "id": pk.id, "name": pk.name }))).into_response(),
        Err(e) => refusal(&t, e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /login/passkey/start` `{"login"}` → `{"challenge_id", "options"}`, for any login.
pub async fn login_start(
    State(s): State<WebState>,
    v: Visitor,
    JsonBody(b): JsonBody<LoginBody>,
) -> Response {
    let t = v.page.t;
    match s.app.passkey_login_start(&b.login, v.address).await {
        Ok(ch) => Json(ch).into_response(),
        Err(e) => refusal(&t, e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /login/passkey/finish` `{"challenge_id", "credential"}` → the session cookie and
/// `{"redirect": "/"}`. A pending second-factor session (its cookie) is completed by it.
pub async fn login_finish(
    State(s): State<WebState>,
    v: Visitor,
    jar: CookieJar,
    JsonBody(b): JsonBody<LoginAnswer>,
) -> Response {
    let t = v.page.t;
    let pending = jar.get(PENDING_COOKIE).map(|c| c.value().to_string());
    match s.app.passkey_login_finish(&b.challenge_id, &b.credential, pending.as_deref(), v.address).await {
        Ok(token) => {
            let jar =
                jar.add(cookie(SESSION_COOKIE, token, s.config.secure_cookies)).add(removal(PENDING_COOKIE));
            (jar, Json(json!({ "redirect": "/" }))).into_response()
        }
        Err(e) => refusal(&t, e, StatusCode::UNAUTHORIZED),
    }
}
