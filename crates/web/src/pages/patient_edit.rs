//! Editing a patient's summary (team members): the form, filled with the current values and the
//! version it was read at, and the list of earlier changes (who, when, which fields). Nothing
//! changes silently: the use case keeps the old version, audits the change and refuses a summary
//! someone else changed in the meantime.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use tsunagu_app::sharing::{NewPatient, PatientChange, jst};
use tsunagu_domain::sharing::{CareLevel, Sex};
use tsunagu_store::patients::PatientRow;

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx};

/// The summary's fields as the form sends them, and the version they were read at.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct EditForm {
    name: String,
    name_kana: String,
    birth_date: String,
    sex: String,
    address: String,
    district: String,
    phone: String,
    care_level: String,
    insurance_number: String,
    key_person: String,
    emergency_contacts: String,
    conditions: String,
    allergies: String,
    medications: String,
    /// Where the patient lives, `lat,lon` (optional).
    location: String,
    version: String,
}

impl EditForm {
    fn of(p: &PatientRow) -> Self {
        EditForm {
            name: p.name.clone(),
            name_kana: p.name_kana.clone(),
            birth_date: p.birth_date.clone(),
            sex: p.sex.clone(),
            address: p.address.clone(),
            district: p.district.clone().unwrap_or_default(),
            phone: p.phone.clone(),
            care_level: p.care_level.clone(),
            insurance_number: p.insurance_number.clone().unwrap_or_default(),
            key_person: p.key_person.clone(),
            emergency_contacts: p.emergency_contacts.clone(),
            conditions: p.conditions.clone(),
            allergies: p.allergies.clone(),
            medications: p.medications.clone(),
            location: tsunagu_app::sharing::location_text(p).unwrap_or_default(),
            version: p.version.to_string(),
        }
    }

    fn input(&self) -> NewPatient {
        NewPatient {
            name: self.name.clone(),
            name_kana: self.name_kana.clone(),
            birth_date: self.birth_date.clone(),
            sex: self.sex.clone(),
            address: self.address.clone(),
            district: self.district.clone(),
            phone: self.phone.clone(),
            care_level: self.care_level.clone(),
            insurance_number: self.insurance_number.clone(),
            key_person: self.key_person.clone(),
            emergency_contacts: self.emergency_contacts.clone(),
            conditions: self.conditions.clone(),
            allergies: self.allergies.clone(),
            medications: self.medications.clone(),
            location: self.location.clone(),
            ..Default::default()
        }
    }
}

/// A change as the history lists it.
struct Change {
    when: String,
    who: String,
    fields: String,
}

fn change(t: &Tr, c: &PatientChange) -> Change {
    let fields: Vec<String> = c
        .fields
        .iter()
        .map(|f| {
            // The home location is the directory's field (its label lives there).
            let key =
                if f == "location" { "directory.home_location".to_string() } else { format!("patients.{f}") };
            t.get(&key).to_string()
        })
        .collect();
    Change { when: jst(c.changed_at), who: c.changed_by_name.clone(), fields: fields.join("、") }
}

#[derive(Template)]
#[template(path = "patient_edit.html")]
struct EditPage {
    p: PageCtx,
    id: String,
    name: String,
    form: EditForm,
    errors: FormErrors,
    /// (district, its support center)
    districts: Vec<(String, String)>,
    sexes: Vec<(&'static str, String)>,
    care_levels: Vec<(&'static str, String)>,
    history: Vec<Change>,
    /// Today in Japan: the latest birth date.
    today: String,
    /// The map of the home-location field.
    map_tiles: String,
    map_attribution: String,
}

impl EditPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

async fn page(
    s: &WebState,
    a: Authed,
    id: &str,
    form: Option<EditForm>,
    errors: FormErrors,
) -> Result<Response, WebError> {
    let (o, changes) = s.app.patient_history(&a.actor, id).await?;
    let centers = s.app.support_centers().await?;
    let mut districts: Vec<(String, String)> =
        centers.iter().flat_map(|c| c.districts.iter().map(|d| (d.clone(), c.org.name.clone()))).collect();
    districts.sort();
    let mut form = form.unwrap_or_else(|| EditForm::of(&o.patient));
    // After a conflict the form keeps what was typed but is now based on the latest version,
    // shown in the history above it.
    if errors.iter().any(|(f, _)| f == "version") {
        form.version = o.patient.version.to_string();
    }
    let history = changes.iter().map(|c| change(&a.page.t, c)).collect();
    render(&EditPage {
        id: o.patient.id.clone(),
        name: o.patient.name.clone(),
        p: a.page,
        form,
        errors,
        districts,
        sexes: Sex::ALL.iter().map(|x| (x.code(), x.label_key())).collect(),
        care_levels: CareLevel::ALL.iter().map(|x| (x.code(), x.label_key())).collect(),
        history,
        today: crate::pages::patients::today(s.app.now()),
        map_tiles: s.config.map_tile_url.clone(),
        map_attribution: s.config.map_attribution.clone(),
    })
}

pub async fn edit_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    page(&s, a, &id, None, vec![]).await
}

pub async fn edit_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Result<Response, WebError> {
    // A missing or garbled version cannot match any version: refused as a conflict.
    let version = f.version.trim().parse::<i64>().unwrap_or(-1);
    match s.app.update_patient(&a.actor, &id, f.input(), version).await {
        Ok(p) => Ok(Redirect::to(&format!("/patients/{}#summary", p.id)).into_response()),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let mut r = page(&s, a, &id, Some(f), errors).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}
