//! The pages a person uses, by capability.

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::WebState;
use crate::error::WebError;

pub mod account;
pub mod admin;
pub mod auth;
pub mod home;
pub mod passkeys;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(home::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/login/certificate", post(auth::login_certificate))
        .route("/login/second-factor", get(auth::second_factor_page).post(auth::second_factor_submit))
        .route("/login/passkey/start", post(passkeys::login_start))
        .route("/login/passkey/finish", post(passkeys::login_finish))
        .route("/logout", post(auth::logout))
        .route("/lang/{code}", get(auth::switch_lang))
        .route("/invite/{token}", get(auth::invitation_page).post(auth::invitation_submit))
        .route("/account/security", get(account::security_page))
        .route("/account/password", post(account::change_password))
        .route("/account/totp/start", post(account::totp_start))
        .route("/account/totp/confirm", post(account::totp_confirm))
        .route("/account/totp/disable", post(account::totp_disable))
        .route("/account/tokens", post(account::create_token))
        .route("/account/passkeys/register/start", post(passkeys::register_start))
        .route("/account/passkeys/register/finish", post(passkeys::register_finish))
        .route("/account/passkeys/{id}/delete", post(account::remove_passkey))
        .route("/admin", get(admin::overview))
        .route("/admin/organisations/new", get(admin::new_org_page).post(admin::new_org_submit))
        .route("/admin/people", get(admin::people))
        .route("/admin/people/invite", get(admin::invite_page).post(admin::invite_submit))
        .route("/admin/people/{login}/disable", post(admin::disable))
        .route("/admin/people/{login}/enable", post(admin::enable))
        .route("/admin/settings/second-factor", post(admin::second_factor_setting))
}

/// Renders a template into a response.
pub fn render<T: askama::Template>(t: &T) -> Result<Response, WebError> {
    t.render()
        .map(|h| Html(h).into_response())
        .map_err(|e| WebError(tsunagu_app::AppError::Internal(format!("template: {e}"))))
}

/// Field errors of a refused form, for templates: (field, message).
pub type FormErrors = Vec<(String, String)>;

/// The message for one field, if it has an error.
pub fn field_error<'a>(errors: &'a FormErrors, field: &str) -> Option<&'a str> {
    errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
}

/// Turns a use case's refusal into form errors in the page's language; other errors pass on.
pub fn form_errors(t: &crate::i18n::Tr, e: tsunagu_app::AppError) -> Result<FormErrors, WebError> {
    match e {
        tsunagu_app::AppError::Invalid(inv) => {
            Ok(inv.0.iter().map(|fe| (fe.field.to_string(), t.error(fe))).collect())
        }
        other => Err(WebError(other)),
    }
}
