//! The regional resource directory: providers (organisations with their directory fields),
//! what they offer, search, and the change log. Consultation hours and vacancies live in the
//! submodules.

use crate::writer::Val;
use crate::{Backend, Result, Store, StoreError, Tx, exec_tx, on_tx, read};

pub mod bulk;
pub mod hours;
pub mod upkeep;
pub mod vacancies;

/// An organisation as the directory sees it: every column of `organisations` but `codes`, the
/// copy of its code sets the database keeps (migration 0010; see [`ProviderCodes`]).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub name_kana: String,
    pub parent_id: Option<String>,
    pub city_no: Option<String>,
    pub address: String,
    pub phone: String,
    pub jurisdiction: String,
    pub operator_name: String,
    pub is_emergency_hospital: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub postal_code: String,
    pub address_extra: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub district: Option<String>,
    pub fax: String,
    pub website: String,
    pub corporate_number: String,
    pub office_no: Option<String>,
    pub capacity: Option<i64>,
    pub open_days: String,
    pub open_days_note: String,
    pub accepting: String,
    pub description: String,
    pub contact_line: String,
    pub contact_person: String,
    pub contact_method: String,
    pub contact_hours: String,
    pub consult_on_holidays: bool,
    pub search_text: String,
    pub confirmed_at: Option<i64>,
    pub version: i64,
    pub manual_fields: String,
}

pub(crate) const PROVIDER_COLUMNS: &str = "id, kind, name, name_kana, parent_id, city_no, address, phone, \
     jurisdiction, operator_name, is_emergency_hospital, created_at, updated_at, postal_code, \
     address_extra, latitude, longitude, district, fax, website, corporate_number, office_no, capacity, \
     open_days, open_days_note, accepting, description, contact_line, contact_person, contact_method, \
     contact_hours, consult_on_holidays, search_text, confirmed_at, version, manual_fields";

/// What a search needs of a provider before it pages: where it is and the text the app checks
/// (name, kana, address). A search reads these for every match and the whole row only for the
/// page it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderPoint {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// The columns of a [`ProviderPoint`] in a JSON array. The coordinates go as text that reads
/// back as the same `f64`: SQLite writes a real in JSON with 15 digits, which does not always
/// round-trip, and `%!.17g` does; PostgreSQL's text of a `double precision` is exact.
const POINT_COLUMNS_SQLITE: &str = "o.id, o.name, o.name_kana, o.address, \
     iif(o.latitude is null, null, printf('%!.17g', o.latitude)), \
     iif(o.longitude is null, null, printf('%!.17g', o.longitude))";
const POINT_COLUMNS_POSTGRES: &str =
    "o.id, o.name, o.name_kana, o.address, o.latitude::text, o.longitude::text";

/// Values per `in (…)` list.
const IN_LIST: usize = 500;

/// A provider row with its codes as the provider carries them ([`Store::providers_with_codes`]).
#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    row: ProviderRow,
    codes: String,
}

/// The three code sets a provider has: care services, medical departments, capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSet {
    Services,
    Departments,
    Capabilities,
}

impl CodeSet {
    fn table(self) -> &'static str {
        match self {
            CodeSet::Services => "org_services",
            CodeSet::Departments => "org_departments",
            CodeSet::Capabilities => "org_capabilities",
        }
    }

    fn column(self) -> &'static str {
        match self {
            CodeSet::Services => "service",
            CodeSet::Departments => "department",
            CodeSet::Capabilities => "capability",
        }
    }
}

/// A provider's codes, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderCodes {
    pub services: Vec<String>,
    pub departments: Vec<String>,
    pub capabilities: Vec<String>,
}

impl ProviderCodes {
    /// The codes of a provider's `codes` text (" service:… department:… capability:… ", in any
    /// order), each list sorted.
    fn from_text(codes: &str) -> Self {
        let mut out = ProviderCodes::default();
        for code in codes.split_whitespace() {
            let (list, code) = match code.split_once(':') {
                Some(("service", c)) => (&mut out.services, c),
                Some(("department", c)) => (&mut out.departments, c),
                Some(("capability", c)) => (&mut out.capabilities, c),
                _ => continue,
            };
            list.push(code.to_string());
        }
        for list in [&mut out.services, &mut out.departments, &mut out.capabilities] {
            list.sort_unstable();
        }
        out
    }
}

/// One change of a directory entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrgChangeRow {
    pub id: String,
    pub organisation_id: String,
    /// `None`: the open-data importer.
    pub changed_by: Option<String>,
    pub changed_at: i64,
    /// `edit`, `confirm`, `import`, `hours`.
    pub source: String,
    /// JSON: `[{"field": …, "old": …, "new": …}]`.
    pub changes: String,
}

/// "Consultation possible at": a day in Asia/Tokyo, its weekday (0 = Monday), the minute of
/// the day, and whether it is a Japanese public holiday. Mirrors
/// `tsunagu_domain::schedule` (a contract test holds the two together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultAt {
    pub day: String,
    pub weekday: i64,
    pub minute: i64,
    pub holiday: bool,
}

/// "A free bed on this day", counting only figures confirmed at or after `fresh_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacancyOn {
    pub day: String,
    pub fresh_after: i64,
}

/// A directory search. Every filter given must hold; terms are folded text
/// (`domain::directory::query_terms`) each of which must occur in `search_text`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderQuery {
    pub terms: Vec<String>,
    pub kinds: Vec<String>,
    pub service: Option<String>,
    pub department: Option<String>,
    pub capabilities: Vec<String>,
    /// `Some`: the provider's district must be one of these (a district or a center's area).
    pub districts: Option<Vec<String>>,
    pub accepting_only: bool,
    /// `(min_lat, max_lat, min_lon, max_lon)`: only providers with coordinates inside.
    pub bbox: Option<(f64, f64, f64, f64)>,
    pub consult_at: Option<ConsultAt>,
    pub vacancy_on: Option<VacancyOn>,
    /// `None`: every match (a radius search sorts by distance in the app).
    pub limit: Option<i64>,
    pub offset: i64,
}

impl ProviderQuery {
    /// The `where` clause and its parameters, numbered from `$1`.
    fn clause(&self, backend: Backend) -> (String, Vec<Val>) {
        let mut w: Vec<String> = Vec::new();
        let mut p: Vec<Val> = Vec::new();
        let next = |p: &mut Vec<Val>, v: Val| {
            p.push(v);
            format!("${}", p.len())
        };
        // The box first: SQLite checks the terms in this order, and the box (in the index)
        // rules out most rows before the text and the capabilities are looked at.
        if let Some((a, b, c, d)) = self.bbox {
            let (a, b, c, d) = (
                next(&mut p, Val::Real(a)),
                next(&mut p, Val::Real(b)),
                next(&mut p, Val::Real(c)),
                next(&mut p, Val::Real(d)),
            );
            w.push(format!("o.latitude between {a} and {b} and o.longitude between {c} and {d}"));
        }
        // A term is found anywhere in the folded text (both sides folded alike, lower case
        // included). Not `like '%…%'`: SQLite prepares a statement again whenever a `like`
        // pattern is bound (for its prefix optimisation), and its pattern matcher is slower
        // than a substring search (8% of a directory search's CPU, issue 6).
        let position = match backend {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        for t in &self.terms {
            let n = next(&mut p, Val::Text(t.clone()));
            w.push(format!("{position}(o.search_text, {n}) > 0"));
        }
        if !self.kinds.is_empty() {
            let ns: Vec<String> = self.kinds.iter().map(|k| next(&mut p, Val::Text(k.clone()))).collect();
            w.push(format!("o.kind in ({})", ns.join(", ")));
        }
        // The codes are checked in the provider's own `codes` text (" service:… capability:… ",
        // kept by triggers on the code tables, migration 0010), which the geographic indexes
        // carry: no probe of another table per provider in the box.
        let codes = self
            .service
            .iter()
            .map(|s| ("service", s))
            .chain(self.department.iter().map(|d| ("department", d)))
            .chain(self.capabilities.iter().map(|c| ("capability", c)));
        for (set, code) in codes {
            // A code has no space; a value with one (an unknown code from the API) is no code,
            // and must not match across two of a provider's codes.
            if code.is_empty() || code.chars().any(char::is_whitespace) {
                w.push("1 = 0".to_string());
                continue;
            }
            let n = next(&mut p, Val::Text(format!(" {set}:{code} ")));
            w.push(format!("{position}(o.codes, {n}) > 0"));
        }
        if let Some(ds) = &self.districts {
            if ds.is_empty() {
                w.push("1 = 0".to_string());
            } else {
                let ns: Vec<String> = ds.iter().map(|d| next(&mut p, Val::Text(d.clone()))).collect();
                w.push(format!("o.district in ({})", ns.join(", ")));
            }
        }
        if self.accepting_only {
            w.push("o.accepting = 'yes'".to_string());
        }
        if let Some(at) = &self.consult_at {
            let day = next(&mut p, Val::Text(at.day.clone()));
            let minute = next(&mut p, Val::Int(at.minute));
            let weekday = next(&mut p, Val::Int(at.weekday));
            let holiday = if at.holiday { " and o.consult_on_holidays = true" } else { "" };
            // A day with exceptions follows them alone; otherwise the weekly hours hold, on a
            // public holiday only where the provider says so.
            w.push(format!(
                "(exists (select 1 from consultation_exceptions e where e.organisation_id = o.id \
                   and e.day = {day} and e.closed = false and e.start_minute <= {minute} \
                   and e.end_minute > {minute}) \
                 or (not exists (select 1 from consultation_exceptions e where e.organisation_id = o.id \
                   and e.day = {day}){holiday} \
                   and exists (select 1 from consultation_hours h where h.organisation_id = o.id \
                   and h.weekday = {weekday} and h.start_minute <= {minute} and h.end_minute > {minute})))"
            ));
        }
        if let Some(v) = &self.vacancy_on {
            let day = next(&mut p, Val::Text(v.day.clone()));
            let fresh = next(&mut p, Val::Int(v.fresh_after));
            w.push(format!(
                "exists (select 1 from vacancies v where v.organisation_id = o.id and v.day = {day} \
                 and v.free_beds > 0 and v.confirmed_at >= {fresh})"
            ));
        }
        let clause = if w.is_empty() { String::new() } else { format!(" where {}", w.join(" and ")) };
        (clause, p)
    }
}

/// The statement of [`Store::search_provider_points`]: every match's point and text as one
/// JSON array, read from the index alone when the search has a box (migration 0009).
fn points_sql(backend: Backend, q: &ProviderQuery) -> (String, Vec<Val>) {
    let (clause, params) = q.clause(backend);
    let order = if q.bbox.is_some() { "" } else { " order by o.name_kana, o.name, o.id" };
    let sql = match backend {
        Backend::Sqlite => format!(
            "select json_group_array(json_array({POINT_COLUMNS_SQLITE}){order}) from organisations o{clause}"
        ),
        Backend::Postgres => format!(
            "select json_agg(json_build_array({POINT_COLUMNS_POSTGRES}){order})::text \
             from organisations o{clause}"
        ),
    };
    (sql, params)
}

fn prefixed(columns: &str, prefix: &str) -> String {
    columns.split(", ").map(|c| format!("{prefix}.{c}")).collect::<Vec<_>>().join(", ")
}

impl Store {
    pub async fn provider(&self, id: &str) -> Result<Option<ProviderRow>> {
        let sql = format!("select {PROVIDER_COLUMNS} from organisations where id = $1");
        Ok(read!(self, |c| sqlx::query_as::<_, ProviderRow>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// Providers matching a query, by kana reading and name (a radius search re-sorts them by
    /// distance).
    pub async fn search_providers(&self, q: &ProviderQuery) -> Result<Vec<ProviderRow>> {
        let (clause, params) = q.clause(self.backend());
        let mut sql = format!(
            "select {} from organisations o{clause} order by o.name_kana, o.name, o.id",
            prefixed(PROVIDER_COLUMNS, "o")
        );
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" limit {} offset {}", limit.max(0), q.offset.max(0)));
        }
        Ok(read!(self, |c| {
            let mut q = sqlx::query_as::<_, ProviderRow>(&sql);
            crate::bind_vals!(q, params.iter().cloned());
            q.fetch_all(c).await
        })?)
    }

    /// The points of the providers matching a query (paging ignored): by kana reading and name,
    /// or in no particular order when the query has a box (a radius search sorts by distance).
    ///
    /// All of them come back as one JSON array in one row: SQLite's driver hands every result
    /// row from its worker thread to the async side on its own (measured on 200,000 providers:
    /// 131 points as rows 1.0–2.0 ms, as one JSON row 0.9–1.2 ms), and a search around a city
    /// centre has hundreds of matches. The aggregate is the one dialect difference.
    pub async fn search_provider_points(&self, q: &ProviderQuery) -> Result<Vec<ProviderPoint>> {
        let (sql, params) = points_sql(self.backend(), q);
        let (json,): (Option<String>,) = read!(self, |c| {
            let mut q = sqlx::query_as::<_, (Option<String>,)>(&sql);
            crate::bind_vals!(q, params.iter().cloned());
            q.fetch_one(c).await
        })?;
        type Point = (String, String, String, String, Option<String>, Option<String>);
        let decode =
            |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Database(sqlx::Error::Decode(e));
        let points: Vec<Point> = match json {
            Some(j) => serde_json::from_str(&j).map_err(|e| decode(Box::new(e)))?,
            None => Vec::new(),
        };
        let real =
            |v: Option<String>| v.map(|s| s.parse::<f64>()).transpose().map_err(|e| decode(Box::new(e)));
        points
            .into_iter()
            .map(|(id, name, name_kana, address, latitude, longitude)| {
                Ok(ProviderPoint {
                    id,
                    name,
                    name_kana,
                    address,
                    latitude: real(latitude)?,
                    longitude: real(longitude)?,
                })
            })
            .collect()
    }

    /// Whole rows of providers with their codes, in the order of `ids` (an unknown id is left
    /// out): one statement for a page of results. The codes come from the provider's own
    /// `codes` text, the copy the database keeps of the three code tables (migration 0010), not
    /// from three aggregates over those tables per provider.
    pub async fn providers_with_codes(&self, ids: &[String]) -> Result<Vec<(ProviderRow, ProviderCodes)>> {
        let mut found: std::collections::HashMap<String, (ProviderRow, ProviderCodes)> =
            std::collections::HashMap::new();
        for chunk in ids.chunks(IN_LIST) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "select {}, o.codes from organisations o where o.id in ({})",
                prefixed(PROVIDER_COLUMNS, "o"),
                marks.join(", ")
            );
            let rows: Vec<ListedRow> = read!(self, |c| {
                let mut q = sqlx::query_as::<_, ListedRow>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            for r in rows {
                let codes = ProviderCodes::from_text(&r.codes);
                found.insert(r.row.id.clone(), (r.row, codes));
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// How many providers match a query (paging ignored).
    pub async fn count_providers(&self, q: &ProviderQuery) -> Result<i64> {
        let (clause, params) = q.clause(self.backend());
        let sql = format!("select count(*) from organisations o{clause}");
        let n: (i64,) = read!(self, |c| {
            let mut q = sqlx::query_as::<_, (i64,)>(&sql);
            crate::bind_vals!(q, params.iter().cloned());
            q.fetch_one(c).await
        })?;
        Ok(n.0)
    }

    /// The codes of one provider.
    pub async fn provider_codes(&self, id: &str) -> Result<ProviderCodes> {
        let mut map = self.provider_codes_of(&[id.to_string()]).await?;
        Ok(map.pop().map(|(_, c)| c).unwrap_or_default())
    }

    /// The codes of several providers at once (for a result list), in the order of `ids` (an
    /// unknown id has none): from each provider's `codes` text, as [`Store::providers_with_codes`].
    pub async fn provider_codes_of(&self, ids: &[String]) -> Result<Vec<(String, ProviderCodes)>> {
        let mut found: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for chunk in ids.chunks(IN_LIST) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("select id, codes from organisations where id in ({})", marks.join(", "));
            let rows: Vec<(String, String)> = read!(self, |c| {
                let mut q = sqlx::query_as::<_, (String, String)>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            found.extend(rows);
        }
        Ok(ids
            .iter()
            .map(|id| {
                let codes = found.get(id).map(|c| ProviderCodes::from_text(c)).unwrap_or_default();
                (id.clone(), codes)
            })
            .collect())
    }

    /// The change log of an entry, newest first.
    pub async fn org_changes(&self, organisation_id: &str, limit: i64) -> Result<Vec<OrgChangeRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, OrgChangeRow>(
            "select id, organisation_id, changed_by, changed_at, source, changes from org_changes \
             where organisation_id = $1 order by changed_at desc, id desc limit $2"
        )
        .bind(organisation_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// Entries not confirmed since `before` (never confirmed first), limited to `ids` when given.
    pub async fn unconfirmed_providers(
        &self,
        before: i64,
        ids: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<ProviderRow>> {
        let mut sql = format!(
            "select {PROVIDER_COLUMNS} from organisations where (confirmed_at is null or confirmed_at < $1)"
        );
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
            sql.push_str(&format!(" and id in ({})", marks.join(", ")));
        }
        sql.push_str(" order by confirmed_at is not null, confirmed_at, name_kana, id limit $2");
        Ok(read!(self, |c| {
            let mut q = sqlx::query_as::<_, ProviderRow>(&sql).bind(before).bind(limit);
            for id in ids.unwrap_or(&[]) {
                q = q.bind(id);
            }
            q.fetch_all(c).await
        })?)
    }
}

impl Tx {
    /// A provider as this transaction sees it.
    pub async fn provider(&mut self, id: &str) -> Result<Option<ProviderRow>> {
        let sql = format!("select {PROVIDER_COLUMNS} from organisations where id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as::<_, ProviderRow>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// The provider with a national office number (事業所番号).
    pub async fn provider_by_office_no(&mut self, office_no: &str) -> Result<Option<ProviderRow>> {
        let sql = format!("select {PROVIDER_COLUMNS} from organisations where office_no = $1");
        Ok(on_tx!(self, |c| sqlx::query_as::<_, ProviderRow>(&sql).bind(office_no).fetch_optional(c).await)?)
    }

    /// Inserts a whole provider row (`search_text` as given).
    pub async fn insert_provider(&mut self, p: &ProviderRow) -> Result<()> {
        let marks: Vec<String> = (1..=36).map(|i| format!("${i}")).collect();
        let sql = format!("insert into organisations ({PROVIDER_COLUMNS}) values ({})", marks.join(", "));
        exec_tx!(self, |c| bind_provider(sqlx::query(&sql), p).execute(c).await)?;
        Ok(())
    }

    /// Writes every column of a provider but its id and `created_at`, if its version is still
    /// `expected_version`; the stored version becomes `p.version`. Returns whether it was
    /// written (false: someone changed it first, or it does not exist).
    pub async fn update_provider(&mut self, p: &ProviderRow, expected_version: i64) -> Result<bool> {
        let cols: Vec<&str> = PROVIDER_COLUMNS.split(", ").collect();
        let sets: Vec<String> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != "id" && **c != "created_at")
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect();
        let sql = format!("update organisations set {} where id = $1 and version = $37", sets.join(", "));
        let n =
            exec_tx!(self, |c| bind_provider(sqlx::query(&sql), p).bind(expected_version).execute(c).await)?;
        Ok(n == 1)
    }

    /// Replaces one code set of a provider.
    pub async fn set_provider_codes(&mut self, id: &str, set: CodeSet, codes: &[String]) -> Result<()> {
        let del = format!("delete from {} where organisation_id = $1", set.table());
        exec_tx!(self, |c| sqlx::query(&del).bind(id).execute(c).await)?;
        let ins = format!("insert into {} (organisation_id, {}) values ($1, $2)", set.table(), set.column());
        let mut sorted: Vec<&String> = codes.iter().collect();
        sorted.sort();
        sorted.dedup();
        for code in sorted {
            exec_tx!(self, |c| sqlx::query(&ins).bind(id).bind(code).execute(c).await)?;
        }
        Ok(())
    }

    /// The codes of one provider, as this transaction sees them.
    pub async fn provider_codes(&mut self, id: &str) -> Result<ProviderCodes> {
        let mut out = ProviderCodes::default();
        for set in [CodeSet::Services, CodeSet::Departments, CodeSet::Capabilities] {
            let sql = format!(
                "select {col} from {table} where organisation_id = $1 order by {col}",
                col = set.column(),
                table = set.table()
            );
            let rows: Vec<(String,)> =
                on_tx!(self, |c| sqlx::query_as::<_, (String,)>(&sql).bind(id).fetch_all(c).await)?;
            let list = rows.into_iter().map(|r| r.0).collect();
            match set {
                CodeSet::Services => out.services = list,
                CodeSet::Departments => out.departments = list,
                CodeSet::Capabilities => out.capabilities = list,
            }
        }
        Ok(out)
    }

    pub async fn insert_org_change(&mut self, r: &OrgChangeRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into org_changes (id, organisation_id, changed_by, changed_at, source, changes) \
             values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&r.id)
        .bind(&r.organisation_id)
        .bind(&r.changed_by)
        .bind(r.changed_at)
        .bind(&r.source)
        .bind(&r.changes)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Recomputes an organisation's search text from its stored name, kana, address and
    /// district (after an edit through the administration pages).
    pub async fn refresh_search_text(&mut self, id: &str) -> Result<()> {
        let Some(p) = self.provider(id).await? else {
            return Ok(());
        };
        let text = tsunagu_domain::directory::search_text(
            &p.name,
            &p.name_kana,
            &p.address,
            &p.address_extra,
            p.district.as_deref().unwrap_or(""),
        );
        exec_tx!(self, |c| sqlx::query("update organisations set search_text = $2 where id = $1")
            .bind(id)
            .bind(&text)
            .execute(c)
            .await)?;
        Ok(())
    }
}

/// Binds the 36 provider columns in `PROVIDER_COLUMNS` order.
fn bind_provider<'q, DB>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    p: &'q ProviderRow,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(p.id.clone())
        .bind(p.kind.clone())
        .bind(p.name.clone())
        .bind(p.name_kana.clone())
        .bind(p.parent_id.clone())
        .bind(p.city_no.clone())
        .bind(p.address.clone())
        .bind(p.phone.clone())
        .bind(p.jurisdiction.clone())
        .bind(p.operator_name.clone())
        .bind(p.is_emergency_hospital)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.postal_code.clone())
        .bind(p.address_extra.clone())
        .bind(p.latitude)
        .bind(p.longitude)
        .bind(p.district.clone())
        .bind(p.fax.clone())
        .bind(p.website.clone())
        .bind(p.corporate_number.clone())
        .bind(p.office_no.clone())
        .bind(p.capacity)
        .bind(p.open_days.clone())
        .bind(p.open_days_note.clone())
        .bind(p.accepting.clone())
        .bind(p.description.clone())
        .bind(p.contact_line.clone())
        .bind(p.contact_person.clone())
        .bind(p.contact_method.clone())
        .bind(p.contact_hours.clone())
        .bind(p.consult_on_holidays)
        .bind(p.search_text.clone())
        .bind(p.confirmed_at)
        .bind(p.version)
        .bind(p.manual_fields.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, TestDb};

    #[test]
    fn a_code_with_a_space_matches_nothing_rather_than_two_codes() {
        let q = ProviderQuery {
            capabilities: vec!["house_calls service:home_help".into()],
            ..ProviderQuery::default()
        };
        let (clause, params) = q.clause(Backend::Sqlite);
        assert_eq!(clause, " where 1 = 0");
        assert!(params.is_empty());
        let q = ProviderQuery { capabilities: vec!["house_calls".into()], ..ProviderQuery::default() };
        let (clause, params) = q.clause(Backend::Postgres);
        assert_eq!(clause, " where strpos(o.codes, $1) > 0");
        assert_eq!(params, vec![Val::Text(" capability:house_calls ".into())]);
    }

    #[test]
    fn a_providers_codes_text_gives_its_three_sorted_lists() {
        let c = ProviderCodes::from_text(
            " capability:ventilator service:home_help capability:house_calls department:surgery  odd ",
        );
        assert_eq!(c.services, vec!["home_help"]);
        assert_eq!(c.departments, vec!["surgery"]);
        assert_eq!(c.capabilities, vec!["house_calls", "ventilator"]);
        assert_eq!(ProviderCodes::from_text(" "), ProviderCodes::default());
    }

    /// A search around a point reads every match's point, text and codes from an index alone
    /// (with kinds, or without), never the table row by row (migrations 0009 and 0010). PostgreSQL chooses an
    /// index-only scan by its statistics and visibility map, which an empty test table lacks:
    /// there the plan must only walk one of the two indexes, not scan the table.
    #[tokio::test]
    async fn the_points_of_a_search_around_a_point_come_from_an_index() {
        for TestDb { store, backend: b, .. } in &testing::all().await {
            let around = ProviderQuery {
                terms: vec!["在宅".into()],
                capabilities: vec!["house_calls".into()],
                bbox: Some((36.51, 36.61, 136.60, 136.71)),
                ..ProviderQuery::default()
            };
            let with_kinds =
                ProviderQuery { kinds: vec!["clinic".into(), "pharmacy".into()], ..around.clone() };
            for (what, q, index) in [
                ("kinds", &with_kinds, "organisations_kind_geo_idx"),
                ("no kinds", &around, "organisations_geo_idx"),
            ] {
                let (sql, params) = points_sql(*b, q);
                let plan = testing::plan(store, &sql, &params).await;
                let from_index = match b {
                    Backend::Sqlite => plan.contains(&format!("USING COVERING INDEX {index}")),
                    Backend::Postgres => {
                        plan.contains("_geo_idx on organisations") && !plan.contains("Seq Scan")
                    }
                };
                assert!(from_index, "{b:?} {what}: not from {index} alone:\n{plan}");
                // The capability is checked in the index entry (migration 0010), not probed.
                assert!(!plan.contains("org_capabilities"), "{b:?} {what}: probes the capabilities:\n{plan}");
            }
        }
    }
}
