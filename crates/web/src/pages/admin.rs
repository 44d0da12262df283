//! Administration pages: organisations, support centers and districts, people, invitations.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use tsunagu_app::admin::{
    CenterWithDistricts, NewOrganisation, NewPerson, OrganisationChanges, OrganisationDetail, PersonChanges,
    PersonDetail, PersonListing,
};
use tsunagu_domain::Timestamp;
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
    /// A support center's districts, one per line (on the edit page only).
    #[serde(default)]
    districts: Option<String>,
}

impl OrgForm {
    fn changes(&self) -> OrganisationChanges {
        OrganisationChanges {
            kind: self.kind.clone(),
            name: self.name.clone(),
            name_kana: self.name_kana.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            is_emergency_hospital: self.emergency.is_some(),
            districts: self.districts.as_deref().map(|d| d.lines().map(str::to_string).collect()),
        }
    }
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
#[template(path = "admin_org_edit.html")]
struct OrgPage {
    p: PageCtx,
    kinds: Vec<(&'static str, String)>,
    detail: OrganisationDetail,
    form: OrgForm,
    errors: FormErrors,
}

impl OrgPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    /// Every message for a field (each district refused says why).
    fn errs(&self, f: &str) -> Vec<&str> {
        self.errors.iter().filter(|(x, _)| x == f).map(|(_, m)| m.as_str()).collect()
    }

    fn is_center(&self) -> bool {
        OrgKind::from_code(&self.detail.org.kind).is_some_and(|k| k.is_support_center())
    }

    fn created(&self) -> String {
        Timestamp(self.detail.org.created_at).jst_minutes()
    }

    fn updated(&self) -> String {
        Timestamp(self.detail.org.updated_at).jst_minutes()
    }
}

pub async fn org_page(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let detail = s.app.organisation_detail(&a.actor, &id).await?;
    let o = &detail.org;
    let form = OrgForm {
        kind: o.kind.clone(),
        name: o.name.clone(),
        name_kana: o.name_kana.clone(),
        address: o.address.clone(),
        phone: o.phone.clone(),
        emergency: o.is_emergency_hospital.then(|| "1".to_string()),
        districts: Some(detail.districts.join("\n")),
    };
    render(&OrgPage { p: a.page, kinds: kinds(), detail, form, errors: vec![] })
}

pub async fn org_submit(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<OrgForm>,
) -> Result<Response, WebError> {
    match s.app.update_organisation(&a.actor, &id, f.changes()).await {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let detail = s.app.organisation_detail(&a.actor, &id).await?;
            let mut r = render(&OrgPage { p: a.page, kinds: kinds(), detail, form: f, errors })?;
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
    form: PersonForm,
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
pub struct PersonForm {
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
    form: PersonForm,
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

impl PersonForm {
    fn changes(&self) -> PersonChanges {
        PersonChanges {
            display_name: self.display_name.clone(),
            display_name_kana: self.display_name_kana.clone(),
            profession: self.profession.clone(),
            email: self.email.clone(),
            duties: self.duties.clone(),
            organisation_ids: self.organisations.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_person.html")]
struct PersonPage {
    p: PageCtx,
    d: PersonDetail,
    professions: Vec<(&'static str, String)>,
    duties: Vec<(&'static str, String)>,
    organisations: Vec<OrgRow>,
    form: PersonForm,
    errors: FormErrors,
    /// What was just done (a catalog key).
    done: Option<&'static str>,
    /// Why the last action (re-sending, resetting) was refused.
    error: Option<String>,
    /// A re-sent invitation's link, and the address it was mailed to.
    link: Option<(String, Option<String>)>,
    /// The page is the administrator's own account.
    is_self: bool,
}

impl PersonPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    fn created(&self) -> String {
        Timestamp(self.d.user.created_at).jst_minutes()
    }

    fn invitation_expires(&self) -> Option<String> {
        self.d.open_invitation.as_ref().map(|i| Timestamp(i.expires_at).jst_minutes())
    }
}

/// What a person page was reached after (`?done=…`).
#[derive(serde::Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

impl DoneQuery {
    fn message(&self) -> Option<&'static str> {
        match self.done.as_deref() {
            Some("saved") => Some("admin.saved"),
            Some("reset") => Some("admin.reset_done"),
            _ => None,
        }
    }
}

struct PersonExtras {
    form: Option<PersonForm>,
    errors: FormErrors,
    done: Option<&'static str>,
    error: Option<String>,
    link: Option<(String, Option<String>)>,
}

impl PersonExtras {
    fn none() -> Self {
        Self { form: None, errors: vec![], done: None, error: None, link: None }
    }
}

async fn person_page_with(
    s: &WebState,
    a: Authed,
    login: &str,
    x: PersonExtras,
) -> Result<Response, WebError> {
    let d = s.app.person_detail(&a.actor, login).await?;
    let organisations = s.app.organisations(&a.actor).await?;
    let form = x.form.unwrap_or_else(|| PersonForm {
        login: d.user.login.clone(),
        display_name: d.user.display_name.clone(),
        display_name_kana: d.user.display_name_kana.clone(),
        profession: d.user.profession.clone(),
        email: d.user.email.clone().unwrap_or_default(),
        duties: d.duties.clone(),
        organisations: d.affiliations.iter().map(|o| o.organisation_id.clone()).collect(),
    });
    render(&PersonPage {
        is_self: d.user.id == a.actor.user_id,
        p: a.page,
        d,
        professions: Profession::ALL.iter().map(|p| (p.code(), p.label_key())).collect(),
        duties: Duty::ALL.iter().map(|d| (d.code(), d.label_key())).collect(),
        organisations,
        form,
        errors: x.errors,
        done: x.done,
        error: x.error,
        link: x.link,
    })
}

fn unprocessable(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

pub async fn person_page(
    State(s): State<WebState>,
    a: Authed,
    Path(login): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    person_page_with(&s, a, &login, PersonExtras { done: q.message(), ..PersonExtras::none() }).await
}

pub async fn person_submit(
    State(s): State<WebState>,
    a: Authed,
    Path(login): Path<String>,
    Form(f): Form<PersonForm>,
) -> Result<Response, WebError> {
    match s.app.update_person(&a.actor, &login, f.changes()).await {
        Ok(u) => Ok(Redirect::to(&format!("/admin/people/{}?done=saved", u.login)).into_response()),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let x = PersonExtras { form: Some(f), errors, ..PersonExtras::none() };
            Ok(unprocessable(person_page_with(&s, a, &login, x).await?))
        }
    }
}

pub async fn resend_invitation(
    State(s): State<WebState>,
    a: Authed,
    Path(login): Path<String>,
) -> Result<Response, WebError> {
    match s.app.resend_invitation(&a.actor, &login).await {
        Ok((user, token)) => {
            let link = s.app.invitation_link(&token);
            let (subject, body) = invitation_mail(&user.display_name, &link);
            let mailed = s.app.send_invitation(&user, &subject, &body).await;
            let mailed_to = if mailed { user.email.clone() } else { None };
            let x = PersonExtras { link: Some((link, mailed_to)), ..PersonExtras::none() };
            person_page_with(&s, a, &login, x).await
        }
        Err(e) => {
            let error = form_errors(&a.page.t, e)?.into_iter().map(|(_, m)| m).next();
            let x = PersonExtras { error, ..PersonExtras::none() };
            Ok(unprocessable(person_page_with(&s, a, &login, x).await?))
        }
    }
}

pub async fn reset_second_factors(
    State(s): State<WebState>,
    a: Authed,
    Path(login): Path<String>,
) -> Result<Response, WebError> {
    match s.app.reset_second_factors(&a.actor, &login).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/people/{login}?done=reset")).into_response()),
        Err(e) => {
            let error = form_errors(&a.page.t, e)?.into_iter().map(|(_, m)| m).next();
            let x = PersonExtras { error, ..PersonExtras::none() };
            Ok(unprocessable(person_page_with(&s, a, &login, x).await?))
        }
    }
}

pub async fn invite_page(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    invite_page_with(&s, a, PersonForm::default(), vec![], None).await
}

pub async fn invite_submit(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<PersonForm>,
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
            invite_page_with(&s, a, PersonForm::default(), vec![], Some((link, mailed_to))).await
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
