//! People: accounts, duties and affiliations.

use crate::{Result, Store, Tx, exec_tx, read};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub display_name_kana: String,
    pub profession: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<i64>,
    pub totp_last_step: i64,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

const USER_COLUMNS: &str = "id, login, display_name, display_name_kana, profession, email, \
     password_hash, totp_secret, totp_enabled_at, totp_last_step, disabled_at, created_at";

/// A person as [`Store::account`] reads them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    /// Duty codes, comma-separated and sorted (`None`: no duty).
    pub duties: Option<String>,
    /// The value of the setting asked for, if set.
    pub setting: Option<String>,
}

impl AccountRow {
    pub fn duties(&self) -> Vec<&str> {
        self.duties.as_deref().map(|d| d.split(',').collect()).unwrap_or_default()
    }
}

/// An affiliation as listed with a person.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AffiliationRow {
    pub user_id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub organisation_kind: String,
    pub is_emergency_hospital: bool,
}

impl Store {
    pub async fn user_by_login(&self, login: &str) -> Result<Option<UserRow>> {
        let sql = format!("select {USER_COLUMNS} from users where login = $1");
        Ok(read!(self, |c| sqlx::query_as::<_, UserRow>(&sql).bind(login).fetch_optional(c).await)?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>> {
        let sql = format!("select {USER_COLUMNS} from users where id = $1");
        Ok(read!(self, |c| sqlx::query_as::<_, UserRow>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// A person with their duties (sorted) and the value of one setting, in one query: what
    /// every authenticated request needs to build its actor.
    pub async fn account(&self, id: &str, setting: &str) -> Result<Option<AccountRow>> {
        let sql = format!(
            "select {USER_COLUMNS}, \
             (select string_agg(duty, ',' order by duty) from user_duties d where d.user_id = users.id) \
             as duties, \
             (select value from settings where key = $2) as setting \
             from users where id = $1"
        );
        Ok(read!(self, |c| sqlx::query_as::<_, AccountRow>(&sql)
            .bind(id)
            .bind(setting)
            .fetch_optional(c)
            .await)?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        let sql = format!("select {USER_COLUMNS} from users order by login");
        Ok(read!(self, |c| sqlx::query_as::<_, UserRow>(&sql).fetch_all(c).await)?)
    }

    pub async fn count_users(&self) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as("select count(*) from users").fetch_one(c).await)?;
        Ok(n.0)
    }

    pub async fn duties_of(&self, user_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            read!(self, |c| sqlx::query_as("select duty from user_duties where user_id = $1 order by duty")
                .bind(user_id)
                .fetch_all(c)
                .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Every duty of every person, for listings.
    pub async fn all_duties(&self) -> Result<Vec<(String, String)>> {
        Ok(read!(self, |c| sqlx::query_as("select user_id, duty from user_duties").fetch_all(c).await)?)
    }

    pub async fn affiliations_of(&self, user_id: &str) -> Result<Vec<AffiliationRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, AffiliationRow>(
            "select a.user_id, a.organisation_id, o.name as organisation_name, \
             o.kind as organisation_kind, o.is_emergency_hospital \
             from affiliations a join organisations o on o.id = a.organisation_id \
             where a.user_id = $1 order by o.name"
        )
        .bind(user_id)
        .fetch_all(c)
        .await)?)
    }

    /// Every affiliation of every person, for listings.
    pub async fn all_affiliations(&self) -> Result<Vec<AffiliationRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, AffiliationRow>(
            "select a.user_id, a.organisation_id, o.name as organisation_name, \
             o.kind as organisation_kind, o.is_emergency_hospital \
             from affiliations a join organisations o on o.id = a.organisation_id \
             order by o.name"
        )
        .fetch_all(c)
        .await)?)
    }
}

impl Tx {
    pub async fn insert_user(&mut self, u: &UserRow) -> Result<()> {
        let sql = format!(
            "insert into users ({USER_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        exec_tx!(self, |c| sqlx::query(&sql)
            .bind(&u.id)
            .bind(&u.login)
            .bind(&u.display_name)
            .bind(&u.display_name_kana)
            .bind(&u.profession)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(&u.totp_secret)
            .bind(u.totp_enabled_at)
            .bind(u.totp_last_step)
            .bind(u.disabled_at)
            .bind(u.created_at)
            .execute(c)
            .await)?;
        Ok(())
    }

    pub async fn add_duty(&mut self, user_id: &str, duty: &str) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into user_duties (user_id, duty) values ($1, $2) on conflict do nothing"
        )
        .bind(user_id)
        .bind(duty)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn add_affiliation(&mut self, user_id: &str, org_id: &str) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into affiliations (user_id, organisation_id) values ($1, $2) \
             on conflict do nothing"
        )
        .bind(user_id)
        .bind(org_id)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Changes what an administrator may change of an account: the name, its reading, the
    /// profession and the e-mail address. Returns whether the account exists.
    pub async fn update_user_profile(
        &mut self,
        user_id: &str,
        display_name: &str,
        display_name_kana: &str,
        profession: &str,
        email: Option<&str>,
    ) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update users set display_name = $2, display_name_kana = $3, profession = $4, email = $5 \
             where id = $1"
        )
        .bind(user_id)
        .bind(display_name)
        .bind(display_name_kana)
        .bind(profession)
        .bind(email)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// Gives a person exactly these duties (a duty named twice is held once).
    pub async fn replace_duties(&mut self, user_id: &str, duties: &[&str]) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("delete from user_duties where user_id = $1")
            .bind(user_id)
            .execute(&mut *c)
            .await)?;
        for d in duties {
            self.add_duty(user_id, d).await?;
        }
        Ok(())
    }

    /// Makes a person a member of exactly these organisations (one named twice counts once).
    pub async fn replace_affiliations(&mut self, user_id: &str, organisation_ids: &[String]) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("delete from affiliations where user_id = $1")
            .bind(user_id)
            .execute(&mut *c)
            .await)?;
        for o in organisation_ids {
            self.add_affiliation(user_id, o).await?;
        }
        Ok(())
    }

    pub async fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("update users set password_hash = $2 where id = $1")
            .bind(user_id)
            .bind(hash)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Sets (or with `None`, clears) the TOTP secret and when it was enabled.
    pub async fn set_totp(
        &mut self,
        user_id: &str,
        secret: Option<&str>,
        enabled_at: Option<i64>,
    ) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "update users set totp_secret = $2, totp_enabled_at = $3 where id = $1"
        )
        .bind(user_id)
        .bind(secret)
        .bind(enabled_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Records the TOTP step just used, if it is later than the last one. Returns whether it was
    /// (false: the code was used before, a replay).
    pub async fn use_totp_step(&mut self, user_id: &str, step: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update users set totp_last_step = $2 where id = $1 and totp_last_step < $2"
        )
        .bind(user_id)
        .bind(step)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// Disables (with a time) or re-enables (with `None`) an account. Returns whether it existed.
    pub async fn set_disabled(&mut self, user_id: &str, at: Option<i64>) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query("update users set disabled_at = $2 where id = $1")
            .bind(user_id)
            .bind(at)
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}
