//! Time-series views and live updates of a patient (issue 3 §5–§6):
//! - `GET /patients/{id}/vitals?weeks=N`: one server-rendered SVG chart per vital sign over the
//!   chosen weeks, each with a plain table of its values (for screen readers and browsers
//!   without SVG);
//! - `GET /patients/{id}/visits?profession=…`: the past visit records, grouped by profession;
//! - `GET /patients/{id}/live`: server-sent events, each carrying a new (or changed) timeline
//!   entry rendered exactly as the patient page renders it.
//!
//! Every handler goes through a use case (`vitals_series`, `timeline`, `subscribe`): non-members
//! get the same 404 page as for a patient who does not exist.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tsunagu_app::live::LiveUpdate;
use tsunagu_app::sharing::{EntryView, VisitData, jst};
use tsunagu_domain::FieldError;
use tsunagu_domain::person::Profession;
use tsunagu_domain::sharing::{EntryKind, VitalKind};
use tsunagu_store::patients::{EntryFilter, VitalRow};

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, render};
use crate::session::{Authed, PageCtx};
use crate::svg_chart::{self, Chart, Series};

/// The periods a chart can cover, in weeks; the first page shows four.
pub const WEEKS: [i64; 5] = [1, 4, 12, 26, 52];
pub const DEFAULT_WEEKS: i64 = 4;
/// Visit records per page of the visit list.
const VISITS_PAGE: i64 = 100;
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

fn week_label(t: &Tr, w: i64) -> &'static str {
    match w {
        1 => t.get("charts.weeks_1"),
        4 => t.get("charts.weeks_4"),
        12 => t.get("charts.weeks_12"),
        26 => t.get("charts.weeks_26"),
        _ => t.get("charts.weeks_52"),
    }
}

/// The name of a vital sign as the charts title it.
fn vital_name(t: &Tr, k: VitalKind) -> &'static str {
    match k {
        VitalKind::SystolicBp | VitalKind::DiastolicBp => t.get("charts.blood_pressure"),
        VitalKind::Pulse => t.get("vital.pulse"),
        VitalKind::Temperature => t.get("vital.temperature"),
        VitalKind::Spo2 => t.get("vital.spo2"),
        VitalKind::RespiratoryRate => t.get("vital.respiratory_rate"),
        VitalKind::Weight => t.get("vital.weight"),
        VitalKind::Glucose => t.get("vital.glucose"),
    }
}

/// Decimals a vital sign is shown with.
fn decimals(k: VitalKind) -> usize {
    match k {
        VitalKind::Temperature | VitalKind::Weight => 1,
        _ => 0,
    }
}

/// A measurement as written: its decimals, no more.
fn shown(k: VitalKind, v: f64) -> String {
    svg_chart::value(v, decimals(k))
}

// ---------------------------------------------------------------------------------------------
// Vital signs over time

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct VitalsQuery {
    weeks: String,
}

/// One row of a chart's table.
struct Row {
    when: String,
    value: String,
    /// Outside the normal band.
    out: bool,
}

/// One chart as the page shows it.
struct ChartView {
    id: String,
    title: String,
    /// The `<svg>`: built by `svg_chart`, which escapes every text it writes.
    svg: String,
    /// (name, CSS class) of each line, when there are several.
    legend: Vec<(String, &'static str)>,
    /// The normal band in words, if there is one.
    band: Option<String>,
    rows: Vec<Row>,
    /// "Values (n)", the table's summary line.
    table_label: String,
}

#[derive(Template)]
#[template(path = "vitals.html")]
struct VitalsPage {
    p: PageCtx,
    id: String,
    name: String,
    weeks: i64,
    choices: Vec<(i64, &'static str)>,
    charts: Vec<ChartView>,
    errors: FormErrors,
}

impl VitalsPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

/// `weeks` from the query: one of [`WEEKS`]; empty means the default; anything else is refused
/// (the page then shows the default period and says why next to the choice).
fn parse_weeks(s: &str) -> Result<i64, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(DEFAULT_WEEKS);
    }
    s.parse::<i64>()
        .ok()
        .filter(|w| WEEKS.contains(w))
        .ok_or_else(|| FieldError::new("weeks", "error.unknown_choice"))
}

/// The words a screen reader hears for a chart: the latest value and the period's range.
fn aria_label(t: &Tr, name: &str, unit: &str, series: &[(VitalKind, Vec<&VitalRow>)]) -> String {
    let count: usize = series.iter().map(|(_, r)| r.len()).sum();
    if count == 0 {
        return t.fmt("charts.aria_empty", &[("name", name)]);
    }
    // Blood pressure reads "132/84"; the others a single value.
    let latest: Vec<String> =
        series.iter().filter_map(|(k, rows)| rows.last().map(|r| shown(*k, r.value))).collect();
    let latest_at =
        series.iter().filter_map(|(_, rows)| rows.last().map(|r| r.measured_at)).max().unwrap_or(0);
    let lo: Vec<String> = series
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(k, rows)| shown(*k, rows.iter().map(|r| r.value).fold(f64::INFINITY, f64::min)))
        .collect();
    let hi: Vec<String> = series
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(k, rows)| shown(*k, rows.iter().map(|r| r.value).fold(f64::NEG_INFINITY, f64::max)))
        .collect();
    t.fmt(
        "charts.aria_latest",
        &[
            ("name", name),
            ("value", &latest.join("/")),
            ("unit", unit),
            ("date", &jst(latest_at)),
            ("min", &lo.join("/")),
            ("max", &hi.join("/")),
            ("count", &count.to_string()),
        ],
    )
}

/// The charts of a period: blood pressure (both pressures on one chart), then each other sign.
fn charts(t: &Tr, rows: &[VitalRow], from: i64, to: i64) -> Vec<ChartView> {
    let of = |k: VitalKind| -> Vec<&VitalRow> { rows.iter().filter(|r| r.kind == k.code()).collect() };
    let groups: Vec<Vec<VitalKind>> = vec![
        vec![VitalKind::SystolicBp, VitalKind::DiastolicBp],
        vec![VitalKind::Pulse],
        vec![VitalKind::Temperature],
        vec![VitalKind::Spo2],
        vec![VitalKind::RespiratoryRate],
        vec![VitalKind::Weight],
        vec![VitalKind::Glucose],
    ];
    let mut out = Vec::new();
    for kinds in groups {
        let first = kinds[0];
        let name = vital_name(t, first);
        let unit = first.display_unit();
        let series: Vec<(VitalKind, Vec<&VitalRow>)> = kinds.iter().map(|k| (*k, of(*k))).collect();
        let names: Vec<String> = if kinds.len() > 1 {
            vec![t.get("charts.systolic").to_string(), t.get("charts.diastolic").to_string()]
        } else {
            vec![name.to_string()]
        };
        let classes = ["s0", "s1"];
        let chart = Chart {
            id: format!("chart-{}", first.code()),
            title: name.to_string(),
            label: aria_label(t, name, unit, &series),
            unit: unit.to_string(),
            from,
            to,
            series: series
                .iter()
                .enumerate()
                .map(|(i, (k, rows))| Series {
                    name: names.get(i).cloned().unwrap_or_default(),
                    class: classes.get(i).copied().unwrap_or("s0"),
                    points: rows.iter().map(|r| (r.measured_at, r.value)).collect(),
                    band: k.normal_band(),
                })
                .collect(),
            empty_text: t.get("charts.empty").to_string(),
            decimals: decimals(first),
            limits: (
                kinds.iter().map(|k| k.range().0).fold(f64::INFINITY, f64::min),
                kinds.iter().map(|k| k.range().1).fold(f64::NEG_INFINITY, f64::max),
            ),
        };
        // The table: one row per measurement time; blood pressure pairs its two values.
        let mut times: Vec<i64> = series.iter().flat_map(|(_, r)| r.iter().map(|v| v.measured_at)).collect();
        times.sort_unstable();
        times.dedup();
        let rows: Vec<Row> = times
            .into_iter()
            .rev()
            .map(|at| {
                let parts: Vec<(String, bool)> = series
                    .iter()
                    .map(|(k, rows)| match rows.iter().find(|r| r.measured_at == at) {
                        Some(r) => (shown(*k, r.value), svg_chart::out_of_band(r.value, k.normal_band())),
                        None => ("—".to_string(), false),
                    })
                    .collect();
                Row {
                    when: jst(at),
                    value: parts.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join("/"),
                    out: parts.iter().any(|p| p.1),
                }
            })
            .collect();
        // The bands in words: "36.0〜37.5", or per line for blood pressure.
        let ranges: Vec<String> = kinds
            .iter()
            .zip(&names)
            .filter_map(|(k, name)| {
                let (lo, hi) = k.normal_band()?;
                let range = t.fmt("charts.between", &[("lo", &shown(*k, lo)), ("hi", &shown(*k, hi))]);
                Some(if kinds.len() > 1 { format!("{name} {range}") } else { range })
            })
            .collect();
        let band = (!ranges.is_empty()).then(|| {
            t.fmt("charts.range", &[("ranges", &ranges.join(t.get("charts.list_separator"))), ("unit", unit)])
        });
        out.push(ChartView {
            table_label: t.fmt("charts.table", &[("count", &rows.len().to_string())]),
            svg: svg_chart::render(&chart),
            id: chart.id,
            title: chart.title,
            legend: if kinds.len() > 1 { names.into_iter().zip(classes).collect() } else { Vec::new() },
            band,
            rows,
        });
    }
    out
}

pub async fn vitals(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<VitalsQuery>,
) -> Result<Response, WebError> {
    let t = a.page.t;
    let (weeks, errors) = match parse_weeks(&q.weeks) {
        Ok(w) => (w, Vec::new()),
        Err(e) => (DEFAULT_WEEKS, vec![(e.field.to_string(), t.error(&e))]),
    };
    let (o, rows) = s.app.vitals_series(&a.actor, &id, weeks).await?;
    let to = s.app.now().micros();
    let from = s.app.now().plus_seconds(-weeks * 7 * 86_400).micros();
    let refused = !errors.is_empty();
    let page = VitalsPage {
        id: o.patient.id.clone(),
        name: o.patient.name.clone(),
        weeks,
        choices: WEEKS.iter().map(|w| (*w, week_label(&t, *w))).collect(),
        charts: charts(&t, &rows, from, to),
        errors,
        p: a.page,
    };
    let mut r = render(&page)?;
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Past visits by profession

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct VisitsQuery {
    profession: String,
    /// `<created_at>_<id>` of the last record shown.
    before: String,
}

/// One visit record in the list.
struct Visit {
    id: String,
    when: String,
    author: String,
    org: Option<String>,
    body: String,
    visit: VisitData,
    corrected: bool,
    correction: bool,
}

/// The visits of one profession.
struct Group {
    profession: String,
    label: String,
    count_label: String,
    visits: Vec<Visit>,
}

#[derive(Template)]
#[template(path = "visits.html")]
struct VisitsPage {
    p: PageCtx,
    id: String,
    name: String,
    profession: String,
    professions: Vec<(&'static str, String)>,
    groups: Vec<Group>,
    older: Option<String>,
    errors: FormErrors,
}

impl VisitsPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

/// `<created_at>_<id>` → the cursor; anything else starts from the newest.
fn parse_cursor(s: &str) -> Option<(i64, String)> {
    let (at, id) = s.split_once('_')?;
    let at = at.parse().ok()?;
    let ok = !id.is_empty() && id.len() <= 40 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then(|| (at, id.to_string()))
}

/// Groups visit records by profession, in the order professions are listed everywhere, each
/// newest visit first.
fn groups(t: &Tr, views: &[EntryView]) -> Vec<Group> {
    let mut out = Vec::new();
    for p in Profession::ALL {
        let mut visits: Vec<(i64, Visit)> = views
            .iter()
            .filter(|v| v.entry.author_profession == p.code())
            .map(|v| {
                let e = &v.entry;
                let visit = v.visit.clone().unwrap_or_default();
                (
                    e.occurred_at,
                    Visit {
                        id: e.id.clone(),
                        when: jst(e.occurred_at),
                        author: v.author_name.clone(),
                        org: v.author_org.clone(),
                        body: e.body.clone(),
                        visit,
                        corrected: v.corrected_by.is_some(),
                        correction: e.corrects_id.is_some(),
                    },
                )
            })
            .collect();
        if visits.is_empty() {
            continue;
        }
        visits.sort_by_key(|v| std::cmp::Reverse(v.0));
        out.push(Group {
            profession: p.code().to_string(),
            label: t.label("profession", p.code()),
            count_label: t.fmt("charts.count", &[("count", &visits.len().to_string())]),
            visits: visits.into_iter().map(|v| v.1).collect(),
        });
    }
    out
}

pub async fn visits(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<VisitsQuery>,
) -> Result<Response, WebError> {
    let t = a.page.t;
    let mut errors = Vec::new();
    let profession = match q.profession.trim() {
        "" => None,
        code => match Profession::from_code(code) {
            Some(p) => Some(p.code().to_string()),
            None => {
                let e = FieldError::new("profession", "error.unknown_choice");
                errors.push((e.field.to_string(), t.error(&e)));
                None
            }
        },
    };
    let filter = EntryFilter {
        kind: Some(EntryKind::Visit.code().to_string()),
        profession: profession.clone(),
        before: parse_cursor(&q.before),
        limit: VISITS_PAGE,
        ..Default::default()
    };
    let (o, views) = s.app.timeline(&a.actor, &id, filter).await?;
    let pid = o.patient.id.clone();
    let older = (views.len() as i64 >= VISITS_PAGE).then(|| views.last()).flatten().map(|last| {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        if let Some(p) = &profession {
            qs.append_pair("profession", p);
        }
        qs.append_pair("before", &format!("{}_{}", last.entry.created_at, last.entry.id));
        format!("/patients/{pid}/visits?{}", qs.finish())
    });
    let refused = !errors.is_empty();
    let page = VisitsPage {
        id: pid,
        name: o.patient.name.clone(),
        profession: profession.unwrap_or_default(),
        professions: Profession::ALL.iter().map(|p| (p.code(), p.label_key())).collect(),
        groups: groups(&t, &views),
        older,
        errors,
        p: a.page,
    };
    let mut r = render(&page)?;
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Live updates (server-sent events)

/// The patient's timeline as a stream of server-sent events: `entry` (data: the entry's HTML as
/// the patient page renders it, id: the entry's id) for each new or changed entry, `resync`
/// when this connection fell behind and the page should reload. The stream ends when the
/// person's access ends (consent withdrawn, removed from the team, session over) or the server
/// stops. Non-members get the 404 page, like for a patient who does not exist.
pub async fn live(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let sub = s.app.subscribe(&a.actor, &id).await?;
    let viewer = a.actor.user_id.clone();
    let page = a.page;
    let stream = futures_util::stream::unfold(sub, move |mut sub| {
        let page = page.clone();
        let viewer = viewer.clone();
        async move {
            let event = match sub.next().await? {
                LiveUpdate::Entry(v) => {
                    let entry_id = v.entry.id.clone();
                    let pid = sub.patient_id().to_string();
                    match crate::pages::patients::entry_html(page, *v, &viewer, &pid) {
                        Ok(html) => Event::default().event("entry").id(entry_id).data(html),
                        Err(e) => {
                            tracing::error!(error = ?e.0, "rendering a live entry");
                            return None;
                        }
                    }
                }
                LiveUpdate::Resync => Event::default().event("resync").data("resync"),
            };
            Some((Ok::<_, Infallible>(event), sub))
        }
    });
    let mut r =
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response();
    let h = r.headers_mut();
    // Patient data: never stored by a cache (like every page); and not held back by a proxy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_offered_periods_are_accepted() {
        assert_eq!(parse_weeks(""), Ok(4));
        assert_eq!(parse_weeks("12"), Ok(12));
        assert_eq!(parse_weeks(" 52 "), Ok(52));
        for bad in ["3", "0", "-4", "abc", "1000000000000000000000"] {
            assert_eq!(parse_weeks(bad).unwrap_err().code, "error.unknown_choice", "{bad}");
        }
    }

    #[test]
    fn the_visit_cursor_is_created_at_and_an_id() {
        assert_eq!(parse_cursor("12_ab-01"), Some((12, "ab-01".into())));
        assert_eq!(parse_cursor("12_"), None);
        assert_eq!(parse_cursor("x_ab"), None);
        assert_eq!(parse_cursor("12_a'b"), None);
    }
}
