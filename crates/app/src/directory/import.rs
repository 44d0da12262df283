//! Import of the national care-service open data (介護サービス情報公表システム オープンデータ):
//! CSV files in UTF-8 with a BOM, one file per service kind, one line per office and service.
//!
//! - A file is matched by its header (the column names, in any order, spaces and full/half
//!   width forms ignored); a file without the national columns is refused as a whole.
//! - Every row is checked on its own: a row that cannot be used is reported with its line (as
//!   a person counts lines in the file, the header being line 1), the column and the reason,
//!   and skipped; the others go on.
//! - Offices are matched by their office number (事業所番号). A new office becomes a provider;
//!   a known one takes the file's values, except for the fields an operator changed by hand
//!   (`manual_fields`) and everything the file does not carry (contact route, capabilities,
//!   consultation hours, vacancies, district, accepting). Re-importing the same file writes
//!   nothing at all.
//! - The writes go one transaction per [`CHUNK_ROWS`] rows, with one look-up per chunk: a
//!   province's 200,000 offices import in minutes, not hours.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::directory::{GeoPoint, ServiceKind, search_text};
use tsunagu_domain::person::Duty;
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid, OrganisationId, Timestamp};
use tsunagu_store::Tx;
use tsunagu_store::directory::{OrgChangeRow, ProviderRow};
use unicode_normalization::UnicodeNormalization;

use crate::{Actor, App, AppError, Result};

/// The 24 columns of the national open data, in the order of its files (as published on the
/// MHLW open-data page of the care-service information publication system, 2024–2025 files
/// such as `jigyosho_110.csv` for 訪問介護). The export writes them first, so an exported
/// file imports again.
pub const NATIONAL_COLUMNS: [&str; 24] = [
    "都道府県コード又は市町村コード",
    "No",
    "都道府県名",
    "市区町村名",
    "事業所名",
    "事業所名カナ",
    "サービスの種類",
    "住所",
    "方書（ビル名等）",
    "緯度",
    "経度",
    "電話番号",
    "FAX番号",
    "法人番号",
    "法人の名称",
    "事業所番号",
    "利用可能曜日",
    "利用可能曜日特記事項",
    "定員",
    "URL",
    "高齢者の方と障害者の方が同時一体的に利用できるサービス",
    "介護保険の通常の指定基準を満たしている",
    "障害福祉の通常の指定基準を満たしている",
    "備考",
];

/// A file must have the first 20 national columns (through `URL`); the last four (共生型
/// service flags and remarks) are not read and may be missing.
pub const REQUIRED_COLUMNS: usize = 20;

/// Column positions in [`NATIONAL_COLUMNS`].
pub mod col {
    pub const CITY_CODE: usize = 0;
    pub const NO: usize = 1;
    pub const PREFECTURE: usize = 2;
    pub const CITY: usize = 3;
    pub const NAME: usize = 4;
    pub const NAME_KANA: usize = 5;
    pub const SERVICE: usize = 6;
    pub const ADDRESS: usize = 7;
    pub const ADDRESS_EXTRA: usize = 8;
    pub const LATITUDE: usize = 9;
    pub const LONGITUDE: usize = 10;
    pub const PHONE: usize = 11;
    pub const FAX: usize = 12;
    pub const CORPORATE_NUMBER: usize = 13;
    pub const OPERATOR_NAME: usize = 14;
    pub const OFFICE_NO: usize = 15;
    pub const OPEN_DAYS: usize = 16;
    pub const OPEN_DAYS_NOTE: usize = 17;
    pub const CAPACITY: usize = 18;
    pub const URL: usize = 19;
}

/// The provider fields the import writes, by their column names in `organisations`. These
/// are the names `manual_fields` lists (comma-separated) when an operator has changed one by
/// hand: a later import leaves a field so listed alone.
pub const IMPORTED_FIELDS: [&str; 14] = [
    "name",
    "name_kana",
    "address",
    "address_extra",
    "latitude",
    "longitude",
    "phone",
    "fax",
    "corporate_number",
    "operator_name",
    "open_days",
    "open_days_note",
    "capacity",
    "website",
];

/// Rows written per transaction.
pub const CHUNK_ROWS: usize = 2000;

/// The reasons a row or a file is refused for, as catalog keys (the web layer's catalog test
/// holds them to both languages).
pub const REASON_KEYS: [&str; 17] = [
    "directory_data.reason_office_no",
    "directory_data.reason_service",
    "directory_data.reason_point_half",
    "directory_data.reason_capacity",
    "directory_data.reason_columns",
    "directory_data.reason_encoding",
    "directory_data.reason_broken",
    "directory_data.file_header",
    "directory_data.file_empty",
    "directory_data.file_encoding",
    "error.required",
    "error.too_long",
    "error.control_chars",
    "error.not_a_number",
    "error.latitude_range",
    "error.longitude_range",
    "error.version_conflict",
];

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// The file's name as given.
    pub file: String,
    /// The line the row starts on (the header is line 1).
    pub line: u64,
    /// `field` is the national column (or `row` for the row as a whole); `code` the reason's
    /// catalog key.
    pub error: FieldError,
}

/// A file that was refused as a whole (nothing of it was imported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedFile {
    pub file: String,
    pub error: FieldError,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Files read (refused ones included).
    pub files: usize,
    /// Data rows read (the header not counted).
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<RejectedRow>,
    pub refused: Vec<RefusedFile>,
}

impl ImportReport {
    /// Adds another file's report to this one.
    pub fn merge(&mut self, other: ImportReport) {
        self.files += other.files;
        self.rows += other.rows;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.rejected.extend(other.rejected);
        self.refused.extend(other.refused);
    }

    /// Adds a file refused as a whole (an `AppError::Invalid` of [`App::import_directory`]).
    pub fn refuse(&mut self, file: &str, invalid: Invalid) {
        self.files += 1;
        for error in invalid.0 {
            self.refused.push(RefusedFile { file: file.to_string(), error });
        }
    }

    /// Rows that were not imported.
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }
}

/// The values of one usable row.
#[derive(Debug, Clone, PartialEq)]
struct Imported {
    name: String,
    name_kana: String,
    address: String,
    address_extra: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    phone: String,
    fax: String,
    corporate_number: String,
    operator_name: String,
    open_days: String,
    open_days_note: String,
    capacity: Option<i64>,
    website: String,
}

#[derive(Debug, Clone)]
struct ImportRow {
    line: u64,
    office_no: String,
    service: ServiceKind,
    values: Imported,
}

/// NFKC, trimmed: full-width digits and letters become ASCII, half-width kana full-width.
fn nfkc(s: &str) -> String {
    s.nfkc().collect::<String>().trim().to_string()
}

/// The header's column positions: national column index → position in the file.
fn header_map(headers: &csv::ByteRecord) -> std::result::Result<Vec<Option<usize>>, FieldError> {
    let mut names = Vec::with_capacity(headers.len());
    for h in headers.iter() {
        let s =
            std::str::from_utf8(h).map_err(|_| FieldError::new("file", "directory_data.file_encoding"))?;
        names.push(nfkc(s.trim_start_matches('\u{feff}')));
    }
    let positions: Vec<Option<usize>> =
        NATIONAL_COLUMNS.iter().map(|c| names.iter().position(|n| *n == nfkc(c))).collect();
    let missing: Vec<&str> = NATIONAL_COLUMNS[..REQUIRED_COLUMNS]
        .iter()
        .zip(&positions)
        .filter(|(_, p)| p.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        return Err(FieldError::new("file", "directory_data.file_header").arg("columns", missing.join("、")));
    }
    Ok(positions)
}

/// Checks one data row. `fields` are the row's values in file order.
fn check_row(
    fields: &[&str],
    pos: &[Option<usize>],
) -> std::result::Result<(String, ServiceKind, Imported), FieldError> {
    let get = |c: usize| pos[c].and_then(|p| fields.get(p)).copied().unwrap_or("");
    let name_of = |c: usize| NATIONAL_COLUMNS[c];
    let t = |c: usize, required: bool, max: usize| text(name_of(c), get(c), required, max);
    let nt = |c: usize, max: usize| text(name_of(c), &nfkc(get(c)), false, max);

    let office_no = nfkc(get(col::OFFICE_NO));
    if office_no.is_empty() {
        return Err(FieldError::new(name_of(col::OFFICE_NO), "error.required"));
    }
    if office_no.len() != 10 || !office_no.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(name_of(col::OFFICE_NO), "directory_data.reason_office_no"));
    }
    let name = t(col::NAME, true, 200)?;
    let service_name = get(col::SERVICE).trim();
    if service_name.is_empty() {
        return Err(FieldError::new(name_of(col::SERVICE), "error.required"));
    }
    let service = ServiceKind::from_national_name(service_name)
        .ok_or_else(|| FieldError::new(name_of(col::SERVICE), "directory_data.reason_service"))?;

    let lat = nfkc(get(col::LATITUDE));
    let lon = nfkc(get(col::LONGITUDE));
    let (latitude, longitude) = match (lat.is_empty(), lon.is_empty()) {
        (true, true) => (None, None),
        (false, true) => {
            return Err(FieldError::new(name_of(col::LONGITUDE), "directory_data.reason_point_half"));
        }
        (true, false) => {
            return Err(FieldError::new(name_of(col::LATITUDE), "directory_data.reason_point_half"));
        }
        (false, false) => {
            let a = lat
                .parse::<f64>()
                .map_err(|_| FieldError::new(name_of(col::LATITUDE), "error.not_a_number"))?;
            let b = lon
                .parse::<f64>()
                .map_err(|_| FieldError::new(name_of(col::LONGITUDE), "error.not_a_number"))?;
            let p = GeoPoint::new(a, b).map_err(|e| {
                let column = if e.field == "latitude" { col::LATITUDE } else { col::LONGITUDE };
                FieldError::new(name_of(column), e.code)
            })?;
            (Some(p.lat), Some(p.lon))
        }
    };

    let cap = nfkc(get(col::CAPACITY));
    let capacity = if cap.is_empty() {
        None
    } else {
        // Some files write whole numbers as `20.0`.
        let digits = cap.strip_suffix(".0").unwrap_or(&cap);
        match digits.parse::<i64>() {
            Ok(n) if (0..=100_000).contains(&n) => Some(n),
            _ => return Err(FieldError::new(name_of(col::CAPACITY), "directory_data.reason_capacity")),
        }
    };

    let values = Imported {
        name,
        name_kana: nt(col::NAME_KANA, 200)?,
        address: t(col::ADDRESS, false, 300)?,
        address_extra: t(col::ADDRESS_EXTRA, false, 200)?,
        latitude,
        longitude,
        phone: nt(col::PHONE, 40)?,
        fax: nt(col::FAX, 40)?,
        corporate_number: nt(col::CORPORATE_NUMBER, 20)?,
        operator_name: t(col::OPERATOR_NAME, false, 200)?,
        open_days: t(col::OPEN_DAYS, false, 200)?,
        open_days_note: t(col::OPEN_DAYS_NOTE, false, 2000)?,
        capacity,
        website: t(col::URL, false, 500)?,
    };
    Ok((office_no, service, values))
}

/// Reads a file's rows a chunk at a time.
struct RowReader<'a> {
    bytes: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    positions: Vec<Option<usize>>,
    header_len: usize,
    record: csv::ByteRecord,
    done: bool,
    /// A byte offset and the line it is on, for counting lines onwards from there.
    cursor: (usize, u64),
}

impl<'a> RowReader<'a> {
    /// Opens a file: strips the BOM and checks the header.
    fn open(bytes: &'a [u8]) -> std::result::Result<Self, FieldError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(FieldError::new("file", "directory_data.file_empty"));
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
        let headers =
            reader.byte_headers().map_err(|_| FieldError::new("file", "directory_data.file_header"))?.clone();
        let positions = header_map(&headers)?;
        Ok(Self {
            bytes,
            reader,
            positions,
            header_len: headers.len(),
            record: csv::ByteRecord::new(),
            done: false,
            cursor: (0, 1),
        })
    }

    /// The line (1-based, as a person counts them in the file) of the record that starts at
    /// byte `at`. The reader reports a record as starting where the previous one's line break
    /// ended, which with CRLF line ends is the `\n`; line breaks inside quoted fields count.
    fn line_at(&mut self, at: usize) -> u64 {
        let mut at = at.min(self.bytes.len());
        while at < self.bytes.len() && matches!(self.bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        let (from, line) = self.cursor;
        if at < from {
            return line;
        }
        let n = self.bytes[from..at].iter().filter(|b| **b == b'\n').count() as u64;
        self.cursor = (at, line + n);
        line + n
    }

    /// Up to `max` rows: the usable ones and the refused ones; `rows` counts both.
    fn next_chunk(
        &mut self,
        max: usize,
        rows: &mut usize,
        rejected: &mut Vec<(u64, FieldError)>,
    ) -> Vec<ImportRow> {
        let mut out = Vec::new();
        while !self.done && out.len() < max {
            let start = self.reader.position().byte();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    *rows += 1;
                    let at = self.record.position().map_or(start, |p| p.byte());
                    let line = self.line_at(usize::try_from(at).unwrap_or(usize::MAX));
                    match self.check() {
                        Ok((office_no, service, values)) => {
                            out.push(ImportRow { line, office_no, service, values })
                        }
                        Err(e) => rejected.push((line, e)),
                    }
                }
                Err(e) => {
                    // The CSV cannot be read on from here (reading from memory, this is a
                    // malformed record, not an I/O error).
                    let at = e.position().map_or(start, |p| p.byte());
                    let line = self.line_at(usize::try_from(at).unwrap_or(usize::MAX));
                    rejected.push((line, FieldError::new("row", "directory_data.reason_broken")));
                    *rows += 1;
                    self.done = true;
                }
            }
        }
        out
    }

    fn check(&self) -> std::result::Result<(String, ServiceKind, Imported), FieldError> {
        if self.record.len() != self.header_len {
            return Err(FieldError::new("row", "directory_data.reason_columns"));
        }
        let mut fields = Vec::with_capacity(self.record.len());
        for f in self.record.iter() {
            fields.push(
                std::str::from_utf8(f)
                    .map_err(|_| FieldError::new("row", "directory_data.reason_encoding"))?,
            );
        }
        check_row(&fields, &self.positions)
    }
}

/// The imported fields of a provider as JSON values, by [`IMPORTED_FIELDS`] name.
fn field_value(p: &ProviderRow, field: &str) -> Value {
    match field {
        "name" => json!(p.name),
        "name_kana" => json!(p.name_kana),
        "address" => json!(p.address),
        "address_extra" => json!(p.address_extra),
        "latitude" => json!(p.latitude),
        "longitude" => json!(p.longitude),
        "phone" => json!(p.phone),
        "fax" => json!(p.fax),
        "corporate_number" => json!(p.corporate_number),
        "operator_name" => json!(p.operator_name),
        "open_days" => json!(p.open_days),
        "open_days_note" => json!(p.open_days_note),
        "capacity" => json!(p.capacity),
        "website" => json!(p.website),
        _ => Value::Null,
    }
}

/// Writes the imported values into a provider row, except the fields in `keep`.
fn apply(p: &mut ProviderRow, v: &Imported, keep: &BTreeSet<String>) {
    let free = |f: &str| !keep.contains(f);
    if free("name") {
        p.name.clone_from(&v.name);
    }
    if free("name_kana") {
        p.name_kana.clone_from(&v.name_kana);
    }
    if free("address") {
        p.address.clone_from(&v.address);
    }
    if free("address_extra") {
        p.address_extra.clone_from(&v.address_extra);
    }
    if free("latitude") {
        p.latitude = v.latitude;
    }
    if free("longitude") {
        p.longitude = v.longitude;
    }
    if free("phone") {
        p.phone.clone_from(&v.phone);
    }
    if free("fax") {
        p.fax.clone_from(&v.fax);
    }
    if free("corporate_number") {
        p.corporate_number.clone_from(&v.corporate_number);
    }
    if free("operator_name") {
        p.operator_name.clone_from(&v.operator_name);
    }
    if free("open_days") {
        p.open_days.clone_from(&v.open_days);
    }
    if free("open_days_note") {
        p.open_days_note.clone_from(&v.open_days_note);
    }
    if free("capacity") {
        p.capacity = v.capacity;
    }
    if free("website") {
        p.website.clone_from(&v.website);
    }
    p.search_text =
        search_text(&p.name, &p.name_kana, &p.address, &p.address_extra, p.district.as_deref().unwrap_or(""));
}

/// The fields an operator changed by hand, from `manual_fields`.
fn manual_fields(p: &ProviderRow) -> BTreeSet<String> {
    p.manual_fields.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn new_provider(now: Timestamp, office_no: &str, service: ServiceKind, v: &Imported) -> ProviderRow {
    let mut p = ProviderRow {
        id: OrganisationId::new().to_string(),
        kind: service.org_kind().code().to_string(),
        name: String::new(),
        name_kana: String::new(),
        parent_id: None,
        city_no: None,
        address: String::new(),
        phone: String::new(),
        jurisdiction: String::new(),
        operator_name: String::new(),
        is_emergency_hospital: false,
        created_at: now.micros(),
        updated_at: now.micros(),
        postal_code: String::new(),
        address_extra: String::new(),
        latitude: None,
        longitude: None,
        district: None,
        fax: String::new(),
        website: String::new(),
        corporate_number: String::new(),
        office_no: Some(office_no.to_string()),
        capacity: None,
        open_days: String::new(),
        open_days_note: String::new(),
        accepting: tsunagu_domain::directory::Accepting::Unknown.code().to_string(),
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
    };
    apply(&mut p, v, &BTreeSet::new());
    p
}

/// What one chunk did.
#[derive(Default)]
struct ChunkOutcome {
    created: usize,
    updated: usize,
    unchanged: usize,
    conflicts: Vec<(u64, FieldError)>,
}

/// Writes one chunk of usable rows in `tx`: one look-up of the offices and their services,
/// then the inserts several at a time and an update (with its change record) per changed
/// office.
async fn write_chunk(tx: &mut Tx, now: Timestamp, rows: Vec<ImportRow>) -> Result<ChunkOutcome> {
    let mut out = ChunkOutcome::default();
    let office_nos: Vec<String> =
        rows.iter().map(|r| r.office_no.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut existing: HashMap<String, ProviderRow> = tx
        .providers_by_office_nos(&office_nos)
        .await?
        .into_iter()
        .filter_map(|p| p.office_no.clone().map(|no| (no, p)))
        .collect();
    let ids: Vec<String> = existing.values().map(|p| p.id.clone()).collect();
    let mut services: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (id, s) in tx.services_of(&ids).await? {
        services.entry(id).or_default().insert(s);
    }
    // Offices first seen in this chunk, inserted at its end (office number → index).
    let mut fresh: Vec<ProviderRow> = Vec::new();
    let mut fresh_at: HashMap<String, usize> = HashMap::new();
    let mut new_services: Vec<(String, String)> = Vec::new();

    for row in rows {
        let service = row.service.code().to_string();
        if let Some(&i) = fresh_at.get(&row.office_no) {
            // The same office twice in one chunk: the later row wins, as it would in the next.
            let p = &mut fresh[i];
            let before = p.clone();
            apply(p, &row.values, &BTreeSet::new());
            let has = services.entry(p.id.clone()).or_default();
            let added = has.insert(service.clone());
            if added {
                new_services.push((p.id.clone(), service));
            }
            if added || *p != before {
                out.updated += 1
            } else {
                out.unchanged += 1
            }
            continue;
        }
        let Some(old) = existing.get(&row.office_no) else {
            let p = new_provider(now, &row.office_no, row.service, &row.values);
            services.entry(p.id.clone()).or_default().insert(service.clone());
            new_services.push((p.id.clone(), service));
            fresh_at.insert(row.office_no.clone(), fresh.len());
            fresh.push(p);
            out.created += 1;
            continue;
        };
        let keep = manual_fields(old);
        let mut new = old.clone();
        apply(&mut new, &row.values, &keep);
        let mut changes: Vec<Value> = IMPORTED_FIELDS
            .iter()
            .filter(|f| field_value(old, f) != field_value(&new, f))
            .map(|f| json!({"field": f, "old": field_value(old, f), "new": field_value(&new, f)}))
            .collect();
        let has = services.entry(old.id.clone()).or_default();
        if !has.contains(&service) {
            let before: Vec<&String> = has.iter().collect();
            let mut after = before.clone();
            after.push(&service);
            after.sort();
            changes.push(json!({"field": "services", "old": before, "new": after}));
        }
        if changes.is_empty() {
            out.unchanged += 1;
            continue;
        }
        new.version = old.version + 1;
        new.updated_at = now.micros();
        if !tx.update_provider(&new, old.version).await? {
            out.conflicts.push((
                row.line,
                FieldError::new(NATIONAL_COLUMNS[col::OFFICE_NO], "error.version_conflict"),
            ));
            continue;
        }
        tx.insert_org_change(&OrgChangeRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: new.id.clone(),
            changed_by: None,
            changed_at: now.micros(),
            source: "import".to_string(),
            changes: Value::Array(changes).to_string(),
        })
        .await?;
        if has.insert(service.clone()) {
            new_services.push((new.id.clone(), service));
        }
        existing.insert(row.office_no, new);
        out.updated += 1;
    }
    tx.insert_providers(&fresh).await?;
    tx.add_provider_services(&new_services).await?;
    Ok(out)
}

/// Whether a person may import the open data: the home-care coordinator, who keeps the
/// directory, or the system administrator.
pub fn may_import(actor: &Actor) -> bool {
    actor.has_duty(Duty::HomeCareCoordinator) || actor.has_duty(Duty::SystemAdministrator)
}

impl App {
    /// Refuses (and audits) anyone who may not import.
    pub async fn ensure_may_import(&self, actor: &Actor) -> Result<()> {
        if may_import(actor) {
            return Ok(());
        }
        let e = actor.event(self.now(), Action::AccessRefused, Outcome::Refused).detail("directory.import");
        self.store.append_audit(vec![e]).await?;
        Err(AppError::Forbidden)
    }

    /// Imports one national open-data file on behalf of the coordinator or an administrator.
    /// A file without the national columns is refused as a whole (`AppError::Invalid`, field
    /// `file`); rows that cannot be used are in the report.
    pub async fn import_directory(
        &self,
        actor: &Actor,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportReport> {
        self.ensure_may_import(actor).await?;
        actor.ensure_may_write()?;
        self.import_file(Some(actor), file_name, bytes).await
    }

    /// The same import run by the operator from the command line (the audit event says `cli`).
    pub async fn import_directory_from_cli(&self, file_name: &str, bytes: &[u8]) -> Result<ImportReport> {
        self.import_file(None, file_name, bytes).await
    }

    async fn import_file(
        &self,
        actor: Option<&Actor>,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportReport> {
        let now = self.now();
        let mut reader = RowReader::open(bytes).map_err(Invalid::from)?;
        let mut report = ImportReport { files: 1, ..ImportReport::default() };
        let mut rejected: Vec<(u64, FieldError)> = Vec::new();
        loop {
            let rows = reader.next_chunk(CHUNK_ROWS, &mut report.rows, &mut rejected);
            let last = reader.done;
            let mut tx = self.store.begin().await?;
            if !rows.is_empty() {
                let o = write_chunk(&mut tx, now, rows).await?;
                report.created += o.created;
                report.updated += o.updated;
                report.unchanged += o.unchanged;
                rejected.extend(o.conflicts);
            }
            if last {
                let counts = format!(
                    "rows={} created={} updated={} unchanged={} rejected={}",
                    report.rows,
                    report.created,
                    report.updated,
                    report.unchanged,
                    rejected.len()
                );
                let event = match actor {
                    Some(a) => a.event(now, Action::DirectoryImported, Outcome::Success).detail(counts),
                    None => NewEvent::new(now, Action::DirectoryImported, Outcome::Success)
                        .detail(format!("cli {counts}")),
                };
                tx.append_audit(event).await?;
                tx.commit().await?;
                break;
            }
            tx.commit().await?;
        }
        rejected.sort_by_key(|(line, _)| *line);
        report.rejected = rejected
            .into_iter()
            .map(|(line, error)| RejectedRow { file: file_name.to_string(), line, error })
            .collect();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> String {
        NATIONAL_COLUMNS.join(",")
    }

    #[test]
    fn a_header_with_spaces_and_half_width_brackets_is_accepted() {
        let mut names: Vec<String> = NATIONAL_COLUMNS.iter().map(|c| format!(" {c} ")).collect();
        names[col::ADDRESS_EXTRA] = "方書(ビル名等)".to_string();
        let csv = format!("{}\n", names.join(","));
        assert!(RowReader::open(csv.as_bytes()).is_ok());
    }

    #[test]
    fn a_header_without_the_office_number_is_refused_naming_it() {
        let names: Vec<&str> = NATIONAL_COLUMNS.iter().copied().filter(|c| *c != "事業所番号").collect();
        let e = RowReader::open(format!("{}\n", names.join(",")).as_bytes()).err().unwrap();
        assert_eq!(e.code, "directory_data.file_header");
        assert_eq!(e.args, vec![("columns", "事業所番号".to_string())]);
    }

    #[test]
    fn the_four_trailing_columns_may_be_missing() {
        let csv = format!("{}\n", NATIONAL_COLUMNS[..REQUIRED_COLUMNS].join(","));
        assert!(RowReader::open(csv.as_bytes()).is_ok());
    }

    #[test]
    fn a_shift_jis_header_is_refused_as_an_encoding_problem() {
        // 「事業所」 in Shift_JIS.
        let e = RowReader::open(b"\x8e\x96\x8b\xc6\x8f\x8a,No\n").err().unwrap();
        assert_eq!(e.code, "directory_data.file_encoding");
    }

    #[test]
    fn lines_are_counted_as_in_the_file_even_after_a_quoted_line_break() {
        let mut row: Vec<String> = vec![String::new(); 24];
        row[col::NAME] = "\"事業所\nA\"".into();
        row[col::SERVICE] = "訪問介護".into();
        row[col::OFFICE_NO] = "1710000001".into();
        let good = row.join(",");
        row[col::OFFICE_NO] = "17100".into();
        let bad = row.join(",");
        for end in ["\r\n", "\n"] {
            let csv = format!("\u{feff}{}{end}{good}{end}{bad}{end}{end}{good}{end}", header());
            let mut r = RowReader::open(csv.as_bytes()).unwrap();
            let (mut n, mut rejected) = (0, Vec::new());
            let rows = r.next_chunk(10, &mut n, &mut rejected);
            assert_eq!(n, 3, "{rows:?} {rejected:?}");
            assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 7], "{end:?}");
            assert_eq!(rows[0].values.name, "事業所\nA");
            assert_eq!(rejected[0].0, 4, "the bad row starts on line 4: {rejected:?}");
            assert_eq!(rejected[0].1.code, "directory_data.reason_office_no");
        }
    }

    fn check(
        f: impl FnOnce(&mut Vec<&'static str>),
    ) -> std::result::Result<(String, ServiceKind, Imported), FieldError> {
        let mut row: Vec<&'static str> = vec![""; 24];
        row[col::NAME] = "ケアセンター金沢";
        row[col::SERVICE] = "短期入所療養介護（介護老人保健施設）";
        row[col::OFFICE_NO] = "１７１０００００１２";
        row[col::LATITUDE] = "36.5613";
        row[col::LONGITUDE] = "136.6562";
        f(&mut row);
        let pos: Vec<Option<usize>> = (0..24).map(Some).collect();
        check_row(&row, &pos)
    }

    #[test]
    fn a_good_row_is_normalised() {
        let (no, service, v) = check(|r| {
            r[col::NAME_KANA] = "ｹｱｾﾝﾀｰｶﾅｻﾞﾜ";
            r[col::CAPACITY] = "２０";
            r[col::PHONE] = "０７６-２２２-１１１１";
        })
        .unwrap();
        assert_eq!(no, "1710000012");
        assert_eq!(service, ServiceKind::MedicalShortStay);
        assert_eq!(v.name_kana, "ケアセンターカナザワ");
        assert_eq!(v.capacity, Some(20));
        assert_eq!(v.phone, "076-222-1111");
        assert_eq!(v.latitude, Some(36.5613));
    }

    #[test]
    fn bad_rows_name_the_column_and_the_reason() {
        type Edit = Box<dyn FnOnce(&mut Vec<&'static str>)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (Box::new(|r| r[col::OFFICE_NO] = "17-1000001"), "事業所番号", "directory_data.reason_office_no"),
            (Box::new(|r| r[col::OFFICE_NO] = ""), "事業所番号", "error.required"),
            (Box::new(|r| r[col::NAME] = " "), "事業所名", "error.required"),
            (
                Box::new(|r| r[col::SERVICE] = "有料老人ホーム"),
                "サービスの種類",
                "directory_data.reason_service",
            ),
            (Box::new(|r| r[col::LATITUDE] = "北緯36度"), "緯度", "error.not_a_number"),
            (Box::new(|r| r[col::LATITUDE] = "136.6"), "緯度", "error.latitude_range"),
            (Box::new(|r| r[col::LONGITUDE] = ""), "経度", "directory_data.reason_point_half"),
            (Box::new(|r| r[col::CAPACITY] = "-1"), "定員", "directory_data.reason_capacity"),
            (Box::new(|r| r[col::CAPACITY] = "二十"), "定員", "directory_data.reason_capacity"),
        ];
        for (edit, field, code) in cases {
            let e = check(edit).unwrap_err();
            assert_eq!((e.field, e.code), (field, code));
        }
    }

    #[test]
    fn both_coordinates_may_be_empty() {
        let (_, _, v) = check(|r| {
            r[col::LATITUDE] = "";
            r[col::LONGITUDE] = " ";
        })
        .unwrap();
        assert_eq!((v.latitude, v.longitude), (None, None));
    }

    #[test]
    fn every_imported_field_has_a_value() {
        let p = new_provider(Timestamp(0), "1710000012", ServiceKind::HomeHelp, &check(|_| {}).unwrap().2);
        for f in IMPORTED_FIELDS {
            assert!(
                matches!(f, "latitude" | "longitude" | "capacity") || field_value(&p, f).is_string(),
                "{f}"
            );
        }
        assert_eq!(field_value(&p, "latitude"), json!(36.5613));
        assert_eq!(p.kind, "home_help_provider");
    }
}
