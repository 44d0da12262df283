//! `GET /fhir/Patient/{id}/$everything`: one Bundle of what the caller may see of a patient —
//! the Patient, the CareTeam, the Consents, the Conditions, AllergyIntolerances and
//! MedicationStatements of the summary, the vital-sign Observations, the Communications and the
//! DocumentReferences.
//!
//! It adds no way in of its own: each part is fetched through the same use case as the type's
//! own search, so each passes the gate and writes its own audit event (one per part read). A part
//! the caller may not see is left out (an emergency physician with an open emergency view gets
//! the Patient and nothing of the record beyond it); a patient the caller may not see at all is
//! the same 404 as everywhere. The newest [`MAX_PER_KIND`] Observations, Communications and
//! documents are included; when a patient has more, an `OperationOutcome` entry says so and the
//! type's own search (with paging) gives the rest. `_since` keeps what changed since an instant.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tsunagu_app::api_documents::{DocumentQuery, SummaryList};
use tsunagu_app::api_timeline::TEXT_KINDS;
use tsunagu_app::{App, AppError};
use tsunagu_store::timeline_search::{EntryQuery, VitalQuery};

use super::bundle::{Entry, Link};
use super::outcome::{FhirError, Issue, outcome};
use super::types::value;
use super::{
    Ctx, FhirRequest, communication, consent, directory, document, input, observation, patient, summary,
};
use super::{care_team, search};

/// The operation's canonical definition.
pub const DEFINITION: &str = "http://hl7.org/fhir/OperationDefinition/Patient-everything";

/// The most Observations, Communications or documents in one answer.
pub const MAX_PER_KIND: i64 = 1000;

/// A part's answer: its resources, or nothing when the caller may not see that part.
fn part<T>(r: Result<T, AppError>) -> Result<Option<T>, AppError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(AppError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET Patient/{id}/$everything`.
pub async fn run(ctx: &Ctx, app: &App, req: &FhirRequest, id: &str) -> Result<Response, FhirError> {
    let tr = ctx.tr;
    let actor = ctx.actor()?;
    let mut since: Option<i64> = None;
    for (k, v) in &req.params {
        match k.as_str() {
            "_format" | "_pretty" => {}
            "_since" => since = search::parse_date(tr, "_since", v)?.from.or(Some(0)),
            _ if ctx.lenient => {}
            other => return Err(FhirError::unknown_params(tr, &[other.to_string()])),
        }
    }
    // The patient first: a patient the caller may not see ends here with the common 404.
    let record = app.patient_resource(actor, id).await.map_err(|e| ctx.app_error(e))?;
    let pid = record.patient.id.clone();
    let mut resources: Vec<Value> = vec![value(&patient::resource(&record))];
    let mut truncated: Vec<&str> = Vec::new();
    let err = |e: AppError| ctx.app_error(e);

    if let Some(team) = part(app.care_team(actor, &pid).await).map_err(err)? {
        resources.push(care_team::resource(&team));
    }
    if let Some(consents) = part(app.patient_consents(actor, &pid).await).map_err(err)? {
        resources.extend(consents.iter().map(consent::resource));
    }
    for list in [SummaryList::Conditions, SummaryList::Allergies, SummaryList::Medications] {
        if let Some((o, items)) = part(app.summary_list(actor, &pid, list).await).map_err(err)? {
            resources.extend(items.iter().map(|i| summary::to_json(list, &o.patient, i)));
        }
    }
    let vq = VitalQuery { written_from: since, limit: MAX_PER_KIND, ..VitalQuery::default() };
    if let Some(found) = part(app.api_observations(actor, &pid, &vq, false).await).map_err(err)? {
        if found.more {
            truncated.push("Observation");
        }
        resources.extend(found.items.iter().map(|o| observation::resource(&ctx.base, o)));
    }
    let eq = EntryQuery {
        kinds: TEXT_KINDS.iter().map(|k| k.code().to_string()).collect(),
        written_from: since,
        limit: MAX_PER_KIND,
        ..EntryQuery::default()
    };
    if let Some(found) = part(app.api_text_entries(actor, &pid, &eq, false).await).map_err(err)? {
        if found.more {
            truncated.push("Communication");
        }
        resources.extend(found.items.iter().map(|t| value(&communication::resource(t))));
    }
    let dq = DocumentQuery { from: since, limit: MAX_PER_KIND, ..DocumentQuery::default() };
    if let Some((_, total, docs)) = part(app.documents(actor, &pid, &dq).await).map_err(err)? {
        if total > MAX_PER_KIND {
            truncated.push("DocumentReference");
        }
        resources.extend(docs.iter().map(|d| document::to_json(ctx, d)));
    }
    if let Some(from) = since {
        resources.retain(|r| {
            r["meta"]["lastUpdated"].as_str().is_none_or(|lu| lu >= input::instant(from).as_str())
                || r["resourceType"] == "Patient"
        });
    }
    for r in &mut resources {
        directory::prune(r);
    }
    let total = i64::try_from(resources.len()).unwrap_or(i64::MAX);
    let mut entries: Vec<Entry> = resources.iter().map(|r| Entry::of(&ctx.base, r)).collect();
    if !truncated.is_empty() {
        let issues: Vec<Issue> = truncated
            .iter()
            .map(|t| {
                Issue::warning(
                    "too-costly",
                    tr.fmt("fhir.everything.truncated", &[("type", t), ("max", &MAX_PER_KIND.to_string())]),
                )
            })
            .collect();
        entries.push(Entry::outcome(&outcome(&issues)));
    }
    let self_url = format!("{}/Patient/{pid}/$everything", ctx.base);
    let mut bundle = super::bundle::searchset(
        &self_url,
        &[],
        super::bundle::Paging { offset: 0, count: total.max(1), total },
        entries,
        &input::instant(app.now().micros()),
    );
    // One page holds everything: the self link is the operation's own URL.
    bundle.link = vec![Link { relation: "self", url: self_url }];
    Ok(ctx.json(StatusCode::OK, &bundle))
}
