//! The directory as the FHIR API asks for it: a search with FHIR's criteria (name and kana only,
//! a kana reading, the city of the address, kinds, codes, a point and a radius, ids) and paging
//! by offset and count, and one entry with its consultation hours for professionals.
//!
//! The same rules as the pages hold: anyone may read the public fields; only a professional
//! (a logged-in person, here through a bearer token) gets the contact route and the
//! consultation hours, which are removed here before anything leaves the app layer.
//!
//! The store narrows a search by its folded search text (`search_text`, which holds the name,
//! the kana, the address and the district); the criteria that must hold on one field only
//! (the name and kana, the kana alone, the city) are then checked here on the narrowed rows.

use std::collections::HashMap;

use tsunagu_domain::directory::{GeoPoint, query_terms};
use tsunagu_domain::text::fold;
use tsunagu_store::directory::hours::{ConsultationExceptionRow, ConsultationSlotRow};
use tsunagu_store::directory::{ProviderCodes, ProviderPoint, ProviderQuery, ProviderRow};

use super::{ProviderListing, ProviderView, is_professional, redact_for_public};
use crate::{Actor, App, Result};

/// How a text criterion compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextMatch {
    /// Every space-separated term occurs in the field, after Japanese folding (NFKC, katakana as
    /// hiragana, lowercase): `ｷｼｶﾜ` finds `きしかわ`.
    #[default]
    Contains,
    /// The field equals the value exactly.
    Exact,
}

/// One text criterion: any of `values` must match (FHIR's comma).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextCriterion {
    pub values: Vec<String>,
    pub how: TextMatch,
}

/// A directory search as the FHIR API asks it. Every criterion given must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DirectoryQuery {
    /// The name or its kana reading.
    pub name: Vec<TextCriterion>,
    /// The kana reading.
    pub phonetic: Vec<TextCriterion>,
    /// The city (市区町村) of the address.
    pub city: Vec<TextCriterion>,
    /// `Some`: the provider's kind is one of these codes (an empty list matches nothing).
    pub kinds: Option<Vec<String>>,
    /// A care-service kind code the provider offers.
    pub service: Option<String>,
    /// A medical department code the provider offers.
    pub department: Option<String>,
    /// Capability codes the provider must all offer.
    pub capabilities: Vec<String>,
    /// `Some`: only these ids.
    pub ids: Option<Vec<String>>,
    /// Only providers within this many kilometres of the point, nearest first.
    pub near: Option<(GeoPoint, f64)>,
    /// Entries per page (0: the total only).
    pub count: i64,
    /// Entries skipped.
    pub offset: i64,
    /// Load the consultation hours of each entry (for professionals only).
    pub with_hours: bool,
}

/// A physician's consultation hours: the weekly schedule and the closed days from today on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsultationHours {
    pub slots: Vec<ConsultationSlotRow>,
    /// Days from today (Japan time) on which there are no consultation hours.
    pub closed_days: Vec<ConsultationExceptionRow>,
}

/// One entry of a directory search or read.
#[derive(Debug, Clone)]
pub struct DirectoryItem {
    pub listing: ProviderListing,
    /// `Some` only for professionals, and only when asked for.
    pub hours: Option<ConsultationHours>,
}

#[derive(Debug, Clone)]
pub struct DirectoryPage {
    pub items: Vec<DirectoryItem>,
    pub total: i64,
    /// Whether the viewer saw the professional fields.
    pub professional: bool,
}

/// One directory entry with its hours, for a read.
#[derive(Debug, Clone)]
pub struct DirectoryEntry {
    pub view: ProviderView,
    /// `Some` only for professionals.
    pub hours: Option<ConsultationHours>,
}

/// A Japanese address in its parts, as JP Core writes them: the prefecture (`state`), the city
/// with its county or ward (`city`), and the rest (`line`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressParts {
    pub state: String,
    pub city: String,
    pub line: String,
}

/// The cities whose wards (区) belong to the city part of an address (政令指定都市).
const DESIGNATED_CITIES: &[&str] = &[
    "札幌市",
    "仙台市",
    "さいたま市",
    "千葉市",
    "横浜市",
    "川崎市",
    "相模原市",
    "新潟市",
    "静岡市",
    "浜松市",
    "名古屋市",
    "京都市",
    "大阪市",
    "堺市",
    "神戸市",
    "岡山市",
    "広島市",
    "北九州市",
    "福岡市",
    "熊本市",
];

/// Cities whose name holds 市 before its end (the city part would otherwise stop early).
const CITIES_WITH_ICHI: &[&str] = &["野々市市", "四日市市", "廿日市市"];

/// Splits a Japanese address into prefecture, city and the rest. An address it cannot split
/// keeps everything in `line`.
pub fn split_address(address: &str) -> AddressParts {
    let address = address.trim();
    let (state, rest) = split_prefecture(address);
    let (city, line) = split_city(rest);
    AddressParts { state: state.to_string(), city: city.to_string(), line: line.trim().to_string() }
}

fn split_prefecture(s: &str) -> (&str, &str) {
    for special in ["北海道", "京都府", "東京都", "大阪府"] {
        if let Some(rest) = s.strip_prefix(special) {
            return (special, rest);
        }
    }
    // "石川県", "神奈川県", "鹿児島県": 県 is the third or fourth character.
    for (i, (at, c)) in s.char_indices().enumerate().take(4) {
        if c == '県' && i >= 2 {
            let end = at + c.len_utf8();
            return (&s[..end], &s[end..]);
        }
    }
    ("", s)
}

fn split_city(s: &str) -> (&str, &str) {
    for name in CITIES_WITH_ICHI {
        if let Some(rest) = s.strip_prefix(name) {
            return (&s[..name.len()], rest);
        }
    }
    let chars: Vec<char> = s.chars().collect();
    // The byte offset just after the character at index `i`.
    let after = |i: usize| chars.iter().take(i + 1).map(|c| c.len_utf8()).sum::<usize>();
    let find = |from: usize, within: usize, set: &[char]| {
        chars.iter().enumerate().skip(from).take(within).find(|(_, c)| set.contains(c)).map(|(i, _)| i)
    };
    // A county (郡) and its town or village, with no 市 between (小郡市, 大和郡山市 are cities).
    if let Some(g) = find(1, 5, &['郡'])
        && let Some(t) = find(g + 1, 6, &['町', '村', '市'])
        && chars[t] != '市'
        && t >= g + 2
    {
        let end = after(t);
        return (&s[..end], &s[end..]);
    }
    // A city or a ward of Tokyo: the first 市 or 区 after at least one character.
    if let Some(p) = find(1, 7, &['市', '区']) {
        let mut end = after(p);
        if chars[p] == '市'
            && DESIGNATED_CITIES.contains(&&s[..end])
            && let Some(w) = find(p + 2, 4, &['区'])
        {
            end = after(w);
        }
        return (&s[..end], &s[end..]);
    }
    // A town or village written without its county.
    if let Some(p) = find(1, 7, &['町', '村']) {
        let end = after(p);
        return (&s[..end], &s[end..]);
    }
    ("", s)
}

/// The fields a text criterion reads: a whole row or a search's light row.
struct Texts<'a> {
    id: &'a str,
    name: &'a str,
    name_kana: &'a str,
    address: &'a str,
}

impl<'a> From<&'a ProviderRow> for Texts<'a> {
    fn from(r: &'a ProviderRow) -> Self {
        Texts { id: &r.id, name: &r.name, name_kana: &r.name_kana, address: &r.address }
    }
}

impl<'a> From<&'a ProviderPoint> for Texts<'a> {
    fn from(p: &'a ProviderPoint) -> Self {
        Texts { id: &p.id, name: &p.name, name_kana: &p.name_kana, address: &p.address }
    }
}

/// A provider's text fields, each folded the first time a criterion reads it: a search checks
/// every match in the box, and folding (NFKC) is the costly part.
struct Folded<'a> {
    t: Texts<'a>,
    name: Option<String>,
    /// The kana folded, and the same without spaces (`name_key`).
    kana: Option<(String, String)>,
    city: Option<String>,
}

impl<'a> Folded<'a> {
    fn new(t: Texts<'a>) -> Self {
        Folded { t, name: None, kana: None, city: None }
    }

    fn name(&mut self) -> &str {
        self.name.get_or_insert_with(|| fold(self.t.name))
    }

    fn kana(&mut self) -> &(String, String) {
        self.kana.get_or_insert_with(|| {
            let f = fold(self.t.name_kana);
            let key = f.replace(' ', "");
            (f, key)
        })
    }

    fn city(&mut self) -> &str {
        self.city.get_or_insert_with(|| fold(&split_address(self.t.address).city))
    }
}

/// Which fields a text criterion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// The name or its kana reading.
    Name,
    /// The kana reading.
    Kana,
    /// The city of the address.
    City,
}

/// One value of a text criterion, ready to test: the exact text, or its folded terms (folded
/// once per search, not once per provider).
enum Wanted {
    Exact(String),
    Terms(Vec<String>),
}

impl Wanted {
    fn new(value: &str, how: TextMatch) -> Self {
        match how {
            TextMatch::Exact => Wanted::Exact(value.to_string()),
            TextMatch::Contains => Wanted::Terms(query_terms(value)),
        }
    }

    fn holds(&self, field: Field, f: &mut Folded) -> bool {
        match self {
            Wanted::Exact(v) => match field {
                Field::Name => f.t.name == v || f.t.name_kana == v,
                Field::Kana => f.t.name_kana == v,
                Field::City => {
                    let city = split_address(f.t.address).city;
                    !city.is_empty() && city == *v
                }
            },
            // A term has no space, so it lies within one field: each term may be in any of them.
            Wanted::Terms(terms) => {
                !terms.is_empty()
                    && terms.iter().all(|term| match field {
                        Field::Name => {
                            f.name().contains(term.as_str()) || {
                                let (kana, key) = f.kana();
                                kana.contains(term.as_str()) || key.contains(term.as_str())
                            }
                        }
                        Field::Kana => {
                            let (kana, key) = f.kana();
                            kana.contains(term.as_str()) || key.contains(term.as_str())
                        }
                        Field::City => {
                            let city = f.city();
                            !city.is_empty() && city.contains(term.as_str())
                        }
                    })
            }
        }
    }
}

/// The text criteria of a search, compiled: every criterion must hold, any of its values.
struct TextCheck {
    criteria: Vec<(Field, Vec<Wanted>)>,
    ids: Option<Vec<String>>,
}

impl TextCheck {
    fn new(q: &DirectoryQuery) -> Self {
        let mut criteria = Vec::new();
        for (field, list) in [(Field::Name, &q.name), (Field::Kana, &q.phonetic), (Field::City, &q.city)] {
            for c in list {
                criteria.push((field, c.values.iter().map(|v| Wanted::new(v, c.how)).collect()));
            }
        }
        TextCheck { criteria, ids: q.ids.clone() }
    }

    fn holds(&self, t: Texts) -> bool {
        if self.ids.as_ref().is_some_and(|ids| !ids.iter().any(|i| i == t.id)) {
            return false;
        }
        let mut f = Folded::new(t);
        self.criteria.iter().all(|(field, values)| values.iter().any(|v| v.holds(*field, &mut f)))
    }
}

fn one(field: Field, row: &ProviderRow, value: &str, how: TextMatch) -> bool {
    Wanted::new(value, how).holds(field, &mut Folded::new(row.into()))
}

/// Whether a provider's name or kana reading matches.
pub fn name_matches(row: &ProviderRow, value: &str, how: TextMatch) -> bool {
    one(Field::Name, row, value, how)
}

/// Whether a provider's kana reading matches.
pub fn phonetic_matches(row: &ProviderRow, value: &str, how: TextMatch) -> bool {
    one(Field::Kana, row, value, how)
}

/// Whether the city of a provider's address matches.
pub fn city_matches(row: &ProviderRow, value: &str, how: TextMatch) -> bool {
    one(Field::City, row, value, how)
}

impl DirectoryQuery {
    fn needs_checking_here(&self) -> bool {
        !self.name.is_empty()
            || !self.phonetic.is_empty()
            || !self.city.is_empty()
            || self.ids.is_some()
            || self.near.is_some()
    }

    /// The store's part of the query: the folded terms every match must contain somewhere in
    /// its search text, the kinds, the codes and the box around the point.
    fn store_query(&self) -> ProviderQuery {
        let mut q = ProviderQuery::default();
        for c in self.name.iter().chain(&self.phonetic).chain(&self.city) {
            if let [only] = c.values.as_slice() {
                for t in query_terms(only) {
                    if !q.terms.contains(&t) {
                        q.terms.push(t);
                    }
                }
            }
        }
        q.kinds = self.kinds.clone().unwrap_or_default();
        q.service = self.service.clone();
        q.department = self.department.clone();
        q.capabilities = self.capabilities.clone();
        if let Some((point, radius)) = self.near {
            let b = point.bounding_box(radius);
            q.bbox = Some((b.min_lat, b.max_lat, b.min_lon, b.max_lon));
        }
        q
    }
}

impl App {
    /// Searches the directory for the FHIR API. Anyone may search; a professional's results
    /// carry the contact route (and the consultation hours when `with_hours`).
    pub async fn directory_search(
        &self,
        viewer: Option<&Actor>,
        q: &DirectoryQuery,
    ) -> Result<DirectoryPage> {
        let professional = is_professional(viewer);
        let count = q.count.clamp(0, 1000);
        let offset = q.offset.max(0);
        if q.kinds.as_ref().is_some_and(Vec::is_empty) || q.ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(DirectoryPage { items: Vec::new(), total: 0, professional });
        }
        let mut sq = q.store_query();
        let (rows, total): (Vec<(Option<f64>, ProviderRow, ProviderCodes)>, i64) = if q.needs_checking_here()
        {
            // Every match's point and text (light rows), checked and measured here; whole rows
            // only for the page.
            let check = TextCheck::new(q);
            let mut matched: Vec<(Option<f64>, ProviderPoint)> = self
                .store
                .search_provider_points(&sq)
                .await?
                .into_iter()
                .filter(|p| check.holds(p.into()))
                .filter_map(|p| match q.near {
                    None => Some((None, p)),
                    Some((point, radius)) => {
                        let d = point.distance_km(GeoPoint { lat: p.latitude?, lon: p.longitude? });
                        (d <= radius).then_some((Some(d), p))
                    }
                })
                .collect();
            if q.near.is_some() {
                matched.sort_by(|a, b| {
                    a.0.unwrap_or(f64::MAX)
                        .total_cmp(&b.0.unwrap_or(f64::MAX))
                        .then_with(|| a.1.name_kana.cmp(&b.1.name_kana))
                        .then_with(|| a.1.id.cmp(&b.1.id))
                });
            }
            let total = i64::try_from(matched.len()).unwrap_or(i64::MAX);
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = usize::try_from(count).unwrap_or(0);
            let page: Vec<(Option<f64>, String)> =
                matched.into_iter().skip(start).take(take).map(|(d, p)| (d, p.id)).collect();
            (self.whole_rows(page).await?, total)
        } else {
            let total = self.store.count_providers(&sq).await?;
            if count == 0 || offset >= total {
                (Vec::new(), total)
            } else {
                sq.limit = Some(count);
                sq.offset = offset;
                let rows = self.store.search_providers(&sq).await?;
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let codes = self.store.provider_codes_of(&ids).await?;
                (rows.into_iter().zip(codes).map(|(r, (_, c))| (None, r, c)).collect(), total)
            }
        };
        let ids: Vec<String> = rows.iter().map(|(_, r, _)| r.id.clone()).collect();
        let mut hours =
            if professional && q.with_hours { Some(self.consultation_hours_of(&ids).await?) } else { None };
        let mut items = Vec::with_capacity(rows.len());
        for (distance_km, mut row, codes) in rows {
            if !professional {
                redact_for_public(&mut row);
            }
            let hours = hours.as_mut().map(|h| h.remove(&row.id).unwrap_or_default());
            items.push(DirectoryItem { listing: ProviderListing { row, codes, distance_km }, hours });
        }
        Ok(DirectoryPage { items, total, professional })
    }

    /// The whole rows and codes of a page of matches, in its order, each with its distance.
    pub(crate) async fn whole_rows(
        &self,
        page: Vec<(Option<f64>, String)>,
    ) -> Result<Vec<(Option<f64>, ProviderRow, ProviderCodes)>> {
        let ids: Vec<String> = page.iter().map(|(_, id)| id.clone()).collect();
        let mut rows: HashMap<String, (ProviderRow, ProviderCodes)> = self
            .store
            .providers_with_codes(&ids)
            .await?
            .into_iter()
            .map(|(r, c)| (r.id.clone(), (r, c)))
            .collect();
        Ok(page.into_iter().filter_map(|(d, id)| rows.remove(&id).map(|(r, c)| (d, r, c))).collect())
    }

    /// The consultation hours of several providers (two statements for all of them).
    async fn consultation_hours_of(&self, ids: &[String]) -> Result<HashMap<String, ConsultationHours>> {
        let mut out: HashMap<String, ConsultationHours> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let today = self.now().jst_day();
        for s in self.store.consultation_slots_of(ids).await? {
            out.entry(s.organisation_id.clone()).or_default().slots.push(s);
        }
        for e in self.store.consultation_exceptions_of(ids, &today).await? {
            if e.closed {
                out.entry(e.organisation_id.clone()).or_default().closed_days.push(e);
            }
        }
        Ok(out)
    }

    /// One directory entry for the FHIR API, with its consultation hours for professionals. A
    /// missing entry and a malformed id are the same `NotFound`.
    pub async fn directory_entry(&self, viewer: Option<&Actor>, id: &str) -> Result<DirectoryEntry> {
        let view = self.provider_view(viewer, id).await?;
        let hours = if view.professional { Some(self.consultation_hours(&view.row.id).await?) } else { None };
        Ok(DirectoryEntry { view, hours })
    }

    async fn consultation_hours(&self, organisation_id: &str) -> Result<ConsultationHours> {
        let today = self.now().jst_day();
        let slots = self.store.consultation_slots(organisation_id).await?;
        let closed_days = self
            .store
            .consultation_exceptions(organisation_id, &today)
            .await?
            .into_iter()
            .filter(|e| e.closed)
            .collect();
        Ok(ConsultationHours { slots, closed_days })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(state: &str, city: &str, line: &str) -> AddressParts {
        AddressParts { state: state.into(), city: city.into(), line: line.into() }
    }

    #[test]
    fn a_kanazawa_address_splits_into_prefecture_city_and_the_rest() {
        assert_eq!(split_address("石川県金沢市野町2-10-5"), parts("石川県", "金沢市", "野町2-10-5"));
        assert_eq!(
            split_address("石川県河北郡内灘町字鶴ケ丘1"),
            parts("石川県", "河北郡内灘町", "字鶴ケ丘1")
        );
        assert_eq!(split_address("金沢市広坂1-1-1"), parts("", "金沢市", "広坂1-1-1"));
    }

    #[test]
    fn prefectures_with_special_names_and_wards_of_designated_cities_split_as_jp_core_asks() {
        assert_eq!(split_address("東京都文京区本郷7-3-1"), parts("東京都", "文京区", "本郷7-3-1"));
        assert_eq!(split_address("京都府京都市左京区吉田本町"), parts("京都府", "京都市左京区", "吉田本町"));
        assert_eq!(
            split_address("神奈川県横浜市中区本町6-50-10"),
            parts("神奈川県", "横浜市中区", "本町6-50-10")
        );
        assert_eq!(
            split_address("北海道札幌市北区北8条西5丁目"),
            parts("北海道", "札幌市北区", "北8条西5丁目")
        );
        assert_eq!(split_address("三重県四日市市諏訪町1-5"), parts("三重県", "四日市市", "諏訪町1-5"));
        assert_eq!(split_address("和歌山県和歌山市七番丁23"), parts("和歌山県", "和歌山市", "七番丁23"));
        assert_eq!(split_address("石川県野々市市三納1-1"), parts("石川県", "野々市市", "三納1-1"));
        assert_eq!(split_address("東京都東村山市本町1-2-3"), parts("東京都", "東村山市", "本町1-2-3"));
        assert_eq!(split_address("長野県大町市大町3887"), parts("長野県", "大町市", "大町3887"));
        assert_eq!(split_address("福岡県小郡市小郡255-1"), parts("福岡県", "小郡市", "小郡255-1"));
        assert_eq!(split_address("福岡県小郡市大保町1"), parts("福岡県", "小郡市", "大保町1"));
        assert_eq!(split_address("東京都中央区築地市場1"), parts("東京都", "中央区", "築地市場1"));
    }

    #[test]
    fn an_address_without_a_city_keeps_everything_in_the_line() {
        assert_eq!(split_address("どこか"), parts("", "", "どこか"));
        assert_eq!(split_address(""), parts("", "", ""));
    }

    fn row(name: &str, kana: &str, address: &str) -> ProviderRow {
        ProviderRow {
            id: "x".into(),
            kind: "support_center".into(),
            name: name.into(),
            name_kana: kana.into(),
            parent_id: None,
            city_no: None,
            address: address.into(),
            phone: String::new(),
            jurisdiction: String::new(),
            operator_name: String::new(),
            is_emergency_hospital: false,
            created_at: 0,
            updated_at: 0,
            postal_code: String::new(),
            address_extra: String::new(),
            latitude: None,
            longitude: None,
            district: None,
            fax: String::new(),
            website: String::new(),
            corporate_number: String::new(),
            office_no: None,
            capacity: None,
            open_days: String::new(),
            open_days_note: String::new(),
            accepting: "unknown".into(),
            description: String::new(),
            contact_line: String::new(),
            contact_person: String::new(),
            contact_method: String::new(),
            contact_hours: String::new(),
            consult_on_holidays: false,
            search_text: String::new(),
            confirmed_at: None,
            version: 1,
            manual_fields: String::new(),
        }
    }

    #[test]
    fn the_name_criterion_finds_kana_in_any_script_but_not_the_address() {
        let r = row(
            "地域包括支援センターきしかわ",
            "ちいきほうかつしえんせんたー きしかわ",
            "石川県金沢市岸川町ほ5",
        );
        for q in ["きしかわ", "キシカワ", "ｷｼｶﾜ", "センター", "せんたーきしかわ"]
        {
            assert!(name_matches(&r, q, TextMatch::Contains), "{q}");
        }
        assert!(!name_matches(&r, "金沢", TextMatch::Contains));
        assert!(!name_matches(&r, "", TextMatch::Contains));
        assert!(name_matches(&r, "地域包括支援センターきしかわ", TextMatch::Exact));
        assert!(!name_matches(&r, "きしかわ", TextMatch::Exact));
    }

    #[test]
    fn the_phonetic_criterion_reads_only_the_kana() {
        let r = row(
            "地域包括支援センターきしかわ",
            "ちいきほうかつしえんせんたー きしかわ",
            "石川県金沢市岸川町ほ5",
        );
        assert!(phonetic_matches(&r, "ｷｼｶﾜ", TextMatch::Contains));
        assert!(!phonetic_matches(&r, "地域", TextMatch::Contains));
    }

    #[test]
    fn the_city_criterion_reads_the_city_part_of_the_address() {
        let r = row("どこか", "どこか", "石川県金沢市岸川町ほ5");
        assert!(city_matches(&r, "金沢市", TextMatch::Exact));
        assert!(city_matches(&r, "金沢", TextMatch::Contains));
        assert!(!city_matches(&r, "岸川", TextMatch::Contains));
        assert!(!city_matches(&r, "石川", TextMatch::Contains));
    }
}
