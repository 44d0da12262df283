//! The demo region: Kanazawa's 19 community support centers and 2 branches with their districts
//! (from the city's slide deck), a directory of some sixty plausible providers of the area with
//! consultation hours and short-stay vacancies (`demo/directory.rs`), one demo account per kind
//! of person, and a few patients with their care teams and months of timeline
//! (`demo/patients.rs`).

use tsunagu_domain::Invalid;
use tsunagu_domain::audit::{Action, NewEvent, Outcome};

use crate::admin::NewPerson;
use crate::{App, AppError, Result};

mod directory;
mod patients;

/// The city's list of support centers (section (9) of the seed deck).
pub const CENTERS_CSV: &str = include_str!("../../../data/kanazawa-community-support-centers.csv");

#[derive(Debug, serde::Deserialize)]
struct CenterLine {
    no: String,
    kind: String,
    parent_no: String,
    name: String,
    branch_facility: String,
    jurisdiction: String,
    phone: String,
    address: String,
    districts: String,
    operator: String,
}

/// One demo account.
struct Person {
    login: &'static str,
    name: &'static str,
    kana: &'static str,
    profession: &'static str,
    duties: &'static [&'static str],
    organisation: &'static str,
}

const fn person(
    login: &'static str,
    name: &'static str,
    kana: &'static str,
    profession: &'static str,
    duties: &'static [&'static str],
    organisation: &'static str,
) -> Person {
    Person { login, name, kana, profession, duties, organisation }
}

const PEOPLE: &[Person] = &[
    person("admin", "管理 花子", "かんり はなこ", "clerk", &["system_administrator"], "medassoc"),
    person("physician", "山田 太郎", "やまだ たろう", "physician", &["provider_operator"], "clinic1"),
    person("physician2", "佐藤 健一", "さとう けんいち", "physician", &[], "clinic2"),
    person("nurse", "中村 美穂", "なかむら みほ", "nurse", &[], "nursing"),
    person("pharmacist", "小林 直子", "こばやし なおこ", "pharmacist", &[], "pharmacy"),
    person("caremanager", "田中 由美", "たなか ゆみ", "care_manager", &[], "caremgmt"),
    person("helper", "伊藤 幸子", "いとう さちこ", "home_helper", &[], "helpers"),
    person("er-physician", "高橋 誠", "たかはし まこと", "physician", &[], "hospital"),
    person("coordinator", "渡辺 恵", "わたなべ めぐみ", "nurse", &["home_care_coordinator"], "medassoc"),
    person(
        "center-staff",
        "加藤 真理",
        "かとう まり",
        "social_worker",
        &["support_center_staff"],
        "center:4",
    ),
    person("city", "吉田 修", "よしだ おさむ", "clerk", &["city_official"], "city"),
    person("commissioner", "松本 和夫", "まつもと かずお", "welfare_commissioner", &[], "center:4"),
    person("shortstay", "清水 陽子", "しみず ようこ", "clerk", &["provider_operator"], "shortstay"),
    person("auditor", "監査 一郎", "かんさ いちろう", "clerk", &["auditor"], "medassoc"),
];

/// The demo logins, in the order they are printed.
pub fn demo_logins() -> Vec<&'static str> {
    PEOPLE.iter().map(|p| p.login).collect()
}

fn field(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("demo data: {e}"))
}

impl App {
    /// Whether the database holds no organisations and no people yet.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.store.count_users().await? == 0 && self.store.count_organisations().await? == 0)
    }

    /// Loads the demo region into an empty database, every account with `password`.
    pub async fn load_demo(&self, password: &str) -> Result<()> {
        if !self.is_empty().await? {
            return Err(Invalid::one("database", "error.not_empty").into());
        }
        tsunagu_domain::person::check_password(password, "demo", false)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut reader = csv::Reader::from_reader(CENTERS_CSV.as_bytes());
        let lines: Vec<CenterLine> = reader.deserialize().collect::<Result<_, _>>().map_err(field)?;
        let keys = directory::load(&mut tx, now, &lines).await?;
        let hash = self.hash_password(password)?;
        let mut accounts = Vec::new();
        for p in PEOPLE {
            let org_id = keys.iter().find(|(k, _)| k == p.organisation).map(|(_, id)| id.clone());
            let input = NewPerson {
                login: p.login.to_string(),
                display_name: p.name.to_string(),
                display_name_kana: p.kana.to_string(),
                profession: p.profession.to_string(),
                email: String::new(),
                duties: p.duties.iter().map(|d| (*d).to_string()).collect(),
                organisation_ids: org_id.iter().cloned().collect(),
            };
            let user = self.write_person(&mut tx, &input).await?;
            tx.set_password_hash(&user.id, &hash).await?;
            accounts.push(patients::Account {
                login: p.login,
                id: user.id,
                profession: p.profession,
                org: org_id,
            });
        }
        patients::load(&mut tx, &accounts, now).await?;
        tx.append_audit(NewEvent::new(now, Action::DemoLoaded, Outcome::Success).detail("kanazawa")).await?;
        tx.commit().await?;
        Ok(())
    }
}
