//! The pages a person uses, by capability.

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::WebState;
use crate::error::WebError;

pub mod account;
pub mod admin;
pub mod auth;
pub mod care_team;
pub mod charts;
pub mod directory;
pub mod directory_data;
pub mod directory_upkeep;
pub mod files;
pub mod home;
pub mod passkeys;
pub mod patient_edit;
pub mod patients;
pub mod vacancies;

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
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/account/passkeys/register/start", post(passkeys::register_start))
        .route("/account/passkeys/register/finish", post(passkeys::register_finish))
        .route("/account/passkeys/{id}/delete", post(account::remove_passkey))
        .route("/admin", get(admin::overview))
        .route("/admin/organisations/new", get(admin::new_org_page).post(admin::new_org_submit))
        .route("/admin/organisations/{id}", get(admin::org_page).post(admin::org_submit))
        .route("/admin/people", get(admin::people))
        .route("/admin/people/invite", get(admin::invite_page).post(admin::invite_submit))
        .route("/admin/people/{login}", get(admin::person_page).post(admin::person_submit))
        .route("/admin/people/{login}/invitation", post(admin::resend_invitation))
        .route("/admin/people/{login}/second-factors/reset", post(admin::reset_second_factors))
        .route("/admin/people/{login}/disable", post(admin::disable))
        .route("/admin/people/{login}/enable", post(admin::enable))
        .route("/admin/settings/second-factor", post(admin::second_factor_setting))
        .route("/patients/new", get(patients::new_page).post(patients::new_submit))
        .route("/patients/{id}", get(patients::show))
        .route("/patients/{id}/edit", get(patient_edit::edit_get).post(patient_edit::edit_post))
        .route("/patients/{id}/entries", post(patients::write))
        .route("/patients/{id}/entries/{entry}/ack", post(patients::acknowledge))
        .route("/patients/{id}/entries/{entry}/correct", get(patients::correct_page))
        // Care teams: consent, the team, joining, the emergency view, the disclosure printout.
        .route(
            "/patients/{id}/consent",
            get(care_team::consent_get).post(care_team::consent_post).layer(files::own_limit()),
        )
        .route("/patients/{id}/consent/withdraw", post(care_team::consent_withdraw))
        .route("/patients/{id}/team", get(care_team::team_get))
        .route("/patients/{id}/team/add", post(care_team::team_add))
        .route("/patients/{id}/team/leave", post(care_team::team_leave))
        .route("/patients/{id}/team/{user}/approve", post(care_team::team_approve))
        .route("/patients/{id}/team/{user}/refuse", post(care_team::team_refuse))
        .route("/patients/{id}/team/{user}/remove", post(care_team::team_remove))
        .route("/patients/{id}/team/{user}/end", post(care_team::team_end))
        .route("/patients/{id}/join", get(care_team::join_get).post(care_team::join_post))
        .route("/join", get(care_team::join_form).post(care_team::join_by_id))
        .route("/patients/{id}/emergency", get(care_team::emergency_get).post(care_team::emergency_post))
        .route("/emergency", get(care_team::emergency_search_get).post(care_team::emergency_search_post))
        .route("/patients/{id}/access-log", get(care_team::access_log))
        .route("/patients/{id}/vitals", get(charts::vitals))
        .route("/patients/{id}/visits", get(charts::visits))
        .route("/patients/{id}/live", get(charts::live))
        // Photos and files: multipart uploads read with their own size cap (see `files::WithFile`).
        .route(
            "/patients/{id}/files",
            get(files::upload_get).post(files::upload_post).layer(files::own_limit()),
        )
        .route("/patients/{id}/files/{file}", get(files::file_get))
        .route("/patients/{id}/files/{file}/thumb", get(files::thumb_get))
        // Short-stay vacancies and inquiries (issue 4, point 2).
        .route("/directory/vacancies", get(vacancies::overview_get))
        .route("/directory/inquiries", get(vacancies::mine_get))
        .route("/directory/inquiries/{iid}/answer", post(vacancies::answer_post))
        .route("/directory/inquiries/{iid}/withdraw", post(vacancies::withdraw_post))
        .route("/directory/{id}/vacancies", get(vacancies::vacancies_get).post(vacancies::vacancies_post))
        .route("/directory/{id}/inquiries", get(vacancies::inbox_get).post(vacancies::inquiry_post))
        // The directory (C3, C9): open to everyone; professionals see more.
        .route("/directory", get(directory::search))
        .route("/directory/centers", get(directory::centers))
        // Open data in, the directory out (issue 4, point 7); uploads cap their own size.
        .route("/directory/export.csv", get(directory_data::export_csv))
        .route("/directory/export.json", get(directory_data::export_json))
        .route(
            "/directory/import",
            get(directory_data::import_get).post(directory_data::import_post).layer(files::own_limit()),
        )
        .route("/directory/{id}", get(directory::provider))
        // Upkeep of entries and consultation hours (the entry's operator, the coordinator).
        .route("/directory/unconfirmed", get(directory_upkeep::unconfirmed_get))
        .route("/directory/{id}/edit", get(directory_upkeep::edit_get).post(directory_upkeep::edit_post))
        .route("/directory/{id}/confirm", post(directory_upkeep::confirm_post))
        .route("/directory/{id}/history", get(directory_upkeep::history_get))
        .route("/directory/{id}/hours", get(directory_upkeep::hours_get).post(directory_upkeep::hours_post))
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
