//! The upkeep of directory entries (issue 4 §6): a provider's operator edits their own entry,
//! the home-care coordinator any; every change is kept with who and when (`org_changes`); an
//! entry nobody has confirmed for `directory_confirm_days` is flagged to its operator.
//!
//! Decisions (docs/directory-upkeep.md): saving the edit form confirms the entry only when it
//! changed something; an unchanged save writes nothing, and the separate "still true" action
//! ([`App::confirm_provider`]) is what confirms an entry as it stands. A confirmation does not
//! bump the entry's version, so it never makes an open edit form stale.

use serde_json::{Value, json};
use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::directory::{
    Accepting, Capability, ContactMethod, GeoPoint, MedicalDepartment, ServiceKind, search_text,
};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::person::Duty;
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid};
use tsunagu_store::directory::{CodeSet, OrgChangeRow, ProviderCodes, ProviderRow};

use crate::directory::is_professional;
use crate::{Actor, App, AppError, Result};

/// The fields the open-data import writes (their names go into `manual_fields` when an operator
/// changes one by hand on an imported entry, and a newer import leaves them alone).
pub use crate::directory::import::IMPORTED_FIELDS;

/// How many changes the history shows.
pub const HISTORY_LIMIT: i64 = 200;
/// How many unconfirmed entries the coordinator's list shows.
pub const UNCONFIRMED_LIMIT: i64 = 200;

/// An entry's fields as the edit form sends them: raw strings, checked by
/// [`App::update_provider`].
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct ProviderChanges {
    pub name: String,
    pub name_kana: String,
    pub kind: String,
    pub postal_code: String,
    pub address: String,
    /// 方書: building, floor.
    pub address_extra: String,
    /// `lat,lon`; empty: no coordinates.
    pub location: String,
    pub district: String,
    pub phone: String,
    pub fax: String,
    pub website: String,
    pub corporate_number: String,
    pub operator_name: String,
    pub accepting: String,
    pub capacity: String,
    pub open_days: String,
    pub open_days_note: String,
    pub description: String,
    pub contact_line: String,
    pub contact_person: String,
    pub contact_method: String,
    pub contact_hours: String,
    pub services: Vec<String>,
    pub departments: Vec<String>,
    pub capabilities: Vec<String>,
}

impl ProviderChanges {
    /// The form filled with an entry as it stands.
    pub fn of(row: &ProviderRow, codes: &ProviderCodes) -> Self {
        Self {
            name: row.name.clone(),
            name_kana: row.name_kana.clone(),
            kind: row.kind.clone(),
            postal_code: row.postal_code.clone(),
            address: row.address.clone(),
            address_extra: row.address_extra.clone(),
            location: match (row.latitude, row.longitude) {
                (Some(lat), Some(lon)) => format!("{lat},{lon}"),
                _ => String::new(),
            },
            district: row.district.clone().unwrap_or_default(),
            phone: row.phone.clone(),
            fax: row.fax.clone(),
            website: row.website.clone(),
            corporate_number: row.corporate_number.clone(),
            operator_name: row.operator_name.clone(),
            accepting: row.accepting.clone(),
            capacity: row.capacity.map(|c| c.to_string()).unwrap_or_default(),
            open_days: row.open_days.clone(),
            open_days_note: row.open_days_note.clone(),
            description: row.description.clone(),
            contact_line: row.contact_line.clone(),
            contact_person: row.contact_person.clone(),
            contact_method: row.contact_method.clone(),
            contact_hours: row.contact_hours.clone(),
            services: codes.services.clone(),
            departments: codes.departments.clone(),
            capabilities: codes.capabilities.clone(),
        }
    }
}

/// An entry opened for editing.
#[derive(Debug, Clone)]
pub struct ProviderEdit {
    pub row: ProviderRow,
    pub codes: ProviderCodes,
    pub needs_confirmation: bool,
}

/// The result of a save.
#[derive(Debug, Clone)]
pub struct ProviderSaved {
    pub row: ProviderRow,
    /// The fields that changed (empty: nothing was written).
    pub changed: Vec<String>,
}

/// One field of one change, old and new as stored in `org_changes` (strings, numbers, `null`,
/// lists of codes, or for consultation hours an object naming the slot or exception).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// One entry of an entry's history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub changed_at: i64,
    /// The person who made the change; `None` with `by_importer` for the open-data import.
    pub changed_by_name: Option<String>,
    pub by_importer: bool,
    /// `edit`, `confirm`, `import`, `hours`.
    pub source: String,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone)]
pub struct ProviderHistory {
    pub row: ProviderRow,
    pub entries: Vec<HistoryEntry>,
}

/// What the home page tells the people who keep the directory.
#[derive(Debug, Clone, Default)]
pub struct UpkeepNotice {
    /// An operator's own entries that wait for confirmation.
    pub own: Vec<ProviderRow>,
    /// For the coordinator: how many entries of the region wait.
    pub region_total: Option<i64>,
}

/// A checked edit, ready to write.
struct Checked {
    row: ProviderRow,
    codes: ProviderCodes,
}

fn push<T>(r: std::result::Result<T, FieldError>, errs: &mut Invalid) -> Option<T> {
    r.map_err(|e| errs.push(e)).ok()
}

/// A phone or fax number: full-width digits and hyphens accepted, stored half-width.
fn phone(field: &'static str, value: &str, errs: &mut Invalid) -> String {
    let v = push(text(field, &tsunagu_domain::text::fold(value), false, 20), errs).unwrap_or_default();
    if !v.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ') {
        errs.push(FieldError::new(field, "error.phone_chars"));
    }
    v
}

/// `920-0000` (full-width digits, `〒` and a missing hyphen accepted).
fn postal_code(value: &str, errs: &mut Invalid) -> String {
    let folded = tsunagu_domain::text::fold(value).replace(['〒', ' '], "");
    if folded.is_empty() {
        return String::new();
    }
    let digits: String = folded.chars().filter(|c| *c != '-').collect();
    let shape_ok = folded.len() == 7 || (folded.len() == 8 && folded.as_bytes().get(3) == Some(&b'-'));
    if !shape_ok || digits.len() != 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        errs.push(FieldError::new("postal_code", "error.directory_upkeep.postal_code"));
        return String::new();
    }
    format!("{}-{}", &digits[..3], &digits[3..])
}

/// An `http`/`https` address with a host.
fn website(value: &str, errs: &mut Invalid) -> String {
    let v = push(text("website", value, false, 300), errs).unwrap_or_default();
    if v.is_empty() {
        return v;
    }
    let ok = url::Url::parse(&v).ok().is_some_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    }) && !v.chars().any(char::is_whitespace);
    if !ok {
        errs.push(FieldError::new("website", "error.directory_upkeep.bad_url"));
    }
    v
}

fn codes<T>(
    field: &'static str,
    given: &[String],
    parse: impl Fn(&'static str, &str) -> std::result::Result<T, FieldError>,
    code: impl Fn(&T) -> &'static str,
    errs: &mut Invalid,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in given.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        match parse(field, c) {
            Ok(v) => out.push(code(&v).to_string()),
            Err(e) => {
                if !errs.has(field) {
                    errs.push(e);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The fields of an entry as `org_changes` records them, in the order of the form.
fn fields_of(row: &ProviderRow, codes: &ProviderCodes) -> Vec<(&'static str, Value)> {
    let opt_str = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| json!(s));
    vec![
        ("name", json!(row.name)),
        ("name_kana", json!(row.name_kana)),
        ("kind", json!(row.kind)),
        ("postal_code", json!(row.postal_code)),
        ("address", json!(row.address)),
        ("address_extra", json!(row.address_extra)),
        ("latitude", json!(row.latitude)),
        ("longitude", json!(row.longitude)),
        ("district", opt_str(&row.district)),
        ("phone", json!(row.phone)),
        ("fax", json!(row.fax)),
        ("website", json!(row.website)),
        ("corporate_number", json!(row.corporate_number)),
        ("operator_name", json!(row.operator_name)),
        ("accepting", json!(row.accepting)),
        ("capacity", json!(row.capacity)),
        ("open_days", json!(row.open_days)),
        ("open_days_note", json!(row.open_days_note)),
        ("description", json!(row.description)),
        ("contact_line", json!(row.contact_line)),
        ("contact_person", json!(row.contact_person)),
        ("contact_method", json!(row.contact_method)),
        ("contact_hours", json!(row.contact_hours)),
        ("services", json!(codes.services)),
        ("departments", json!(codes.departments)),
        ("capabilities", json!(codes.capabilities)),
    ]
}

/// The comma-separated `manual_fields` with `more` added (each once, order kept).
fn with_manual_fields(current: &str, more: &[&str]) -> String {
    let mut list: Vec<String> =
        current.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    for f in more {
        if !list.iter().any(|x| x == f) {
            list.push((*f).to_string());
        }
    }
    list.join(",")
}

/// Reads an `org_changes.changes` JSON list; anything unreadable is no change.
fn parse_changes(s: &str) -> Vec<FieldChange> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(s) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|i| {
            let field = i.get("field")?.as_str()?.to_string();
            Some(FieldChange {
                field,
                old: i.get("old").cloned().unwrap_or(Value::Null),
                new: i.get("new").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

impl App {
    /// The oldest confirmation that still counts (older: the entry is flagged).
    fn confirmation_limit(&self) -> i64 {
        self.now().plus_seconds(-self.config.directory_confirm_days * 86_400).micros()
    }

    /// An entry the actor may edit. A malformed id and a missing entry are `NotFound`; an
    /// entry that is not theirs is `Forbidden` (directory entries are public, so nothing is
    /// hidden by saying so), with an `access.refused` event. Writes also refuse read-only tokens.
    pub(crate) async fn editable_provider(
        &self,
        actor: &Actor,
        id: &str,
        write: bool,
    ) -> Result<ProviderRow> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(AppError::NotFound);
        }
        let Some(row) = self.store.provider(id).await? else {
            return Err(AppError::NotFound);
        };
        if !is_professional(Some(actor)) || !self.can_edit_provider(actor, &row.id) {
            self.store
                .append_audit(vec![
                    actor
                        .event(self.now(), Action::AccessRefused, Outcome::Refused)
                        .target("organisation", &row.id)
                        .detail("directory upkeep"),
                ])
                .await?;
            return Err(AppError::Forbidden);
        }
        if write {
            actor.ensure_may_write()?;
        }
        Ok(row)
    }

    /// An entry with its codes, for its edit form (its operator or the coordinator).
    pub async fn provider_for_edit(&self, actor: &Actor, id: &str) -> Result<ProviderEdit> {
        let row = self.editable_provider(actor, id, false).await?;
        let codes = self.store.provider_codes(&row.id).await?;
        let needs_confirmation = self.needs_confirmation(&row);
        Ok(ProviderEdit { row, codes, needs_confirmation })
    }

    async fn check_changes(
        &self,
        old: &ProviderRow,
        input: &ProviderChanges,
        errs: &mut Invalid,
    ) -> Result<Option<Checked>> {
        let name = push(text("name", &input.name, true, 100), errs).unwrap_or_default();
        let name_kana = push(text("name_kana", &input.name_kana, false, 100), errs).unwrap_or_default();
        if !name_kana.is_empty() && !tsunagu_domain::text::is_kana_text(&name_kana) {
            errs.push(FieldError::new("name_kana", "error.kana_only"));
        }
        let kind = push(OrgKind::parse("kind", input.kind.trim()), errs);
        if let (Some(k), Some(was)) = (kind, OrgKind::from_code(&old.kind))
            && k != was
            && (k.is_support_center() || was.is_support_center())
        {
            // A center's kind goes with its districts: the administrator changes it.
            errs.push(FieldError::new("kind", "error.directory_upkeep.kind_locked"));
        }
        let postal_code = postal_code(&input.postal_code, errs);
        let address = push(text("address", &input.address, false, 200), errs).unwrap_or_default();
        let address_extra =
            push(text("address_extra", &input.address_extra, false, 100), errs).unwrap_or_default();
        let location = if input.location.trim().is_empty() {
            None
        } else {
            push(
                GeoPoint::parse_pair(&input.location).map_err(|e| FieldError { field: "location", ..e }),
                errs,
            )
        };
        let district = push(text("district", &input.district, false, 40), errs).unwrap_or_default();
        let district = if district.is_empty() {
            None
        } else if self.store.center_for_district(&district).await?.is_some() {
            Some(district)
        } else {
            errs.push(FieldError::new("district", "error.unknown_district"));
            None
        };
        let phone_no = phone("phone", &input.phone, errs);
        let fax = phone("fax", &input.fax, errs);
        let contact_line = phone("contact_line", &input.contact_line, errs);
        let website = website(&input.website, errs);
        let corporate_number = push(
            text("corporate_number", &tsunagu_domain::text::fold(&input.corporate_number), false, 13),
            errs,
        )
        .unwrap_or_default();
        if !corporate_number.is_empty()
            && (corporate_number.len() != 13 || !corporate_number.bytes().all(|b| b.is_ascii_digit()))
        {
            errs.push(FieldError::new("corporate_number", "error.directory_upkeep.corporate_number"));
        }
        let operator_name =
            push(text("operator_name", &input.operator_name, false, 200), errs).unwrap_or_default();
        let accepting = if input.accepting.trim().is_empty() {
            Some(Accepting::Unknown)
        } else {
            let a = Accepting::from_code(input.accepting.trim());
            if a.is_none() {
                errs.push(FieldError::new("accepting", "error.unknown_choice"));
            }
            a
        };
        let capacity_text = tsunagu_domain::text::fold(&input.capacity);
        let capacity = if capacity_text.is_empty() {
            None
        } else {
            match capacity_text.parse::<i64>() {
                Ok(n) if (0..=9999).contains(&n) => Some(n),
                _ => {
                    errs.push(FieldError::new("capacity", "error.directory_upkeep.capacity"));
                    None
                }
            }
        };
        let open_days = push(text("open_days", &input.open_days, false, 100), errs).unwrap_or_default();
        let open_days_note =
            push(text("open_days_note", &input.open_days_note, false, 500), errs).unwrap_or_default();
        let description =
            push(text("description", &input.description, false, 2000), errs).unwrap_or_default();
        let contact_person =
            push(text("contact_person", &input.contact_person, false, 100), errs).unwrap_or_default();
        let contact_method = if input.contact_method.trim().is_empty() {
            String::new()
        } else {
            push(ContactMethod::parse("contact_method", input.contact_method.trim()), errs)
                .map(|m| m.code().to_string())
                .unwrap_or_default()
        };
        let contact_hours =
            push(text("contact_hours", &input.contact_hours, false, 200), errs).unwrap_or_default();
        let codes = ProviderCodes {
            services: codes("services", &input.services, ServiceKind::parse, |s| s.code(), errs),
            departments: codes(
                "departments",
                &input.departments,
                MedicalDepartment::parse,
                |d| d.code(),
                errs,
            ),
            capabilities: codes("capabilities", &input.capabilities, Capability::parse, |c| c.code(), errs),
        };
        let (Some(kind), Some(accepting)) = (kind, accepting) else { return Ok(None) };
        let row = ProviderRow {
            kind: kind.code().to_string(),
            search_text: search_text(
                &name,
                &name_kana,
                &address,
                &address_extra,
                district.as_deref().unwrap_or(""),
            ),
            name,
            name_kana,
            postal_code,
            address,
            address_extra,
            latitude: location.map(|p| p.lat),
            longitude: location.map(|p| p.lon),
            district,
            phone: phone_no,
            fax,
            website,
            corporate_number,
            operator_name,
            accepting: accepting.code().to_string(),
            capacity,
            open_days,
            open_days_note,
            description,
            contact_line,
            contact_person,
            contact_method,
            contact_hours,
            ..old.clone()
        };
        Ok(Some(Checked { row, codes }))
    }

    /// Saves an entry's edit (its operator or the coordinator). Refused without a change when
    /// any field is wrong, or as `error.version_conflict` when someone saved the entry after
    /// `expected_version` was read. A save that changes something writes one `org_changes` row
    /// (`edit`, with each changed field's old and new value), confirms the entry, bumps its
    /// version and, for an imported entry, marks the imported fields changed by hand so a newer
    /// import leaves them alone. A save that changes nothing writes nothing.
    pub async fn update_provider(
        &self,
        actor: &Actor,
        id: &str,
        input: ProviderChanges,
        expected_version: i64,
    ) -> Result<ProviderSaved> {
        let old = self.editable_provider(actor, id, true).await?;
        let conflict = || AppError::Invalid(FieldError::new("version", "error.version_conflict").into());
        let mut errs = Invalid::default();
        let checked = self.check_changes(&old, &input, &mut errs).await?;
        errs.clone().into_result()?;
        let Some(Checked { mut row, codes }) = checked else { return Err(AppError::Invalid(errs)) };
        if old.version != expected_version {
            return Err(conflict());
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let old_codes = tx.provider_codes(&old.id).await?;
        let before = fields_of(&old, &old_codes);
        let after = fields_of(&row, &codes);
        let changes: Vec<(&'static str, Value, Value)> = before
            .into_iter()
            .zip(after)
            .filter(|((_, a), (_, b))| a != b)
            .map(|((f, a), (_, b))| (f, a, b))
            .collect();
        if changes.is_empty() {
            drop(tx);
            return Ok(ProviderSaved { row: old, changed: Vec::new() });
        }
        let changed: Vec<&'static str> = changes.iter().map(|(f, ..)| *f).collect();
        if old.office_no.is_some() {
            let manual: Vec<&str> = changed.iter().copied().filter(|f| IMPORTED_FIELDS.contains(f)).collect();
            row.manual_fields = with_manual_fields(&old.manual_fields, &manual);
        }
        row.version = old.version + 1;
        row.updated_at = now.micros();
        row.confirmed_at = Some(now.micros());
        if !tx.update_provider(&row, expected_version).await? {
            return Err(conflict());
        }
        for (set, field, list) in [
            (CodeSet::Services, "services", &codes.services),
            (CodeSet::Departments, "departments", &codes.departments),
            (CodeSet::Capabilities, "capabilities", &codes.capabilities),
        ] {
            if changed.contains(&field) {
                tx.set_provider_codes(&row.id, set, list).await?;
            }
        }
        let log: Vec<Value> =
            changes.iter().map(|(f, old, new)| json!({"field": f, "old": old, "new": new})).collect();
        tx.insert_org_change(&OrgChangeRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: row.id.clone(),
            changed_by: Some(actor.user_id.clone()),
            changed_at: now.micros(),
            source: "edit".to_string(),
            changes: Value::Array(log).to_string(),
        })
        .await?;
        tx.append_audit(
            actor
                .event(now, Action::ProviderUpdated, Outcome::Success)
                .target("organisation", &row.id)
                .detail(changed.join(",")),
        )
        .await?;
        tx.commit().await?;
        Ok(ProviderSaved { row, changed: changed.into_iter().map(str::to_string).collect() })
    }

    /// "Still true": confirms an entry as it stands (its operator or the coordinator). Writes
    /// `confirmed_at`, an `org_changes` row (`confirm`) and an audit event; the version stays.
    pub async fn confirm_provider(&self, actor: &Actor, id: &str) -> Result<ProviderRow> {
        let old = self.editable_provider(actor, id, true).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(current) = tx.provider(&old.id).await? else {
            return Err(AppError::NotFound);
        };
        let row = ProviderRow { confirmed_at: Some(now.micros()), ..current.clone() };
        if !tx.update_provider(&row, current.version).await? {
            return Err(AppError::Invalid(FieldError::new("version", "error.version_conflict").into()));
        }
        tx.insert_org_change(&OrgChangeRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: row.id.clone(),
            changed_by: Some(actor.user_id.clone()),
            changed_at: now.micros(),
            source: "confirm".to_string(),
            changes: "[]".to_string(),
        })
        .await?;
        tx.append_audit(
            actor.event(now, Action::ProviderConfirmed, Outcome::Success).target("organisation", &row.id),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// An entry's changes, newest first, with who made each (its operator or the coordinator).
    pub async fn provider_history(&self, actor: &Actor, id: &str) -> Result<ProviderHistory> {
        let row = self.editable_provider(actor, id, false).await?;
        let rows = self.store.org_changes(&row.id, HISTORY_LIMIT).await?;
        let mut people: Vec<String> = rows.iter().filter_map(|r| r.changed_by.clone()).collect();
        people.sort();
        people.dedup();
        let names = self.store.user_names(&people).await?;
        let entries = rows
            .into_iter()
            .map(|r| HistoryEntry {
                changed_at: r.changed_at,
                by_importer: r.changed_by.is_none(),
                changed_by_name: r
                    .changed_by
                    .as_ref()
                    .map(|u| names.iter().find(|n| &n.0 == u).map(|n| n.1.clone()).unwrap_or_default()),
                changes: parse_changes(&r.changes),
                source: r.source,
            })
            .collect();
        Ok(ProviderHistory { row, entries })
    }

    /// Whether a person keeps directory entries (an operator or the coordinator).
    pub fn keeps_directory(&self, actor: &Actor) -> bool {
        actor.has_duty(Duty::HomeCareCoordinator) || actor.has_duty(Duty::ProviderOperator)
    }

    /// The entries waiting for confirmation that a person keeps: for the coordinator every
    /// such entry of the region (the oldest confirmation first, limited); for an operator their
    /// own. Anyone else is `Forbidden`.
    pub async fn unconfirmed_providers_for(&self, actor: &Actor) -> Result<Vec<ProviderRow>> {
        let before = self.confirmation_limit();
        if actor.has_duty(Duty::HomeCareCoordinator) {
            return Ok(self.store.unconfirmed_providers(before, None, UNCONFIRMED_LIMIT).await?);
        }
        if actor.has_duty(Duty::ProviderOperator) {
            let ids: Vec<String> = actor.affiliations.iter().map(|a| a.organisation_id.clone()).collect();
            return Ok(self.store.unconfirmed_providers(before, Some(&ids), UNCONFIRMED_LIMIT).await?);
        }
        Err(AppError::Forbidden)
    }

    /// What the home page flags: an operator's own unconfirmed entries, the coordinator's
    /// count for the region. Empty for everyone else.
    pub async fn upkeep_notice(&self, actor: &Actor) -> Result<UpkeepNotice> {
        let mut out = UpkeepNotice::default();
        if actor.has_duty(Duty::ProviderOperator) {
            let ids: Vec<String> = actor.affiliations.iter().map(|a| a.organisation_id.clone()).collect();
            out.own = self.store.unconfirmed_providers(self.confirmation_limit(), Some(&ids), 20).await?;
        }
        if actor.has_duty(Duty::HomeCareCoordinator) {
            out.region_total = Some(self.store.count_unconfirmed_providers(self.confirmation_limit()).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_are_stored_with_a_hyphen() {
        let mut errs = Invalid::default();
        assert_eq!(postal_code("〒９２０－０８６５", &mut errs), "920-0865");
        assert_eq!(postal_code("9200865", &mut errs), "920-0865");
        assert!(errs.is_empty());
        for bad in ["920-086", "92-00865", "abc-defg", "920 08655"] {
            let mut errs = Invalid::default();
            postal_code(bad, &mut errs);
            assert!(errs.has("postal_code"), "{bad}");
        }
    }

    #[test]
    fn only_http_and_https_addresses_are_web_sites() {
        for good in ["https://example.jp/", "http://clinic.example.jp/access?x=1"] {
            let mut errs = Invalid::default();
            website(good, &mut errs);
            assert!(errs.is_empty(), "{good}");
        }
        for bad in ["javascript:alert(1)", "ftp://example.jp", "example.jp", "https://", "https://a b.jp"] {
            let mut errs = Invalid::default();
            website(bad, &mut errs);
            assert!(errs.has("website"), "{bad}");
        }
    }

    #[test]
    fn manual_fields_keep_each_name_once_in_order() {
        assert_eq!(with_manual_fields("", &["phone"]), "phone");
        assert_eq!(with_manual_fields("name,phone", &["phone", "fax"]), "name,phone,fax");
    }

    #[test]
    fn unreadable_change_logs_read_as_no_change() {
        assert!(parse_changes("not json").is_empty());
        let c = parse_changes(r#"[{"field":"phone","old":"1","new":"2"},{"x":1}]"#);
        assert_eq!(c, vec![FieldChange { field: "phone".into(), old: json!("1"), new: json!("2") }]);
    }
}
