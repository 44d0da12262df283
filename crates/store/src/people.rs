//! People: accounts, duties and affiliations.

use crate::security::{SessionRow, TokenRow};
use crate::{Result, Store, Tx, args, exec_tx, read};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
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

/// A person by id (built once: read on every open of a patient's page).
static USER_BY_ID_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("select {USER_COLUMNS} from users where id = $1"));

/// What a request names its person by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// The person's id (a certificate login, or a caller that already checked a credential).
    User(&'a str),
    /// The hash of an API bearer token.
    Token(&'a str),
    /// The hash of a browser session's token.
    Session(&'a str),
}

/// A person as [`Store::account`] reads them for a request: the account, its duties,
/// affiliations and second factors, one setting, and the credential's own row.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub user: UserRow,
    /// Duty codes, sorted.
    pub duties: Vec<String>,
    /// The value of the setting asked for, if set.
    pub setting: Option<String>,
    /// Whether the person has registered at least one passkey.
    pub has_passkey: bool,
    /// Ordered by organisation name.
    pub affiliations: Vec<AffiliationRow>,
    /// The token's row (for [`Credential::Token`]).
    pub token: Option<TokenRow>,
    /// The session's row (for [`Credential::Session`]).
    pub session: Option<SessionRow>,
}

/// One row of [`Store::account`]'s query: the person with one of their affiliations (none:
/// no affiliation), and the credential's columns (`c_…`; absent for [`Credential::User`]).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct AccountLine {
    #[sqlx(flatten)]
    #[serde(flatten)]
    user: UserRow,
    duties: Option<String>,
    setting: Option<String>,
    passkeys: i64,
    organisation_id: Option<String>,
    organisation_name: Option<String>,
    organisation_kind: Option<String>,
    is_emergency_hospital: Option<bool>,
    #[sqlx(default)]
    #[serde(default)]
    c_id: Option<String>,
    #[sqlx(default)]
    #[serde(default)]
    c_token_hash: Option<String>,
    #[sqlx(default)]
    #[serde(default)]
    c_label: Option<String>,
    #[sqlx(default)]
    #[serde(default)]
    c_read_only: Option<bool>,
    #[sqlx(default)]
    #[serde(default)]
    c_created_at: Option<i64>,
    #[sqlx(default)]
    #[serde(default)]
    c_expires_at: Option<i64>,
    #[sqlx(default)]
    #[serde(default)]
    c_revoked_at: Option<i64>,
    #[sqlx(default)]
    #[serde(default)]
    c_last_used_at: Option<i64>,
    #[sqlx(default)]
    #[serde(default)]
    c_stage: Option<String>,
    #[sqlx(default)]
    #[serde(default)]
    c_last_seen_at: Option<i64>,
    #[sqlx(default)]
    #[serde(default)]
    c_address: Option<String>,
}

impl AccountLine {
    fn affiliation(&self) -> Option<AffiliationRow> {
        Some(AffiliationRow {
            user_id: self.user.id.clone(),
            organisation_id: self.organisation_id.clone()?,
            organisation_name: self.organisation_name.clone()?,
            organisation_kind: self.organisation_kind.clone()?,
            is_emergency_hospital: self.is_emergency_hospital?,
        })
    }

    fn token(&self) -> Option<TokenRow> {
        Some(TokenRow {
            id: self.c_id.clone()?,
            user_id: self.user.id.clone(),
            token_hash: self.c_token_hash.clone()?,
            label: self.c_label.clone()?,
            read_only: self.c_read_only?,
            created_at: self.c_created_at?,
            expires_at: self.c_expires_at?,
            revoked_at: self.c_revoked_at,
            disabled_at: self.user.disabled_at,
            last_used_at: self.c_last_used_at,
        })
    }

    fn session(&self) -> Option<SessionRow> {
        Some(SessionRow {
            token_hash: self.c_token_hash.clone()?,
            user_id: self.user.id.clone(),
            stage: self.c_stage.clone()?,
            created_at: self.c_created_at?,
            last_seen_at: self.c_last_seen_at?,
            address: self.c_address.clone(),
            disabled_at: self.user.disabled_at,
        })
    }
}

/// Per kind of [`Credential`] (user, token, session): its own columns (`c_…`), the tables, the key.
const ACCOUNT_BY: [(&str, &str, &str); 3] = [
    ("", "users u", "u.id = $1"),
    (
        "t.id as c_id, t.token_hash as c_token_hash, t.label as c_label, \
         t.read_only as c_read_only, t.created_at as c_created_at, \
         t.expires_at as c_expires_at, t.revoked_at as c_revoked_at, \
         t.last_used_at as c_last_used_at, ",
        "api_tokens t join users u on u.id = t.user_id",
        "t.token_hash = $1",
    ),
    (
        "s.token_hash as c_token_hash, s.stage as c_stage, s.created_at as c_created_at, \
         s.last_seen_at as c_last_seen_at, s.address as c_address, ",
        "sessions s join users u on u.id = s.user_id",
        "s.token_hash = $1",
    ),
];

/// [`Store::account`]'s statement per kind of credential (built once: every authenticated
/// request runs one). The person's columns are qualified (the credential's table shares names).
/// Duties and affiliations are put in order by the caller: an `order by` here had SQLite open
/// and close a temporary B-tree on every request (issue 6), and ordering in Rust is the same
/// on both databases, whatever PostgreSQL's collation.
static ACCOUNT_SQL: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
    ACCOUNT_BY.map(|(credential, from, key)| {
        format!(
            "select {credential}{user}, \
             (select string_agg(duty, ',') from user_duties d where d.user_id = u.id) as duties, \
             (select value from settings where key = $2) as setting, \
             (select count(*) from passkeys k where k.user_id = u.id) as passkeys, \
             a.organisation_id, o.name as organisation_name, o.kind as organisation_kind, \
             o.is_emergency_hospital \
             from {from} \
             left join affiliations a on a.user_id = u.id \
             left join organisations o on o.id = a.organisation_id \
             where {key}",
            user = crate::qualified(USER_COLUMNS, "u"),
        )
    })
});

/// An affiliation as listed with a person.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
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
        self.fetch_optional(&USER_BY_ID_SQL, args![id]).await
    }

    /// The person a credential names, with everything a request needs to build its actor, in
    /// one query: every authenticated request comes through here. `None`: no such person,
    /// token or session. Whether the credential is still valid is the caller's to decide.
    pub async fn account(&self, by: Credential<'_>, setting: &str) -> Result<Option<Account>> {
        let (kind, value) = match by {
            Credential::User(v) => (0, v),
            Credential::Token(v) => (1, v),
            Credential::Session(v) => (2, v),
        };
        let sql = &ACCOUNT_SQL[kind];
        let lines: Vec<AccountLine> = self.fetch_all(sql, args![value, setting]).await?;
        let Some(first) = lines.first() else { return Ok(None) };
        let token = matches!(by, Credential::Token(_)).then(|| first.token()).flatten();
        let session = matches!(by, Credential::Session(_)).then(|| first.session()).flatten();
        let mut affiliations: Vec<AffiliationRow> =
            lines.iter().filter_map(AccountLine::affiliation).collect();
        affiliations.sort_by(|a, b| {
            (&a.organisation_name, &a.organisation_id).cmp(&(&b.organisation_name, &b.organisation_id))
        });
        let mut duties: Vec<String> =
            first.duties.as_deref().map(|d| d.split(',').map(str::to_string).collect()).unwrap_or_default();
        duties.sort();
        Ok(Some(Account {
            user: first.user.clone(),
            duties,
            setting: first.setting.clone(),
            has_passkey: first.passkeys > 0,
            affiliations,
            token,
            session,
        }))
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
