//! Organisations and districts.

use crate::{Result, Store, Tx, args, exec_tx, on_tx, read};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct OrgRow {
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
}

const ORG_COLUMNS: &str = "id, kind, name, name_kana, parent_id, city_no, address, phone, \
     jurisdiction, operator_name, is_emergency_hospital, created_at, updated_at";

/// An organisation by id (built once: read on every open of a patient's page).
static ORG_BY_ID_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("select {ORG_COLUMNS} from organisations where id = $1"));

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct DistrictRow {
    pub name: String,
    pub support_center_id: String,
}

impl Store {
    /// Every organisation, by kind and name.
    pub async fn list_organisations(&self) -> Result<Vec<OrgRow>> {
        let sql = format!(
            "select {ORG_COLUMNS} from organisations \
order by kind, name, id"
        );
        Ok(read!(self, |c| sqlx::query_as::<_, OrgRow>(&sql).fetch_all(c).await)?)
    }

    pub async fn organisation(&self, id: &str) -> Result<Option<OrgRow>> {
        self.fetch_optional(&ORG_BY_ID_SQL, args![id]).await
    }

    pub async fn count_organisations(&self) -> Result<i64> {
        let n: (i64,) =
            read!(self, |c| sqlx::query_as("select count(*) from organisations").fetch_one(c).await)?;
        Ok(n.0)
    }

    pub async fn list_districts(&self) -> Result<Vec<DistrictRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, DistrictRow>(
            "select name, support_center_id from districts order by support_center_id, position, name"
        )
        .fetch_all(c)
        .await)?)
    }

    /// The support center responsible for a district.
    pub async fn center_for_district(&self, district: &str) -> Result<Option<OrgRow>> {
        let sql = center_for_district_sql();
        Ok(read!(self, |c| sqlx::query_as::<_, OrgRow>(&sql).bind(district).fetch_optional(c).await)?)
    }

    /// The districts a support center serves, in the city's order.
    pub async fn districts_of(&self, center_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = read!(self, |c| sqlx::query_as(
            "select name from districts where support_center_id = $1 order by position, name"
        )
        .bind(center_id)
        .fetch_all(c)
        .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

fn center_for_district_sql() -> String {
    format!(
        "select {} from organisations o join districts d on d.support_center_id = o.id \
         where d.name = $1",
        ORG_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ")
    )
}

impl Tx {
    /// Whether an organisation exists, as this transaction sees it.
    pub async fn organisation_exists(&mut self, id: &str) -> Result<bool> {
        let r: Option<(String,)> =
            on_tx!(self, |c| sqlx::query_as("select id from organisations where id = $1")
                .bind(id)
                .fetch_optional(c)
                .await)?;
        Ok(r.is_some())
    }

    pub async fn insert_organisation(&mut self, o: &OrgRow) -> Result<()> {
        let sql = format!(
            "insert into organisations ({ORG_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        exec_tx!(self, |c| sqlx::query(&sql)
            .bind(&o.id)
            .bind(&o.kind)
            .bind(&o.name)
            .bind(&o.name_kana)
            .bind(&o.parent_id)
            .bind(&o.city_no)
            .bind(&o.address)
            .bind(&o.phone)
            .bind(&o.jurisdiction)
            .bind(&o.operator_name)
            .bind(o.is_emergency_hospital)
            .bind(o.created_at)
            .bind(o.updated_at)
            .execute(c)
            .await)?;
        self.refresh_search_text(&o.id).await
    }

    /// Writes every column of an organisation but its id and `created_at`. Returns whether it
    /// exists.
    pub async fn update_organisation(&mut self, o: &OrgRow) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update organisations set kind = $2, name = $3, name_kana = $4, parent_id = $5, \
             city_no = $6, address = $7, phone = $8, jurisdiction = $9, operator_name = $10, \
             is_emergency_hospital = $11, updated_at = $12 where id = $1"
        )
        .bind(&o.id)
        .bind(&o.kind)
        .bind(&o.name)
        .bind(&o.name_kana)
        .bind(&o.parent_id)
        .bind(&o.city_no)
        .bind(&o.address)
        .bind(&o.phone)
        .bind(&o.jurisdiction)
        .bind(&o.operator_name)
        .bind(o.is_emergency_hospital)
        .bind(o.updated_at)
        .execute(c)
        .await)?;
        if n == 1 {
            self.refresh_search_text(&o.id).await?;
        }
        Ok(n == 1)
    }

    /// The support center responsible for a district, as this transaction sees it.
    pub async fn center_for_district(&mut self, district: &str) -> Result<Option<OrgRow>> {
        let sql = center_for_district_sql();
        Ok(on_tx!(self, |c| sqlx::query_as::<_, OrgRow>(&sql).bind(district).fetch_optional(c).await)?)
    }

    /// Makes `names` the districts of a support center, in this order. A district another
    /// center serves is a conflict on `districts_pkey`: a district belongs to one center only.
    pub async fn replace_districts(&mut self, center_id: &str, names: &[String]) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("delete from districts where support_center_id = $1")
            .bind(center_id)
            .execute(&mut *c)
            .await)?;
        for (i, name) in names.iter().enumerate() {
            self.insert_district(name, center_id, i64::try_from(i).unwrap_or(i64::MAX)).await?;
        }
        Ok(())
    }

    pub async fn insert_district(&mut self, name: &str, center_id: &str, position: i64) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into districts (name, support_center_id, position) values ($1, $2, $3)"
        )
        .bind(name)
        .bind(center_id)
        .bind(position)
        .execute(c)
        .await)?;
        Ok(())
    }
}
