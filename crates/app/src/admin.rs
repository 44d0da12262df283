//! Administration: organisations, people, invitations, disabling accounts. Administrators
//! manage accounts and organisations but read no patient content (DESIGN §3.3).

use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::org::{District, OrgKind};
use tsunagu_domain::person::{Duty, Login, PersonName, Profession, check_password};
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid, OrganisationId};
use tsunagu_store::orgs::{DistrictRow, OrgRow};
use tsunagu_store::people::{AffiliationRow, UserRow};
use tsunagu_store::security::InvitationRow;
use tsunagu_store::{StoreError, Tx};

use crate::auth::new_user_id;
use crate::secret::{new_token, token_hash};
use crate::{Actor, App, AppError, Result};

/// Refuses anyone but a system administrator (and audits the refusal).
pub async fn ensure_admin(app: &App, actor: &Actor) -> Result<()> {
    if actor.has_duty(Duty::SystemAdministrator) {
        return Ok(());
    }
    let e = actor.event(app.now(), Action::AccessRefused, Outcome::Refused).detail("admin");
    app.store.append_audit(vec![e]).await?;
    Err(AppError::Forbidden)
}

/// A new organisation as submitted.
#[derive(Debug, Clone, Default)]
pub struct NewOrganisation {
    pub kind: String,
    pub name: String,
    pub name_kana: String,
    pub address: String,
    pub phone: String,
    pub parent_id: Option<String>,
    pub is_emergency_hospital: bool,
}

/// Changes to an organisation as submitted: the fields of [`NewOrganisation`] but its parent,
/// and for a support center its districts.
#[derive(Debug, Clone, Default)]
pub struct OrganisationChanges {
    pub kind: String,
    pub name: String,
    pub name_kana: String,
    pub address: String,
    pub phone: String,
    pub is_emergency_hospital: bool,
    /// The districts the center serves, in the city's order (blank lines are ignored); `None`
    /// leaves them as they are.
    pub districts: Option<Vec<String>>,
}

/// The fields an administrator sets on an organisation, on creation and on edit.
#[derive(Debug, Clone, Copy)]
struct OrgInput<'a> {
    kind: &'a str,
    name: &'a str,
    name_kana: &'a str,
    address: &'a str,
    phone: &'a str,
    is_emergency_hospital: bool,
}

impl NewOrganisation {
    fn fields(&self) -> OrgInput<'_> {
        OrgInput {
            kind: &self.kind,
            name: &self.name,
            name_kana: &self.name_kana,
            address: &self.address,
            phone: &self.phone,
            is_emergency_hospital: self.is_emergency_hospital,
        }
    }
}

impl OrganisationChanges {
    fn fields(&self) -> OrgInput<'_> {
        OrgInput {
            kind: &self.kind,
            name: &self.name,
            name_kana: &self.name_kana,
            address: &self.address,
            phone: &self.phone,
            is_emergency_hospital: self.is_emergency_hospital,
        }
    }
}

/// The same fields, checked.
#[derive(Debug, Clone)]
struct OrgFields {
    kind: OrgKind,
    name: String,
    name_kana: String,
    address: String,
    phone: String,
    is_emergency_hospital: bool,
}

/// Checks an organisation's fields, adding what is wrong to `errs`. `None` when anything was.
fn check_organisation(input: OrgInput<'_>, errs: &mut Invalid) -> Option<OrgFields> {
    let before = errs.0.len();
    let kind = OrgKind::parse("kind", input.kind).map_err(|e| errs.push(e)).ok();
    let name = text("name", input.name, true, 100).map_err(|e| errs.push(e)).unwrap_or_default();
    let name_kana =
        text("name_kana", input.name_kana, false, 100).map_err(|e| errs.push(e)).unwrap_or_default();
    if !name_kana.is_empty() && !tsunagu_domain::text::is_kana_text(&name_kana) {
        errs.push(FieldError::new("name_kana", "error.kana_only"));
    }
    let address = text("address", input.address, false, 200).map_err(|e| errs.push(e)).unwrap_or_default();
    let phone = text("phone", input.phone, false, 20).map_err(|e| errs.push(e)).unwrap_or_default();
    if !phone.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ') {
        errs.push(FieldError::new("phone", "error.phone_chars"));
    }
    if input.is_emergency_hospital && kind.is_some_and(|k| !k.is_medical()) {
        errs.push(FieldError::new("is_emergency_hospital", "error.emergency_needs_hospital"));
    }
    let kind = kind?;
    (errs.0.len() == before).then_some(OrgFields {
        kind,
        name,
        name_kana,
        address,
        phone,
        is_emergency_hospital: input.is_emergency_hospital,
    })
}

/// A person to invite (or add from the command line).
#[derive(Debug, Clone, Default)]
pub struct NewPerson {
    pub login: String,
    pub display_name: String,
    pub display_name_kana: String,
    pub profession: String,
    pub email: String,
    pub duties: Vec<String>,
    pub organisation_ids: Vec<String>,
}

/// Changes to a person's account as submitted by an administrator: everything of
/// [`NewPerson`] but the login, which never changes.
#[derive(Debug, Clone, Default)]
pub struct PersonChanges {
    pub display_name: String,
    pub display_name_kana: String,
    pub profession: String,
    pub email: String,
    pub duties: Vec<String>,
    pub organisation_ids: Vec<String>,
}

/// The fields an administrator sets on a person, on invitation and on edit.
#[derive(Debug, Clone, Copy)]
struct ProfileInput<'a> {
    display_name: &'a str,
    display_name_kana: &'a str,
    profession: &'a str,
    email: &'a str,
    duties: &'a [String],
    organisation_ids: &'a [String],
}

impl NewPerson {
    fn profile(&self) -> ProfileInput<'_> {
        ProfileInput {
            display_name: &self.display_name,
            display_name_kana: &self.display_name_kana,
            profession: &self.profession,
            email: &self.email,
            duties: &self.duties,
            organisation_ids: &self.organisation_ids,
        }
    }
}

impl PersonChanges {
    fn profile(&self) -> ProfileInput<'_> {
        ProfileInput {
            display_name: &self.display_name,
            display_name_kana: &self.display_name_kana,
            profession: &self.profession,
            email: &self.email,
            duties: &self.duties,
            organisation_ids: &self.organisation_ids,
        }
    }
}

/// The same fields, checked: duties and organisations each once, in the order given.
#[derive(Debug, Clone)]
struct Profile {
    name: PersonName,
    profession: Profession,
    email: Option<String>,
    duties: Vec<Duty>,
    organisation_ids: Vec<String>,
}

/// Checks a person's fields, adding what is wrong to `errs` (organisations must exist as `tx`
/// sees them). `None` when anything was wrong.
async fn check_profile(tx: &mut Tx, input: ProfileInput<'_>, errs: &mut Invalid) -> Result<Option<Profile>> {
    let before = errs.0.len();
    let name = PersonName::parse(input.display_name, input.display_name_kana)
        .map_err(|e| e.0.into_iter().for_each(|x| errs.push(x)))
        .ok();
    let profession = Profession::parse("profession", input.profession).map_err(|e| errs.push(e)).ok();
    let email = text("email", input.email, false, 254).map_err(|e| errs.push(e)).unwrap_or_default();
    if !email.is_empty() && (!email.contains('@') || email.contains(char::is_whitespace)) {
        errs.push(FieldError::new("email", "error.bad_email"));
    }
    let mut duties = Vec::new();
    for d in input.duties {
        match Duty::parse("duties", d) {
            Ok(d) if duties.contains(&d) => {}
            Ok(d) => duties.push(d),
            Err(e) => errs.push(e),
        }
    }
    let mut orgs: Vec<String> = Vec::new();
    for o in input.organisation_ids.iter().filter(|o| !o.trim().is_empty()) {
        match o.trim().parse::<OrganisationId>() {
            Ok(id) if orgs.contains(&id.to_string()) => {}
            Ok(id) if tx.organisation_exists(&id.to_string()).await? => orgs.push(id.to_string()),
            _ => errs.push(FieldError::new("organisation_ids", "error.unknown_choice")),
        }
    }
    if errs.0.len() != before {
        return Ok(None);
    }
    let (Some(name), Some(profession)) = (name, profession) else {
        return Err(AppError::Internal("validated person lost a field".into()));
    };
    Ok(Some(Profile {
        name,
        profession,
        email: (!email.is_empty()).then_some(email),
        duties,
        organisation_ids: orgs,
    }))
}

/// Logins that name a page of their own under `/admin/people/`.
const RESERVED_LOGINS: &[&str] = &["invite"];

/// A person's account as an administrator sees it on its own page.
#[derive(Debug, Clone)]
pub struct PersonDetail {
    pub user: UserRow,
    pub duties: Vec<String>,
    pub affiliations: Vec<AffiliationRow>,
    pub has_totp: bool,
    pub passkeys: usize,
    pub recovery_codes_left: i64,
    /// The invitation whose link still works, for people who have not set a password yet.
    pub open_invitation: Option<InvitationRow>,
}

impl PersonDetail {
    pub fn has_second_factor(&self) -> bool {
        self.has_totp || self.passkeys > 0
    }
}

/// An organisation as an administrator sees it on its own page.
#[derive(Debug, Clone)]
pub struct OrganisationDetail {
    pub org: OrgRow,
    pub districts: Vec<String>,
    pub parent_name: Option<String>,
}

/// A support center with its districts, for the admin list and routing.
#[derive(Debug, Clone)]
pub struct CenterWithDistricts {
    pub org: OrgRow,
    pub districts: Vec<String>,
    pub parent_name: Option<String>,
}

/// A person as listed to administrators.
#[derive(Debug, Clone)]
pub struct PersonListing {
    pub user: UserRow,
    pub duties: Vec<String>,
    pub affiliations: Vec<AffiliationRow>,
}

fn conflict_to_field(e: StoreError, constraint: &str, field: &'static str, code: &'static str) -> AppError {
    match e {
        StoreError::Conflict { constraint: c } if c == constraint => Invalid::one(field, code).into(),
        e => e.into(),
    }
}

/// Orders support centers by the city's number (1, 2, … 6, 6b, 7, … 19).
fn city_no_key(no: Option<&str>) -> (u32, String) {
    let no = no.unwrap_or("");
    let digits: String = no.chars().take_while(|c| c.is_ascii_digit()).collect();
    (digits.parse().unwrap_or(u32::MAX), no.to_string())
}

impl App {
    pub async fn organisations(&self, actor: &Actor) -> Result<Vec<OrgRow>> {
        ensure_admin(self, actor).await?;
        Ok(self.store.list_organisations().await?)
    }

    /// The community support centers and branches with their districts, in the city's order.
    pub async fn support_centers(&self) -> Result<Vec<CenterWithDistricts>> {
        let orgs = self.store.list_organisations().await?;
        let districts: Vec<DistrictRow> = self.store.list_districts().await?;
        let mut out: Vec<CenterWithDistricts> = orgs
            .iter()
            .filter(|o| OrgKind::from_code(&o.kind).is_some_and(|k| k.is_support_center()))
            .map(|o| CenterWithDistricts {
                org: o.clone(),
                districts: districts
                    .iter()
                    .filter(|d| d.support_center_id == o.id)
                    .map(|d| d.name.clone())
                    .collect(),
                parent_name: o
                    .parent_id
                    .as_ref()
                    .and_then(|p| orgs.iter().find(|x| &x.id == p))
                    .map(|p| p.name.clone()),
            })
            .collect();
        out.sort_by_key(|c| city_no_key(c.org.city_no.as_deref()));
        Ok(out)
    }

    /// The support center responsible for a district.
    pub async fn center_for_district(&self, district: &str) -> Result<Option<OrgRow>> {
        let d = tsunagu_domain::org::District::parse(district)?;
        Ok(self.store.center_for_district(d.as_str()).await?)
    }

    pub async fn create_organisation(&self, actor: &Actor, input: NewOrganisation) -> Result<OrgRow> {
        ensure_admin(self, actor).await?;
        actor.ensure_may_write()?;
        let now = self.now();
        let mut errs = Invalid::default();
        let fields = check_organisation(input.fields(), &mut errs);
        let parent_id = match input.parent_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(p) => match p.parse::<OrganisationId>() {
                Ok(id) if self.store.organisation(&id.to_string()).await?.is_some() => Some(id.to_string()),
                _ => {
                    errs.push(FieldError::new("parent_id", "error.unknown_choice"));
                    None
                }
            },
            None => None,
        };
        errs.into_result()?;
        let f = fields.ok_or_else(|| AppError::Internal("validated organisation lost a field".into()))?;
        let row = OrgRow {
            id: OrganisationId::new().to_string(),
            kind: f.kind.code().to_string(),
            name: f.name,
            name_kana: f.name_kana,
            parent_id,
            city_no: None,
            address: f.address,
            phone: f.phone,
            jurisdiction: String::new(),
            operator_name: String::new(),
            is_emergency_hospital: f.is_emergency_hospital,
            created_at: now.micros(),
            updated_at: now.micros(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_organisation(&row).await?;
        tx.append_audit(
            actor.event(now, Action::OrganisationCreated, Outcome::Success).target("organisation", &row.id),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// One organisation with its districts, for its page.
    pub async fn organisation_detail(&self, actor: &Actor, id: &str) -> Result<OrganisationDetail> {
        ensure_admin(self, actor).await?;
        let org = self.existing_organisation(id).await?;
        let districts = self.store.districts_of(&org.id).await?;
        let parent_name = match &org.parent_id {
            Some(p) => self.store.organisation(p).await?.map(|p| p.name),
            None => None,
        };
        Ok(OrganisationDetail { org, districts, parent_name })
    }

    async fn existing_organisation(&self, id: &str) -> Result<OrgRow> {
        let id = id.parse::<OrganisationId>().map_err(|_| AppError::NotFound)?;
        self.store.organisation(&id.to_string()).await?.ok_or(AppError::NotFound)
    }

    /// Changes an organisation, checked like a new one. A support center's districts are
    /// replaced by the ones given, in their order; a district another center serves is refused
    /// with that center's name (a district belongs to one center only).
    pub async fn update_organisation(
        &self,
        actor: &Actor,
        id: &str,
        input: OrganisationChanges,
    ) -> Result<OrgRow> {
        ensure_admin(self, actor).await?;
        actor.ensure_may_write()?;
        let now = self.now();
        let old = self.existing_organisation(id).await?;
        let old_districts = self.store.districts_of(&old.id).await?;
        let mut errs = Invalid::default();
        let fields = check_organisation(input.fields(), &mut errs);
        let mut districts: Vec<String> = Vec::new();
        for line in input.districts.iter().flatten().filter(|l| !l.trim().is_empty()) {
            match District::parse(line) {
                Ok(d) if districts.iter().any(|x| x == d.as_str()) => errs.push(
                    FieldError::new("districts", "error.district_repeated").arg("district", d.as_str()),
                ),
                Ok(d) => districts.push(d.as_str().to_string()),
                Err(e) => errs.push(FieldError { field: "districts", ..e }),
            }
        }
        let districts = if input.districts.is_some() { districts } else { old_districts.clone() };
        if let Some(f) = &fields
            && !f.kind.is_support_center()
            && !districts.is_empty()
        {
            errs.push(FieldError::new("districts", "error.districts_need_center"));
        }
        let mut tx = self.store.begin().await?;
        for d in &districts {
            if let Some(center) = tx.center_for_district(d).await?
                && center.id != old.id
            {
                errs.push(
                    FieldError::new("districts", "error.district_taken")
                        .arg("district", d.as_str())
                        .arg("center", center.name),
                );
            }
        }
        errs.into_result()?;
        let f = fields.ok_or_else(|| AppError::Internal("validated organisation lost a field".into()))?;
        let row = OrgRow {
            kind: f.kind.code().to_string(),
            name: f.name,
            name_kana: f.name_kana,
            address: f.address,
            phone: f.phone,
            is_emergency_hospital: f.is_emergency_hospital,
            updated_at: now.micros(),
            ..old.clone()
        };
        let mut changed: Vec<&str> = Vec::new();
        for (field, differs) in [
            ("kind", row.kind != old.kind),
            ("name", row.name != old.name),
            ("name_kana", row.name_kana != old.name_kana),
            ("address", row.address != old.address),
            ("phone", row.phone != old.phone),
            ("is_emergency_hospital", row.is_emergency_hospital != old.is_emergency_hospital),
            ("districts", districts != old_districts),
        ] {
            if differs {
                changed.push(field);
            }
        }
        if changed.is_empty() {
            return Ok(old);
        }
        if !tx.update_organisation(&row).await? {
            return Err(AppError::NotFound);
        }
        if districts != old_districts {
            tx.replace_districts(&row.id, &districts).await.map_err(|e| {
                conflict_to_field(e, "districts_pkey", "districts", "error.district_conflict")
            })?;
        }
        tx.append_audit(
            actor
                .event(now, Action::OrganisationUpdated, Outcome::Success)
                .target("organisation", &row.id)
                .detail(changed.join(" ")),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn people(&self, actor: &Actor) -> Result<Vec<PersonListing>> {
        ensure_admin(self, actor).await?;
        let users = self.store.list_users().await?;
        let duties = self.store.all_duties().await?;
        let affs = self.store.all_affiliations().await?;
        Ok(users
            .into_iter()
            .map(|u| PersonListing {
                duties: duties.iter().filter(|(id, _)| *id == u.id).map(|(_, d)| d.clone()).collect(),
                affiliations: affs.iter().filter(|a| a.user_id == u.id).cloned().collect(),
                user: u,
            })
            .collect())
    }

    /// Validates a new person and writes the account (without a password) in `tx`.
    pub(crate) async fn write_person(
        &self,
        tx: &mut tsunagu_store::Tx,
        input: &NewPerson,
    ) -> Result<UserRow> {
        let now = self.now();
        let mut errs = Invalid::default();
        let login = match Login::parse(&input.login) {
            Ok(l) if RESERVED_LOGINS.contains(&l.as_str()) => {
                errs.push(FieldError::new("login", "error.login_reserved"));
                None
            }
            Ok(l) => Some(l),
            Err(e) => {
                errs.push(e);
                None
            }
        };
        let profile = check_profile(tx, input.profile(), &mut errs).await?;
        errs.into_result()?;
        let (Some(login), Some(p)) = (login, profile) else {
            return Err(AppError::Internal("validated person lost a field".into()));
        };
        let row = UserRow {
            id: new_user_id(),
            login: login.as_str().to_string(),
            display_name: p.name.display,
            display_name_kana: p.name.kana,
            profession: p.profession.code().to_string(),
            email: p.email,
            password_hash: None,
            totp_secret: None,
            totp_enabled_at: None,
            totp_last_step: 0,
            disabled_at: None,
            created_at: now.micros(),
        };
        tx.insert_user(&row)
            .await
            .map_err(|e| conflict_to_field(e, "users_login_key", "login", "error.login_taken"))?;
        for d in p.duties {
            tx.add_duty(&row.id, d.code()).await?;
        }
        for o in p.organisation_ids {
            tx.add_affiliation(&row.id, &o).await?;
        }
        Ok(row)
    }

    /// One person's account, duties, affiliations and login factors, for their page.
    pub async fn person_detail(&self, actor: &Actor, login: &str) -> Result<PersonDetail> {
        ensure_admin(self, actor).await?;
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        let open_invitation = match user.password_hash {
            None => self.store.open_invitation_of(&user.id, self.now().micros()).await?,
            Some(_) => None,
        };
        Ok(PersonDetail {
            duties: self.store.duties_of(&user.id).await?,
            affiliations: self.store.affiliations_of(&user.id).await?,
            has_totp: user.totp_enabled_at.is_some(),
            passkeys: self.store.passkeys_of(&user.id).await?.len(),
            recovery_codes_left: self.store.unused_recovery_codes(&user.id).await?,
            open_invitation,
            user,
        })
    }

    /// Changes a person's name, profession, e-mail, duties and affiliations, checked like an
    /// invitation. Duties take effect on the person's next request. An administrator cannot
    /// take their own administrator duty away (so one always remains).
    pub async fn update_person(&self, actor: &Actor, login: &str, input: PersonChanges) -> Result<UserRow> {
        ensure_admin(self, actor).await?;
        actor.ensure_may_write()?;
        let now = self.now();
        let old = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        let old_duties = self.store.duties_of(&old.id).await?;
        let old_orgs: Vec<String> =
            self.store.affiliations_of(&old.id).await?.into_iter().map(|a| a.organisation_id).collect();
        let admin = Duty::SystemAdministrator.code();
        let mut errs = Invalid::default();
        if old.id == actor.user_id
            && old_duties.iter().any(|d| d == admin)
            && !input.duties.iter().any(|d| d == admin)
        {
            errs.push(FieldError::new("duties", "error.cannot_remove_own_admin"));
        }
        let mut tx = self.store.begin().await?;
        let profile = check_profile(&mut tx, input.profile(), &mut errs).await?;
        errs.into_result()?;
        let p = profile.ok_or_else(|| AppError::Internal("validated person lost a field".into()))?;
        let row = UserRow {
            display_name: p.name.display,
            display_name_kana: p.name.kana,
            profession: p.profession.code().to_string(),
            email: p.email,
            ..old.clone()
        };
        let duties: Vec<&str> = p.duties.iter().map(|d| d.code()).collect();
        let mut changed: Vec<String> = Vec::new();
        for (field, differs) in [
            ("display_name", row.display_name != old.display_name),
            ("display_name_kana", row.display_name_kana != old.display_name_kana),
            ("profession", row.profession != old.profession),
            ("email", row.email != old.email),
        ] {
            if differs {
                changed.push(field.to_string());
            }
        }
        // Which duties were given and taken (codes, no personal data): the audit log shows who
        // made whom an administrator.
        let mut duty_changes: Vec<String> = Vec::new();
        duty_changes
            .extend(duties.iter().filter(|d| !old_duties.iter().any(|o| o == *d)).map(|d| format!("+{d}")));
        duty_changes
            .extend(old_duties.iter().filter(|o| !duties.contains(&o.as_str())).map(|o| format!("-{o}")));
        if !duty_changes.is_empty() {
            changed.push(format!("duties:{}", duty_changes.join(",")));
        }
        let mut sorted_old = old_orgs.clone();
        sorted_old.sort();
        let mut sorted_new = p.organisation_ids.clone();
        sorted_new.sort();
        if sorted_old != sorted_new {
            changed.push("affiliations".to_string());
        }
        if changed.is_empty() {
            return Ok(old);
        }
        if !tx
            .update_user_profile(
                &row.id,
                &row.display_name,
                &row.display_name_kana,
                &row.profession,
                row.email.as_deref(),
            )
            .await?
        {
            return Err(AppError::NotFound);
        }
        tx.replace_duties(&row.id, &duties).await?;
        tx.replace_affiliations(&row.id, &p.organisation_ids).await?;
        tx.append_audit(
            actor
                .event(now, Action::PersonUpdated, Outcome::Success)
                .target("user", &row.id)
                .detail(changed.join(" ")),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Makes a new invitation for a person who has not set a password yet; every earlier link
    /// of theirs stops working. Returns the person and the new token.
    pub async fn resend_invitation(&self, actor: &Actor, login: &str) -> Result<(UserRow, String)> {
        ensure_admin(self, actor).await?;
        actor.ensure_may_write()?;
        let now = self.now();
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        if user.password_hash.is_some() {
            return Err(Invalid::one("invitation", "error.already_active").into());
        }
        if user.disabled_at.is_some() {
            return Err(Invalid::one("invitation", "error.resend_disabled").into());
        }
        let token = new_token();
        let mut tx = self.store.begin().await?;
        let ended = tx.expire_invitations_of(&user.id, now.micros()).await?;
        tx.insert_invitation(&InvitationRow {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            created_by: actor.user_id.clone(),
            created_at: now.micros(),
            expires_at: now.plus_seconds(self.config.invitation_secs).micros(),
            used_at: None,
        })
        .await?;
        tx.append_audit(
            actor
                .event(now, Action::InvitationResent, Outcome::Success)
                .target("user", &user.id)
                .detail(format!("ended {ended}")),
        )
        .await?;
        tx.commit().await?;
        Ok((user, token))
    }

    /// Removes a person's TOTP, recovery codes and passkeys (after they lost their phone, say)
    /// and ends their sessions, so they log in with their password alone and enrol again.
    /// Administrators change their own factors on their security page instead.
    pub async fn reset_second_factors(&self, actor: &Actor, login: &str) -> Result<()> {
        ensure_admin(self, actor).await?;
        actor.ensure_may_write()?;
        let now = self.now();
        let user = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        if user.id == actor.user_id {
            return Err(Invalid::one("second_factors", "error.reset_self").into());
        }
        let mut tx = self.store.begin().await?;
        tx.set_totp(&user.id, None, None).await?;
        tx.replace_recovery_codes(&user.id, &[]).await?;
        let passkeys = tx.delete_passkeys_of(&user.id).await?;
        let sessions = tx.delete_sessions_of(&user.id).await?;
        let totp = if user.totp_enabled_at.is_some() { "totp" } else { "no_totp" };
        tx.append_audit(
            actor
                .event(now, Action::SecondFactorsReset, Outcome::Success)
                .target("user", &user.id)
                .detail(format!("{totp} passkeys {passkeys} sessions {sessions}")),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Invites a person: creates the account without a password and returns the invitation
    /// token for the link they use to set one.
    pub async fn invite_person(&self, actor: &Actor, input: NewPerson) -> Result<(UserRow, String)> {
        ensure_admin(self, actor).await?;
        actor.ensure_may_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = self.write_person(&mut tx, &input).await?;
        let token = new_token();
        tx.insert_invitation(&InvitationRow {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            created_by: actor.user_id.clone(),
            created_at: now.micros(),
            expires_at: now.plus_seconds(self.config.invitation_secs).micros(),
            used_at: None,
        })
        .await?;
        tx.append_audit(actor.event(now, Action::PersonInvited, Outcome::Success).target("user", &user.id))
            .await?;
        tx.commit().await?;
        Ok((user, token))
    }

    /// The person an unused, unexpired invitation is for.
    pub async fn invitation(&self, token: &str) -> Result<UserRow> {
        let now = self.now();
        let inv = self.store.invitation(&token_hash(token)).await?.ok_or(AppError::NotFound)?;
        if inv.used_at.is_some() || inv.expires_at <= now.micros() {
            return Err(AppError::NotFound);
        }
        let u = self.store.user_by_id(&inv.user_id).await?.ok_or(AppError::NotFound)?;
        if u.disabled_at.is_some() {
            return Err(AppError::NotFound);
        }
        Ok(u)
    }

    /// Accepts an invitation by setting a password.
    pub async fn accept_invitation(&self, token: &str, password: &str, confirm: &str) -> Result<UserRow> {
        let now = self.now();
        let u = self.invitation(token).await?;
        if password != confirm {
            return Err(Invalid::one("confirm", "error.password_mismatch").into());
        }
        check_password(password, &u.login, false)?;
        let hash = self.hash_password(password)?;
        let mut tx = self.store.begin().await?;
        if !tx.use_invitation(&token_hash(token), now.micros()).await? {
            return Err(AppError::NotFound);
        }
        tx.set_password_hash(&u.id, &hash).await?;
        tx.append_audit(
            NewEvent::new(now, Action::InvitationAccepted, Outcome::Success).actor(&u.id, &u.login),
        )
        .await?;
        tx.commit().await?;
        Ok(u)
    }

    /// Adds a person with a password directly (the operator's `user add`, and the demo).
    pub async fn add_person_with_password(&self, input: NewPerson, password: &str) -> Result<UserRow> {
        let now = self.now();
        let login = Login::parse(&input.login)?;
        check_password(password, login.as_str(), false)?;
        let hash = self.hash_password(password)?;
        let mut tx = self.store.begin().await?;
        let user = self.write_person(&mut tx, &input).await?;
        tx.set_password_hash(&user.id, &hash).await?;
        tx.append_audit(
            NewEvent::new(now, Action::PersonInvited, Outcome::Success)
                .target("user", &user.id)
                .detail("cli"),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Disables (or re-enables) an account. Disabling ends its sessions at once; its tokens stop
    /// working on their next use.
    pub async fn set_account_disabled(
        &self,
        actor: Option<&Actor>,
        login: &str,
        disabled: bool,
    ) -> Result<()> {
        if let Some(a) = actor {
            ensure_admin(self, a).await?;
            a.ensure_may_write()?;
            if disabled && a.login == login {
                return Err(Invalid::one("login", "error.cannot_disable_self").into());
            }
        }
        let now = self.now();
        let u = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        let mut tx = self.store.begin().await?;
        tx.set_disabled(&u.id, disabled.then_some(now.micros())).await?;
        if disabled {
            tx.delete_sessions_of(&u.id).await?;
        }
        let action = if disabled { Action::AccountDisabled } else { Action::AccountEnabled };
        let e = match actor {
            Some(a) => a.event(now, action, Outcome::Success),
            None => NewEvent::new(now, action, Outcome::Success).detail("cli"),
        };
        tx.append_audit(e.target("user", &u.id)).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::city_no_key;

    #[test]
    fn centers_sort_by_the_citys_number_with_branches_after_their_center() {
        let mut v = vec!["10", "6b", "2", "6", "19", "1"];
        v.sort_by_key(|n| city_no_key(Some(n)));
        assert_eq!(v, vec!["1", "2", "6", "6b", "10", "19"]);
    }
}
