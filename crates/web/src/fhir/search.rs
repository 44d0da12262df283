//! The search parameters every patient resource shares: `_count`, `_offset`, `_summary`,
//! `_total`, `_sort`, `_lastUpdated`, the date prefixes of FHIR (`eq`, `lt`, `le`, `gt`, `ge`,
//! `sa`, `eb`) at any precision, `patient`/`subject` references, and the rule that an unknown
//! parameter is reported (400), or ignored and reported in the Bundle under
//! `Prefer: handling=lenient`.

use tsunagu_app::App;

use super::bundle::{self, Bundle, Entry, Paging, Resource};
use super::outcome::{FhirError, Issue, outcome};
use super::registry::ResourceDef;
use super::{Ctx, input};
use crate::i18n::Tr;

pub const DEFAULT_COUNT: i64 = 20;
pub const MAX_COUNT: i64 = 100;
const MAX_OFFSET: i64 = 1_000_000;

/// A time range in UTC microseconds: `from` inclusive, `to` exclusive; either may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Range {
    /// Both ranges at once (repeating a date parameter means "and").
    pub fn and(self, o: Range) -> Range {
        Range {
            from: match (self.from, o.from) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            to: match (self.to, o.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    pub fn contains(self, t: i64) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    pub fn is_open(self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// A search split into the shared result parameters and the type's own parameters.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// The type's own parameters in order: (name as given, with any `:modifier`; value).
    pub params: Vec<(String, String)>,
    pub count: i64,
    pub offset: i64,
    /// `_summary=count` or `_count=0`: the total only.
    pub count_only: bool,
    /// `_total=accurate`: `Bundle.total` even where it costs a count of every match (the
    /// timeline's searches give it otherwise only on the last page; the other types always).
    /// `none` and `estimate` ask for nothing more.
    pub accurate_total: bool,
    /// `_sort` as (name, descending), if given.
    pub sort: Option<(String, bool)>,
    pub last_updated: Range,
    /// The parameters kept for the paging links (paging parameters excluded).
    pub used: Vec<(String, String)>,
    /// Unknown parameters ignored under `Prefer: handling=lenient`.
    pub ignored: Vec<String>,
}

impl Search {
    /// The values of one of the type's parameters (`name` without modifier).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.params.iter().filter(|(k, _)| base_name(k) == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The only value of a parameter given at most once (400 if repeated).
    pub fn one(&self, tr: Tr, name: &str) -> Result<Option<&str>, FhirError> {
        let v = self.values(name);
        match v.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(FhirError::invalid(tr, name, "fhir.repeated")),
        }
    }

    /// The date range of a date parameter (all its repeats together).
    pub fn date(&self, tr: Tr, name: &str) -> Result<Range, FhirError> {
        let mut r = Range::default();
        for v in self.values(name) {
            r = r.and(parse_date(tr, name, v)?);
        }
        Ok(r)
    }

    /// The patient a `patient` (or `subject`) parameter names: `Patient/{id}` or a bare id.
    pub fn patient(&self, ctx: &Ctx) -> Result<Option<String>, FhirError> {
        let mut found: Option<String> = None;
        for name in ["patient", "subject"] {
            for v in self.values(name) {
                let id = patient_reference(&ctx.base, v).ok_or_else(|| FhirError::bad_value(ctx.tr, name))?;
                if found.as_deref().is_some_and(|f| f != id) {
                    return Err(FhirError::invalid(ctx.tr, name, "fhir.repeated"));
                }
                found = Some(id.to_string());
            }
        }
        Ok(found)
    }
}

/// A parameter value's comma-separated alternatives (empty ones dropped).
pub fn split_values(v: &str) -> Vec<String> {
    v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

/// Whether a token value (`code`, `system|code` or `|code`; commas for any of several) names
/// `code` of `system`.
pub fn token_matches(value: &str, system: &str, code: &str) -> bool {
    value.split(',').map(str::trim).any(|v| match v.split_once('|') {
        Some((s, c)) => (s.is_empty() || s == system) && c == code,
        None => v == code,
    })
}

/// The name of a parameter without its modifier (`name:exact` → `name`).
pub fn base_name(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

/// `Patient/{id}`, `{base}/Patient/{id}` or a bare id.
pub fn patient_reference<'a>(base: &str, v: &'a str) -> Option<&'a str> {
    let v = v.trim();
    if v.contains('/') {
        input::reference_id(base, v, "Patient")
    } else {
        (!v.is_empty() && v.len() <= 64).then_some(v)
    }
}

fn integer(tr: Tr, name: &str, v: &str, max: i64) -> Result<i64, FhirError> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n.min(max)),
        _ => Err(FhirError::bad_value(tr, name)),
    }
}

/// Splits a query string against a type's definition: shared parameters parsed, the type's
/// own kept, anything else refused (or ignored when lenient). `_format` and `_pretty` are the
/// dispatcher's.
pub fn parse(
    tr: Tr,
    lenient: bool,
    def: &ResourceDef,
    query: &[(String, String)],
) -> Result<Search, FhirError> {
    let mut s = Search { count: DEFAULT_COUNT, ..Search::default() };
    let mut unknown = Vec::new();
    for (name, value) in query {
        match name.as_str() {
            "_format" | "_pretty" => continue,
            "_count" => {
                s.count = integer(tr, "_count", value, MAX_COUNT)?;
                s.count_only |= s.count == 0;
                continue;
            }
            "_offset" => {
                s.offset = integer(tr, "_offset", value, MAX_OFFSET)?;
                continue;
            }
            "_summary" => match value.as_str() {
                "count" => s.count_only = true,
                "false" => {}
                _ => return Err(FhirError::unsupported_value(tr, "_summary", "fhir.summary")),
            },
            "_total" => match value.as_str() {
                "accurate" => s.accurate_total = true,
                "none" | "estimate" => s.accurate_total = false,
                _ => return Err(FhirError::bad_value(tr, "_total")),
            },
            "_sort" => {
                let (desc, key) = match value.strip_prefix('-') {
                    Some(k) => (true, k),
                    None => (false, value.as_str()),
                };
                if value.contains(',') || !def.sorts.contains(&key) {
                    return Err(FhirError::unsupported_value(tr, "_sort", "fhir.sort"));
                }
                s.sort = Some((key.to_string(), desc));
            }
            "_lastUpdated" => s.last_updated = s.last_updated.and(parse_date(tr, "_lastUpdated", value)?),
            n if def.params.iter().any(|p| p.name == base_name(n)) => {
                s.params.push((name.clone(), value.clone()));
            }
            _ => {
                unknown.push(name.clone());
                continue;
            }
        }
        s.used.push((name.clone(), value.clone()));
    }
    if !unknown.is_empty() {
        if !lenient {
            return Err(FhirError::unknown_params(tr, &unknown));
        }
        s.ignored = unknown;
    }
    Ok(s)
}

/// A FHIR date search value with its prefix, as a range of UTC microseconds. Precision decides
/// the width: `2026` is the year, `2026-11-24` the day (in Japan time when no zone is given,
/// as the region reads dates), `2026-11-24T09:30:00+09:00` the second.
pub fn parse_date(tr: Tr, name: &str, v: &str) -> Result<Range, FhirError> {
    let bad = || FhirError::bad_value(tr, name);
    let v = v.trim();
    let (prefix, rest) = match v.get(..2) {
        Some(p @ ("eq" | "lt" | "le" | "gt" | "ge" | "sa" | "eb")) => (p, &v[2..]),
        Some("ne" | "ap") => return Err(FhirError::unsupported_value(tr, name, "fhir.date_prefix")),
        _ => ("eq", v),
    };
    let (start, end) = date_span(rest).ok_or_else(bad)?;
    Ok(match prefix {
        "eq" => Range { from: Some(start), to: Some(end) },
        "lt" | "eb" => Range { from: None, to: Some(start) },
        "le" => Range { from: None, to: Some(end) },
        "gt" | "sa" => Range { from: Some(end), to: None },
        _ => Range { from: Some(start), to: None },
    })
}

/// The span `[start, end)` in UTC microseconds a date or date-time of some precision covers.
fn date_span(s: &str) -> Option<(i64, i64)> {
    use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
    let jst = UtcOffset::from_hms(9, 0, 0).ok()?;
    let micros = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1000).ok();
    let at = |d: Date, off: UtcOffset| micros(PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_offset(off));
    let num = |p: &str, n: usize| {
        (p.len() == n && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse::<i32>().ok()).flatten()
    };
    match s.len() {
        4 => {
            let y = num(s, 4)?;
            let a = Date::from_calendar_date(y, Month::January, 1).ok()?;
            let b = Date::from_calendar_date(y + 1, Month::January, 1).ok()?;
            Some((at(a, jst)?, at(b, jst)?))
        }
        7 => {
            let (y, m) = (num(s.get(..4)?, 4)?, num(s.get(5..)?, 2)?);
            if s.as_bytes().get(4) != Some(&b'-') {
                return None;
            }
            let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
            let a = Date::from_calendar_date(y, month, 1).ok()?;
            let b = if month == Month::December {
                Date::from_calendar_date(y + 1, Month::January, 1).ok()?
            } else {
                Date::from_calendar_date(y, month.next(), 1).ok()?
            };
            Some((at(a, jst)?, at(b, jst)?))
        }
        10 => {
            let d = Date::parse(s, &time::macros::format_description!("[year]-[month]-[day]")).ok()?;
            Some((at(d, jst)?, at(d.next_day()?, jst)?))
        }
        _ => {
            let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
            let start = micros(t.replace_nanosecond(0).ok()?)?;
            Some((start, start + 1_000_000))
        }
    }
}

/// A `searchset` Bundle of a page of a search that does not count every match: `more` says
/// whether a `next` page exists, and `Bundle.total` (optional in FHIR R4) is there only when
/// `total` is known.
pub fn page_bundle(
    ctx: &Ctx,
    type_name: &str,
    s: &Search,
    total: Option<i64>,
    more: bool,
    resources: Vec<impl Resource>,
    now: i64,
) -> Bundle {
    // The links follow from the paging's total: one past this page when more follow, else the
    // end of this page, so `next` appears exactly when there are more.
    let shown = i64::try_from(resources.len()).unwrap_or(i64::MAX);
    let end = if more { s.offset + s.count + 1 } else { s.offset + shown };
    let mut b = bundle(ctx, type_name, s, end, resources, now);
    b.total = total;
    b
}

/// A `searchset` Bundle of one page: the total, the links, the entries, and an outcome entry
/// naming the parameters ignored under lenient handling.
pub fn bundle(
    ctx: &Ctx,
    type_name: &str,
    s: &Search,
    total: i64,
    resources: Vec<impl Resource>,
    now: i64,
) -> Bundle {
    let type_url = format!("{}/{type_name}", ctx.base);
    let mut entries: Vec<Entry> = resources.iter().map(|r| Entry::of(&ctx.base, r)).collect();
    if !s.ignored.is_empty() {
        let issues: Vec<Issue> = s
            .ignored
            .iter()
            .map(|n| {
                Issue::warning(
                    "not-supported",
                    ctx.tr.fmt("fhir.ignored_param", &[("name", &super::outcome::echo(n))]),
                )
                .at(n)
            })
            .collect();
        entries.push(Entry::outcome(&outcome(&issues)));
    }
    let count = if s.count_only { 0 } else { s.count };
    bundle::searchset(
        &type_url,
        &s.used,
        Paging { offset: s.offset, count, total },
        entries,
        &input::instant(now),
    )
}

/// The server's clock, for `Bundle.meta.lastUpdated`.
pub fn now(app: &App) -> i64 {
    app.now().micros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn a_day_is_the_day_in_japan_and_prefixes_open_or_close_it() {
        // 2026-11-24T00:00+09:00 = 2026-11-23T15:00Z.
        let start = 1_795_446_000_000_000;
        let r = parse_date(tr(), "date", "2026-11-24").unwrap();
        assert_eq!(r, Range { from: Some(start), to: Some(start + DAY) });
        assert_eq!(parse_date(tr(), "date", "lt2026-11-24").unwrap(), Range { from: None, to: Some(start) });
        assert_eq!(
            parse_date(tr(), "date", "le2026-11-24").unwrap(),
            Range { from: None, to: Some(start + DAY) }
        );
        assert_eq!(
            parse_date(tr(), "date", "gt2026-11-24").unwrap(),
            Range { from: Some(start + DAY), to: None }
        );
        assert_eq!(parse_date(tr(), "date", "ge2026-11-24").unwrap(), Range { from: Some(start), to: None });
        let r = parse_date(tr(), "date", "2026-11").unwrap();
        assert_eq!(r.to.unwrap() - r.from.unwrap(), 30 * DAY);
        let r = parse_date(tr(), "date", "2026-11-24T09:30:00+09:00").unwrap();
        assert_eq!(r.from, Some(1_795_480_200_000_000));
        assert!(parse_date(tr(), "date", "2026-13").is_err());
        assert!(parse_date(tr(), "date", "yesterday").is_err());
        assert!(parse_date(tr(), "date", "ne2026").is_err());
    }

    #[test]
    fn repeated_ranges_intersect() {
        let a = Range { from: Some(10), to: None };
        let b = Range { from: None, to: Some(20) };
        assert_eq!(a.and(b), Range { from: Some(10), to: Some(20) });
        assert!(a.and(b).contains(10) && !a.and(b).contains(20));
    }

    #[test]
    fn patient_references_are_typed_or_bare_ids() {
        assert_eq!(patient_reference("http://h/fhir", "Patient/x1"), Some("x1"));
        assert_eq!(patient_reference("http://h/fhir", "x1"), Some("x1"));
        assert_eq!(patient_reference("http://h/fhir", "Practitioner/x1"), None);
    }
}
