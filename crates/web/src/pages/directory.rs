//! The regional resource directory as residents and professionals find their way in it: the
//! search (text, filters, near a point or a patient's home, with a map), a provider's page, and
//! "which center serves my district?". Everything here works without logging in; what only
//! professionals may see is removed by the app layer before it reaches a template.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use tsunagu_app::AppError;
use tsunagu_app::directory::hours::ConsultationSummary;
use tsunagu_app::directory::vacancies::VacancyBoard;
use tsunagu_app::directory::{
    CenterEntry, ProviderListing, ProviderView, SearchInput, SearchResults, is_professional, match_districts,
};
use tsunagu_domain::FieldError;
use tsunagu_domain::directory::{
    Accepting, Capability, ContactMethod, GeoPoint, MedicalDepartment, ServiceKind,
};
use tsunagu_domain::org::OrgKind;

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{PageCtx, Visitor};

fn unprocessable(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// One option of a select or one checkbox.
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// An `<optgroup>`.
pub(crate) struct Group {
    pub label: String,
    pub options: Vec<Choice>,
}

fn choices<T: Copy>(
    all: &[T],
    code: impl Fn(T) -> &'static str,
    t: &Tr,
    prefix: &str,
    chosen: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|x| {
            let c = code(*x);
            Choice { value: c.to_string(), label: t.label(prefix, c), selected: chosen.trim() == c }
        })
        .collect()
}

/// A number of kilometres as people write it: at most one decimal, no trailing zero.
fn km(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// A phone number for a `tel:` link: digits and `+` only.
fn tel(phone: &str) -> String {
    tsunagu_domain::text::fold(phone).chars().filter(|c| c.is_ascii_digit() || *c == '+').collect()
}

/// A web site worth linking: http(s) only, never `javascript:` and the like.
fn web_link(url: &str) -> Option<String> {
    let u = url.trim();
    let lower = u.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| u.to_string())
}

/// The districts of the region grouped by the center that serves them (a branch serves its
/// parent's districts and has none of its own).
fn district_groups(centers: &[CenterEntry], chosen: &str) -> Vec<Group> {
    centers
        .iter()
        .filter(|c| !c.districts.is_empty())
        .map(|c| Group {
            label: if c.org.jurisdiction.is_empty() {
                c.org.name.clone()
            } else {
                format!("{}（{}）", c.org.name, c.org.jurisdiction)
            },
            options: c
                .districts
                .iter()
                .map(|d| Choice { value: d.clone(), label: d.clone(), selected: chosen.trim() == d })
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The search

/// A provider in the result list.
struct Listing {
    id: String,
    name: String,
    kana: String,
    kind: String,
    address: String,
    phone: String,
    tel: String,
    distance: Option<String>,
    capabilities: Vec<String>,
    /// `yes`, `no` or `unknown`, and its label.
    accepting: (String, String),
    /// (latitude, longitude) for the map.
    point: Option<(String, String)>,
}

fn listing(t: &Tr, l: ProviderListing) -> Listing {
    let r = l.row;
    let accepting = Accepting::from_code(&r.accepting).unwrap_or(Accepting::Unknown);
    Listing {
        kind: t.label("org_kind", &r.kind),
        address: [r.address.as_str(), r.address_extra.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        tel: tel(&r.phone),
        distance: l.distance_km.map(|d| t.fmt("directory.distance", &[("km", &km(d))])),
        capabilities: l.codes.capabilities.iter().map(|c| t.label("capability", c)).collect(),
        accepting: (accepting.code().to_string(), t.get(&accepting.label_key()).to_string()),
        point: r.latitude.zip(r.longitude).map(|(a, b)| (a.to_string(), b.to_string())),
        id: r.id,
        name: r.name,
        kana: r.name_kana,
        phone: r.phone,
    }
}

#[derive(Template)]
#[template(path = "directory/search.html")]
struct SearchPage {
    p: PageCtx,
    form: SearchInput,
    errors: FormErrors,
    /// The viewer may filter by consultation hours and search near their patients.
    professional: bool,
    kinds: Vec<Choice>,
    services: Vec<Choice>,
    departments: Vec<Choice>,
    capabilities: Vec<Choice>,
    district_groups: Vec<Group>,
    centers: Vec<Choice>,
    /// The viewer's patients (active memberships), for "near my patient".
    patients: Vec<Choice>,
    /// Whether a search was made (and answered).
    searched: bool,
    results: Vec<Listing>,
    summary: String,
    prev: Option<String>,
    next: Option<String>,
    page_label: String,
    /// The "more filters" part is open: one of its filters is set or refused.
    more_open: bool,
    map_tiles: String,
    map_attribution: String,
    /// `lat,lon,km` of a radius search.
    map_circle: String,
}

impl SearchPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

/// The query string of a search on another page.
fn query_for_page(q: &SearchInput, page: i64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    let pairs = [
        ("q", &q.q),
        ("kind", &q.kind),
        ("service", &q.service),
        ("department", &q.department),
        ("district", &q.district),
        ("center", &q.center),
        ("accepting", &q.accepting),
        ("consult_now", &q.consult_now),
        ("vacancy_on", &q.vacancy_on),
        ("near", &q.near),
        ("near_patient", &q.near_patient),
        ("radius", &q.radius),
    ];
    for (k, v) in pairs {
        if !v.trim().is_empty() {
            s.append_pair(k, v);
        }
    }
    for c in q.capability.iter().filter(|c| !c.trim().is_empty()) {
        s.append_pair("capability", c);
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    s.finish()
}

pub async fn search(
    State(s): State<WebState>,
    v: Visitor,
    Form(form): Form<SearchInput>,
) -> Result<Response, WebError> {
    let t = v.page.t;
    let viewer = v.actor.as_ref();
    let professional = is_professional(viewer);
    let (answer, errors) = if form.is_empty() {
        (None, Vec::new())
    } else {
        match s.app.search_providers(viewer, &form).await {
            Ok(r) => (Some(r), Vec::new()),
            Err(e @ AppError::Invalid(_)) => (None, form_errors(&t, e)?),
            Err(e) => return Err(WebError(e)),
        }
    };
    let centers = s.app.center_finder().await?;
    let patients = match viewer {
        Some(a) if professional => s
            .app
            .my_patients(a)
            .await?
            .into_iter()
            .filter(|m| m.status == "active")
            .map(|m| Choice { selected: form.near_patient.trim() == m.id, value: m.id, label: m.name })
            .collect(),
        _ => Vec::new(),
    };
    let invalid = !errors.is_empty();
    let (searched, results, summary, prev, next, page_label, map_circle) = match answer {
        Some(SearchResults { items, total, page, pages, origin }) => {
            let n = total.to_string();
            let summary = match origin {
                Some((point, r)) => t.fmt(
                    "directory.count_near",
                    &[("n", &n), ("km", &km(r)), ("point", &format!("{:.5},{:.5}", point.lat, point.lon))],
                ),
                None => t.fmt("directory.count", &[("n", &n)]),
            };
            let link = |p: i64| format!("/directory?{}#results-head", query_for_page(&form, p));
            (
                true,
                items.into_iter().map(|l| listing(&t, l)).collect(),
                summary,
                (page > 1).then(|| link(page - 1)),
                (page < pages).then(|| link(page + 1)),
                t.fmt("directory.page_of", &[("page", &page.to_string()), ("pages", &pages.to_string())]),
                origin.map(|(pt, r)| format!("{},{},{}", pt.lat, pt.lon, r)).unwrap_or_default(),
            )
        }
        None => (false, Vec::new(), String::new(), None, None, String::new(), String::new()),
    };
    let more_fields = ["service", "department", "capability", "accepting", "consult_now", "vacancy_on"];
    let more_open = errors.iter().any(|(f, _)| more_fields.contains(&f.as_str()))
        || [&form.service, &form.department, &form.accepting, &form.consult_now, &form.vacancy_on]
            .iter()
            .any(|x| !x.trim().is_empty())
        || form.capability.iter().any(|c| !c.trim().is_empty());
    let page = SearchPage {
        professional,
        kinds: choices(OrgKind::ALL, OrgKind::code, &t, "org_kind", &form.kind),
        services: choices(ServiceKind::ALL, ServiceKind::code, &t, "service_kind", &form.service),
        departments: choices(
            MedicalDepartment::ALL,
            MedicalDepartment::code,
            &t,
            "medical_department",
            &form.department,
        ),
        capabilities: Capability::ALL
            .iter()
            .map(|c| Choice {
                value: c.code().to_string(),
                label: t.label("capability", c.code()),
                selected: form.capability.iter().any(|x| x.trim() == c.code()),
            })
            .collect(),
        district_groups: district_groups(&centers, &form.district),
        centers: centers
            .iter()
            .filter(|c| !c.districts.is_empty())
            .map(|c| Choice {
                value: c.org.id.clone(),
                label: c.org.name.clone(),
                selected: form.center.trim() == c.org.id,
            })
            .collect(),
        patients,
        searched,
        results,
        summary,
        prev,
        next,
        page_label,
        more_open,
        map_tiles: s.config.map_tile_url.clone(),
        map_attribution: s.config.map_attribution.clone(),
        map_circle,
        p: v.page,
        form,
        errors,
    };
    let r = render(&page)?;
    Ok(if invalid { unprocessable(r) } else { r })
}

// ---------------------------------------------------------------------------------------------
// A provider's page

/// What only professionals see: how to reach the provider.
struct Contact {
    line: String,
    tel: String,
    person: String,
    method: Option<String>,
    hours: String,
}

impl Contact {
    fn is_empty(&self) -> bool {
        self.line.is_empty() && self.person.is_empty() && self.method.is_none() && self.hours.is_empty()
    }
}

#[derive(Template)]
#[template(path = "directory/provider.html")]
struct ProviderPage {
    p: PageCtx,
    id: String,
    name: String,
    kana: String,
    kind: String,
    emergency_hospital: bool,
    postal_code: String,
    address: String,
    address_extra: String,
    district: Option<String>,
    /// (id, name) of the support center serving the district.
    center: Option<(String, String)>,
    phone: String,
    tel: String,
    fax: String,
    website: Option<String>,
    /// (code, label)
    accepting: (String, String),
    services: Vec<String>,
    departments: Vec<String>,
    capabilities: Vec<String>,
    capacity: Option<String>,
    open_days: String,
    open_days_note: String,
    description: String,
    /// `None` for anyone but a professional: not even its heading is shown.
    contact: Option<Contact>,
    can_edit: bool,
    needs_confirmation: bool,
    point: Option<(String, String)>,
    map_tiles: String,
    map_attribution: String,
    /// A short-stay facility's vacancy board (the partial `directory/_vacancies.html`).
    vacancies: Option<VacancyBoard>,
    /// Physician consultation hours, professionals only (the partial `directory/_hours.html`).
    hours: Option<ConsultationSummary>,
}

fn provider_page(
    s: &WebState,
    page: PageCtx,
    v: ProviderView,
    vacancies: Option<VacancyBoard>,
    hours: Option<ConsultationSummary>,
) -> ProviderPage {
    let t = page.t;
    let r = v.row;
    let accepting = Accepting::from_code(&r.accepting).unwrap_or(Accepting::Unknown);
    let contact = v.professional.then(|| Contact {
        tel: tel(&r.contact_line),
        line: r.contact_line.clone(),
        person: r.contact_person.clone(),
        method: ContactMethod::from_code(&r.contact_method).map(|m| t.get(&m.label_key()).to_string()),
        hours: r.contact_hours.clone(),
    });
    ProviderPage {
        kind: t.label("org_kind", &r.kind),
        emergency_hospital: r.is_emergency_hospital,
        tel: tel(&r.phone),
        website: web_link(&r.website),
        accepting: (accepting.code().to_string(), t.get(&accepting.label_key()).to_string()),
        services: v.codes.services.iter().map(|c| t.label("service_kind", c)).collect(),
        departments: v.codes.departments.iter().map(|c| t.label("medical_department", c)).collect(),
        capabilities: v.codes.capabilities.iter().map(|c| t.label("capability", c)).collect(),
        capacity: r.capacity.map(|n| t.fmt("directory.capacity_value", &[("n", &n.to_string())])),
        center: v.center.map(|c| (c.id, c.name)),
        contact,
        can_edit: v.can_edit,
        needs_confirmation: v.needs_confirmation && v.can_edit,
        point: r.latitude.zip(r.longitude).map(|(a, b)| (a.to_string(), b.to_string())),
        map_tiles: s.config.map_tile_url.clone(),
        map_attribution: s.config.map_attribution.clone(),
        vacancies,
        hours,
        p: page,
        id: r.id,
        name: r.name,
        kana: r.name_kana,
        postal_code: r.postal_code,
        address: r.address,
        address_extra: r.address_extra,
        district: r.district,
        phone: r.phone,
        fax: r.fax,
        open_days: r.open_days,
        open_days_note: r.open_days_note,
        description: r.description,
    }
}

pub async fn provider(
    State(s): State<WebState>,
    v: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let viewer = v.actor.as_ref();
    let view = s.app.provider_view(viewer, &id).await?;
    let vacancies = s.app.vacancy_board(viewer, &view.row.id).await?;
    let hours = s.app.consultation_summary(viewer, &view.row.id).await?;
    render(&provider_page(&s, v.page, view, vacancies, hours))
}

// ---------------------------------------------------------------------------------------------
// Which center serves my district?

/// A support center or branch as the finder lists it.
struct CenterView {
    id: String,
    name: String,
    /// 「所管：元町」
    jurisdiction: Option<String>,
    address: String,
    phone: String,
    tel: String,
    districts: String,
    /// A branch: 「…のブランチ」.
    branch_of: Option<String>,
    point: Option<(String, String)>,
}

fn center_view(t: &Tr, c: &CenterEntry) -> CenterView {
    CenterView {
        id: c.org.id.clone(),
        name: c.org.name.clone(),
        jurisdiction: (!c.org.jurisdiction.is_empty())
            .then(|| t.fmt("directory.centers_jurisdiction", &[("name", &c.org.jurisdiction)])),
        address: c.org.address.clone(),
        phone: c.org.phone.clone(),
        tel: tel(&c.org.phone),
        districts: c.districts.join("、"),
        branch_of: c.parent_name.as_ref().map(|n| t.fmt("directory.centers_branch_of", &[("center", n)])),
        point: c.location.map(|GeoPoint { lat, lon }| (lat.to_string(), lon.to_string())),
    }
}

/// The answer: the district and its center (with the center's branches).
struct Answer {
    district: String,
    /// 「犀川の担当は」
    heading: String,
    center: CenterView,
    branches: Vec<CenterView>,
}

#[derive(Template)]
#[template(path = "directory/centers.html")]
struct CentersPage {
    p: PageCtx,
    groups: Vec<Group>,
    q: String,
    errors: FormErrors,
    answer: Option<Answer>,
    /// Several districts match the text typed.
    candidates: Vec<String>,
    /// The text matched no district.
    no_match: Option<String>,
    centers: Vec<CenterView>,
    show_map: bool,
    map_markers: String,
    map_tiles: String,
    map_attribution: String,
}

impl CentersPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CentersQuery {
    district: String,
    q: String,
}

pub async fn centers(
    State(s): State<WebState>,
    v: Visitor,
    Form(query): Form<CentersQuery>,
) -> Result<Response, WebError> {
    let t = v.page.t;
    let all = s.app.center_finder().await?;
    let every_district: Vec<String> = all.iter().flat_map(|c| c.districts.iter().cloned()).collect();
    let mut errors: FormErrors = Vec::new();
    let mut candidates = Vec::new();
    let mut no_match = None;
    let chosen = if !query.district.trim().is_empty() {
        let d = query.district.trim();
        if every_district.iter().any(|x| x == d) {
            Some(d.to_string())
        } else {
            let e = FieldError::new("district", "error.unknown_district");
            errors.push(("district".to_string(), t.error(&e)));
            None
        }
    } else if !query.q.trim().is_empty() {
        if query.q.chars().count() > 100 {
            let e = FieldError::with_limit("q", "error.too_long", 100);
            errors.push(("q".to_string(), t.error(&e)));
            None
        } else {
            let mut found = match_districts(&query.q, &every_district);
            match found.len() {
                0 => {
                    no_match = Some(t.fmt("directory.centers_no_match", &[("q", query.q.trim())]));
                    None
                }
                1 => found.pop(),
                _ => {
                    candidates = found;
                    None
                }
            }
        }
    } else {
        None
    };
    let answer = chosen.and_then(|d| {
        let c = all.iter().find(|c| c.districts.contains(&d))?;
        Some(Answer {
            heading: t.fmt("directory.centers_answer", &[("district", &d)]),
            center: center_view(&t, c),
            branches: all
                .iter()
                .filter(|b| b.org.parent_id.as_deref() == Some(&c.org.id))
                .map(|b| center_view(&t, b))
                .collect(),
            district: d,
        })
    });
    let centers: Vec<CenterView> = all.iter().map(|c| center_view(&t, c)).collect();
    let (show_map, map_markers) = match &answer {
        Some(a) => {
            (a.center.point.is_some() || a.branches.iter().any(|b| b.point.is_some()), "#answer".to_string())
        }
        None => (centers.iter().any(|c| c.point.is_some()), "#all-centers".to_string()),
    };
    let invalid = !errors.is_empty();
    let r = render(&CentersPage {
        groups: district_groups(
            &all,
            answer.as_ref().map(|a| a.district.as_str()).unwrap_or(&query.district),
        ),
        q: query.q,
        errors,
        answer,
        candidates,
        no_match,
        centers,
        show_map,
        map_markers,
        map_tiles: s.config.map_tile_url.clone(),
        map_attribution: s.config.map_attribution.clone(),
        p: v.page,
    })?;
    Ok(if invalid { unprocessable(r) } else { r })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kilometres_show_one_decimal_at_most() {
        assert_eq!(km(5.0), "5");
        assert_eq!(km(4.94), "4.9");
        assert_eq!(km(0.25), "0.2");
        assert_eq!(km(12.5), "12.5");
    }

    #[test]
    fn phone_links_keep_digits_only() {
        assert_eq!(tel("076-241-3300"), "0762413300");
        assert_eq!(tel("０７６（２４１）３３００"), "0762413300");
        assert_eq!(tel("+81 76 241 3300"), "+81762413300");
    }

    #[test]
    fn only_web_sites_are_linked() {
        assert_eq!(web_link(" https://example.jp/ ").as_deref(), Some("https://example.jp/"));
        assert_eq!(web_link("javascript:alert(1)"), None);
        assert_eq!(web_link("example.jp"), None);
    }

    #[test]
    fn paging_links_keep_the_whole_query() {
        let q = SearchInput {
            q: "金沢 病院".into(),
            capability: vec!["house_calls".into(), "end_of_life".into()],
            near: "36.5,136.6".into(),
            page: "3".into(),
            ..Default::default()
        };
        let s = query_for_page(&q, 2);
        assert_eq!(
            s,
            "q=%E9%87%91%E6%B2%A2+%E7%97%85%E9%99%A2&near=36.5%2C136.6&capability=house_calls\
             &capability=end_of_life&page=2"
        );
        assert!(!query_for_page(&q, 1).contains("page="));
    }
}
