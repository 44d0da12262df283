//! Administration pages: organisations, support centers and districts, people, invitations.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use tsunagu_app::admin::{CenterWithDistricts, NewOrganisation, NewPerson, PersonListing};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::person::{Duty, Profession};
use tsunagu_store::orgs::OrgRow;

use crate::WebState;
use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx};

#[derive(Template)]
#[template(path = "admin_overview.html")]
struct Overview {
    p: PageCtx,
    centers: Vec<CenterWithDistricts>,
    others: Vec<OrgRow>,
    second_factor_required: bool,
}

pub async fn overview(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    let orgs = s.app.organisations(&a.actor).await?;
    let centers = s.app.support_centers().await?;
    let others = orgs
        .into_iter()
        .filter(|o| !OrgKind::from_code(&o.kind).is_some_and(|k| k.is_support_center()))
        .collect();
    render(&Overview {
        p: a.page,
        centers,
        others,
        second_factor_required: s.app.second_factor_required().await?,
    })
}

#[derive(Template)]
#[template(path = "admin_org_new.html")]
struct NewOrgPage {
    p: PageCtx,
    kinds: Vec<(&'static str, String)>,
    form: OrgForm,
    errors: FormErrors,
}

impl NewOrgPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

#[derive(serde::Deserialize, Default, Clone)]
pub struct OrgForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    name_kana: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    emergency: Option<String>,
}

fn kinds() -> Vec<(&'static str, String)> {
    OrgKind::ALL.iter().map(|k| (k.code(), k.label_key())).collect()
}

pub async fn new_org_page(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    tsunagu_app::admin::ensure_admin(&s.app, &a.actor).await?;
    render(&NewOrgPage { p: a.page, kinds: kinds(), form: OrgForm::default(), errors: vec![] })
}

pub async fn new_org_submit(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<OrgForm>,
) -> Result<Response, WebError> {
    let input = NewOrganisation {
        kind: f.kind.clone(),
        name: f.name.clone(),
        name_kana: f.name_kana.clone(),
        address: f.address.clone(),
        phone: f.phone.clone(),
        parent_id: None,
        is_emergency_hospital: f.emergency.is_some(),
    };
    match s.app.create_organisation(&a.actor, input).await {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let mut r = render(&NewOrgPage { p: a.page, kinds: kinds(), form: f, errors })?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "admin_people.html")]
struct PeoplePage {
    p: PageCtx,
    people: Vec<PersonListing>,
    /// Why the last action was refused.
    error: Option<String>,
}

pub async fn people(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    let people = s.app.people(&a.actor).await?;
    render(&PeoplePage { p: a.page, people, error: None })
}

#[derive(Template)]
#[template(path = "admin_invite.html")]
struct InvitePage {
    p: PageCtx,
    professions: Vec<(&'static str, String)>,
    duties: Vec<(&'static str, String)>,
    organisations: Vec<OrgRow>,
    form: InviteForm,
    errors: FormErrors,
    /// The link made for the person just invited, and the address it was mailed to.
    link: Option<(String, Option<String>)>,
}

impl InvitePage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

#[derive(serde::Deserialize, Default, Clone)]
pub struct InviteForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    display_name_kana: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    duties: Vec<String>,
    #[serde(default)]
    organisations: Vec<String>,
}

async fn invite_page_with(
    s: &WebState,
    a: Authed,
    form: InviteForm,
    errors: FormErrors,
    link: Option<(String, Option<String>)>,
) -> Result<Response, WebError> {
    let organisations = s.app.organisations(&a.actor).await?;
    render(&InvitePage {
        p: a.page,
        professions: Profession::ALL.iter().map(|p| (p.code(), p.label_key())).collect(),
        duties: Duty::ALL.iter().map(|d| (d.code(), d.label_key())).collect(),
        organisations,
        form,
        errors,
        link,
    })
}

/// The invitation e-mail: Japanese first, then English, from the message catalog.
fn invitation_mail(name: &str, link: &str) -> (String, String) {
    let ja = Tr::new(Lang::Ja);
    let en = Tr::new(Lang::En);
    let subject = format!("{} / {}", ja.get("mail.invitation_subject"), en.get("mail.invitation_subject"));
    let args = [("name", name), ("link", link)];
    let body = format!(
        "{}\n\n----\n\n{}\n",
        ja.fmt("mail.invitation_body", &args),
        en.fmt("mail.invitation_body", &args)
    );
    (subject, body)
}

pub async fn invite_page(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    invite_page_with(&s, a, InviteForm::default(), vec![], None).await
}

pub async fn invite_submit(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<InviteForm>,
) -> Result<Response, WebError> {
    let input = NewPerson {
        login: f.login.clone(),
        display_name: f.display_name.clone(),
        display_name_kana: f.display_name_kana.clone(),
        profession: f.profession.clone(),
        email: f.email.clone(),
        duties: f.duties.clone(),
        organisation_ids: f.organisations.clone(),
    };
    match s.app.invite_person(&a.actor, input).await {
        Ok((user, token)) => {
            let link = s.app.invitation_link(&token);
            let (subject, body) = invitation_mail(&user.display_name, &link);
            let mailed = s.app.send_invitation(&user, &subject, &body).await;
            let mailed_to = if mailed { user.email.clone() } else { None };
            invite_page_with(&s, a, InviteForm::default(), vec![], Some((link, mailed_to))).await
        }
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let mut r = invite_page_with(&s, a, f, errors, None).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

pub async fn disable(
    State(s): State<WebState>,
    a: Authed,
    Path(login): Path<String>,
) -> Result<Response, WebError> {
    match s.app.set_account_disabled(Some(&a.actor), &login, true).await {
        Ok(()) => Ok(Redirect::to("/admin/people").into_response()),
        Err(e) => {
            let error = form_errors(&a.page.t, e)?.into_iter().map(|(_, m)| m).next();
            let people = s.app.people(&a.actor).await?;
            let mut r = render(&PeoplePage { p: a.page, people, error })?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

pub async fn enable(
    State(s): State<WebState>,
    a: Authed,
    Path(login): Path<String>,
) -> Result<Response, WebError> {
    s.app.set_account_disabled(Some(&a.actor), &login, false).await?;
    Ok(Redirect::to("/admin/people").into_response())
}

#[derive(serde::Deserialize)]
pub struct SettingForm {
    #[serde(default)]
    required: Option<String>,
}

pub async fn second_factor_setting(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<SettingForm>,
) -> Result<Response, WebError> {
    s.app.set_second_factor_required(&a.actor, f.required.is_some()).await?;
    Ok(Redirect::to("/admin").into_response())
}
