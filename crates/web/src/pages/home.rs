use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tsunagu_domain::person::Profession;

use crate::WebState;
use crate::error::WebError;
use crate::pages::render;
use crate::session::{Authed, PageCtx};

/// A patient on the home page's list.
struct HomePatient {
    id: String,
    name: String,
    kana: String,
    role_key: String,
    /// Awaiting a physician's approval: no link, no counts.
    pending: bool,
    /// Consent withdrawn: no longer viewable.
    closed: bool,
    unread: Option<String>,
    unacknowledged: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    p: PageCtx,
    welcome: String,
    profession_key: String,
    duties: Vec<String>,
    organisations: Vec<(String, String)>,
    show_patients: bool,
    can_register: bool,
    patients: Vec<HomePatient>,
    /// A physician of an emergency hospital: the link to the emergency search.
    emergency_physician: bool,
    /// Directory entries waiting for their operator's confirmation (partial
    /// `directory/_home_notice.html`).
    upkeep: crate::pages::directory_upkeep::HomeUpkeep,
}

pub async fn home(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    let actor = &a.actor;
    let t = a.page.t;
    let mine = s.app.my_patients(actor).await?;
    let can_register = s.app.can_register_patients(actor);
    // People who do not care for patients (administrators, city officials, commissioners) see
    // no empty list.
    let carer = !matches!(
        actor.profession,
        Profession::Clerk | Profession::WelfareCommissioner | Profession::WelfarePromoter
    );
    let patients = mine
        .into_iter()
        .map(|m| {
            let pending = m.status == "pending";
            let closed = !pending && m.status != "active";
            let count = |key: &str, n: i64| (n > 0).then(|| t.fmt(key, &[("n", &n.to_string())]));
            HomePatient {
                unread: count("patients.unread", m.unread),
                unacknowledged: count("patients.unacknowledged", m.unacknowledged),
                id: m.id,
                name: m.name,
                kana: m.name_kana,
                role_key: format!("team_role.{}", m.role),
                pending,
                closed,
            }
        })
        .collect::<Vec<_>>();
    render(&Home {
        welcome: t.fmt("home.welcome", &[("name", &actor.display_name)]),
        profession_key: actor.profession.label_key(),
        duties: actor.duties.iter().map(|d| d.label_key()).collect(),
        organisations: actor
            .affiliations
            .iter()
            .map(|o| (o.organisation_name.clone(), format!("org_kind.{}", o.organisation_kind)))
            .collect(),
        show_patients: carer || can_register || !patients.is_empty(),
        can_register,
        patients,
        emergency_physician: s.app.is_emergency_physician(actor),
        upkeep: crate::pages::directory_upkeep::home_notice(&s, &t, actor).await?,
        p: a.page,
    })
}
