//! Administration: organisations, people, invitations, disabling accounts. Administrators
//! manage accounts and organisations but read no patient content (DESIGN §3.3).

use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::person::{Duty, Login, PersonName, Profession, check_password};
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid, OrganisationId};
use tsunagu_store::StoreError;
use tsunagu_store::orgs::{DistrictRow, OrgRow};
use tsunagu_store::people::{AffiliationRow, UserRow};
use tsunagu_store::security::InvitationRow;

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
        let kind = OrgKind::parse("kind", &input.kind).map_err(|e| errs.push(e)).ok();
        let name = text("name", &input.name, true, 100).map_err(|e| errs.push(e)).unwrap_or_default();
        let name_kana =
            text("name_kana", &input.name_kana, false, 100).map_err(|e| errs.push(e)).unwrap_or_default();
        if !name_kana.is_empty() && !tsunagu_domain::text::is_kana_text(&name_kana) {
            errs.push(FieldError::new("name_kana", "error.kana_only"));
        }
        let address =
            text("address", &input.address, false, 200).map_err(|e| errs.push(e)).unwrap_or_default();
        let phone = text("phone", &input.phone, false, 20).map_err(|e| errs.push(e)).unwrap_or_default();
        if !phone.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ') {
            errs.push(FieldError::new("phone", "error.phone_chars"));
        }
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
        let kind = kind.ok_or_else(|| Invalid::one("kind", "error.unknown_choice"))?;
        if input.is_emergency_hospital && !kind.is_medical() {
            return Err(Invalid::one("is_emergency_hospital", "error.emergency_needs_hospital").into());
        }
        let row = OrgRow {
            id: OrganisationId::new().to_string(),
            kind: kind.code().to_string(),
            name,
            name_kana,
            parent_id,
            city_no: None,
            address,
            phone,
            jurisdiction: String::new(),
            operator_name: String::new(),
            is_emergency_hospital: input.is_emergency_hospital,
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
        let login = Login::parse(&input.login).map_err(|e| errs.push(e)).ok();
        let name = PersonName::parse(&input.display_name, &input.display_name_kana)
            .map_err(|e| e.0.into_iter().for_each(|x| errs.push(x)))
            .ok();
        let profession = Profession::parse("profession", &input.profession).map_err(|e| errs.push(e)).ok();
        let email = text("email", &input.email, false, 254).map_err(|e| errs.push(e)).unwrap_or_default();
        if !email.is_empty() && (!email.contains('@') || email.contains(char::is_whitespace)) {
            errs.push(FieldError::new("email", "error.bad_email"));
        }
        let mut duties = Vec::new();
        for d in &input.duties {
            match Duty::parse("duties", d) {
                Ok(d) => duties.push(d),
                Err(e) => errs.push(e),
            }
        }
        let mut orgs = Vec::new();
        for o in input.organisation_ids.iter().filter(|o| !o.trim().is_empty()) {
            match o.parse::<OrganisationId>() {
                Ok(id) if tx.organisation_exists(&id.to_string()).await? => orgs.push(id.to_string()),
                _ => errs.push(FieldError::new("organisation_ids", "error.unknown_choice")),
            }
        }
        errs.into_result()?;
        let (Some(login), Some(name), Some(profession)) = (login, name, profession) else {
            return Err(AppError::Internal("validated person lost a field".into()));
        };
        let row = UserRow {
            id: new_user_id(),
            login: login.as_str().to_string(),
            display_name: name.display,
            display_name_kana: name.kana,
            profession: profession.code().to_string(),
            email: (!email.is_empty()).then_some(email),
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
        for d in duties {
            tx.add_duty(&row.id, d.code()).await?;
        }
        for o in orgs {
            tx.add_affiliation(&row.id, &o).await?;
        }
        Ok(row)
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
