//! The demo region: Kanazawa's 19 community support centers and 2 branches with their districts
//! (from the city's slide deck), plausible providers, one demo account per kind of person, and a
//! few patients with their care teams and months of timeline (`demo/patients.rs`).

use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::{Invalid, OrganisationId};
use tsunagu_store::orgs::OrgRow;

use crate::admin::NewPerson;
use crate::{App, AppError, Result};

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

/// One demo provider.
struct Provider {
    key: &'static str,
    kind: OrgKind,
    name: &'static str,
    kana: &'static str,
    address: &'static str,
    phone: &'static str,
    emergency_hospital: bool,
}

const fn provider(
    key: &'static str,
    kind: OrgKind,
    name: &'static str,
    kana: &'static str,
    address: &'static str,
    phone: &'static str,
    emergency_hospital: bool,
) -> Provider {
    Provider { key, kind, name, kana, address, phone, emergency_hospital }
}

const PROVIDERS: &[Provider] = &[
    provider(
        "city",
        OrgKind::City,
        "金沢市 福祉健康局",
        "かなざわし ふくしけんこうきょく",
        "石川県金沢市広坂1-1-1",
        "076-220-2111",
        false,
    ),
    provider(
        "medassoc",
        OrgKind::MedicalAssociation,
        "金沢市医師会",
        "かなざわしいしかい",
        "石川県金沢市大手町3-23",
        "076-263-6711",
        false,
    ),
    provider(
        "fire",
        OrgKind::FireDepartment,
        "金沢市消防局",
        "かなざわししょうぼうきょく",
        "石川県金沢市西念3-4-1",
        "076-224-0119",
        false,
    ),
    provider(
        "clinic1",
        OrgKind::HomeCareSupportClinic,
        "犀川ホームクリニック",
        "さいがわほーむくりにっく",
        "石川県金沢市野町2-10-5",
        "076-241-3300",
        false,
    ),
    provider(
        "clinic2",
        OrgKind::HomeCareSupportClinic,
        "浅野川在宅診療所",
        "あさのがわざいたくしんりょうじょ",
        "石川県金沢市東山1-8-2",
        "076-252-4410",
        false,
    ),
    provider(
        "hospital",
        OrgKind::Hospital,
        "金沢中央総合病院",
        "かなざわちゅうおうそうごうびょういん",
        "石川県金沢市鞍月東2-1",
        "076-237-8211",
        true,
    ),
    provider(
        "hchospital",
        OrgKind::HomeCareSupportHospital,
        "卯辰山在宅支援病院",
        "うたつやまざいたくしえんびょういん",
        "石川県金沢市春日町5-12",
        "076-252-7101",
        false,
    ),
    provider(
        "nursing",
        OrgKind::VisitingNursingStation,
        "兼六訪問看護ステーション",
        "けんろくほうもんかんごすてーしょん",
        "石川県金沢市兼六町3-6",
        "076-231-5522",
        false,
    ),
    provider(
        "pharmacy",
        OrgKind::Pharmacy,
        "ひがし茶屋薬局",
        "ひがしちゃややっきょく",
        "石川県金沢市東山3-2-18",
        "076-253-1188",
        false,
    ),
    provider(
        "caremgmt",
        OrgKind::CareManagementOffice,
        "香林坊ケアプランセンター",
        "こうりんぼうけあぷらんせんたー",
        "石川県金沢市香林坊1-2-21",
        "076-223-4455",
        false,
    ),
    provider(
        "helpers",
        OrgKind::HomeHelpProvider,
        "長町ヘルパーステーション",
        "ながまちへるぱーすてーしょん",
        "石川県金沢市長町2-4-30",
        "076-232-6677",
        false,
    ),
    provider(
        "shortstay",
        OrgKind::ShortStayFacility,
        "ショートステイ卯辰の郷",
        "しょーとすてい うたつのさと",
        "石川県金沢市卯辰町15-3",
        "076-251-8890",
        false,
    ),
];

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
    person("physician", "山田 太郎", "やまだ たろう", "physician", &[], "clinic1"),
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
        let now = self.now().micros();
        let mut tx = self.store.begin().await?;
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut reader = csv::Reader::from_reader(CENTERS_CSV.as_bytes());
        let lines: Vec<CenterLine> = reader.deserialize().collect::<Result<_, _>>().map_err(field)?;
        for l in &lines {
            let branch = l.kind == "branch";
            let parent_id = if branch {
                keys.iter().find(|(k, _)| *k == format!("center:{}", l.parent_no)).map(|(_, id)| id.clone())
            } else {
                None
            };
            let name = if branch {
                format!("地域包括支援センター{}（{}）", l.name, l.branch_facility)
            } else {
                format!("地域包括支援センター{}", l.name)
            };
            let row = OrgRow {
                id: OrganisationId::new().to_string(),
                kind: if branch { OrgKind::SupportCenterBranch } else { OrgKind::SupportCenter }
                    .code()
                    .to_string(),
                name,
                name_kana: format!("ちいきほうかつしえんせんたー {}", l.name),
                parent_id,
                city_no: Some(l.no.clone()),
                address: l.address.clone(),
                phone: l.phone.clone(),
                jurisdiction: l.jurisdiction.clone(),
                operator_name: l.operator.clone(),
                is_emergency_hospital: false,
                created_at: now,
                updated_at: now,
            };
            tx.insert_organisation(&row).await?;
            for (i, d) in l.districts.split(';').map(str::trim).filter(|d| !d.is_empty()).enumerate() {
                tx.insert_district(d, &row.id, i64::try_from(i).unwrap_or(0)).await?;
            }
            keys.push((format!("center:{}", l.no), row.id));
        }
        for p in PROVIDERS {
            let row = OrgRow {
                id: OrganisationId::new().to_string(),
                kind: p.kind.code().to_string(),
                name: p.name.to_string(),
                name_kana: p.kana.to_string(),
                parent_id: None,
                city_no: None,
                address: p.address.to_string(),
                phone: p.phone.to_string(),
                jurisdiction: String::new(),
                operator_name: String::new(),
                is_emergency_hospital: p.emergency_hospital,
                created_at: now,
                updated_at: now,
            };
            tx.insert_organisation(&row).await?;
            keys.push((p.key.to_string(), row.id));
        }
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
        patients::load(&mut tx, &accounts, self.now()).await?;
        tx.append_audit(NewEvent::new(self.now(), Action::DemoLoaded, Outcome::Success).detail("kanazawa"))
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
