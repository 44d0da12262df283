use askama::Template;
use axum::response::Response;

use crate::error::WebError;
use crate::pages::render;
use crate::session::{Authed, PageCtx};

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    p: PageCtx,
    profession_key: String,
    duties: Vec<String>,
    organisations: Vec<(String, String)>,
}

pub async fn home(a: Authed) -> Result<Response, WebError> {
    let actor = &a.actor;
    render(&Home {
        profession_key: actor.profession.label_key(),
        duties: actor.duties.iter().map(|d| d.label_key()).collect(),
        organisations: actor
            .affiliations
            .iter()
            .map(|o| (o.organisation_name.clone(), format!("org_kind.{}", o.organisation_kind)))
            .collect(),
        p: a.page,
    })
}
