//! The region generator (`tsunagu gen`, issue 6): fills an empty database with a plausible,
//! made-up region for measuring — providers all over Japan (denser around Kanazawa), people of
//! every profession, patients with consent, care teams and years of timeline, and the audit
//! events all of that would have left.
//!
//! - **Deterministic**: everything comes from a small seeded generator (SplitMix64), each
//!   patient from its own stream, so the same seed and sizes give the same rows, ids included
//!   (UUIDv7-shaped, made from the stream in generation order: see `IdClock`). Two things are not
//!   the generator's to fix: the providers' ids, which the real importer gives them (random
//!   UUIDv7, as in any import; every row that names a provider names the same office), and the
//!   one password hash (salted at random). Times are fixed too: the region ends at
//!   [`GenSpec::until`], and the app should run on a clock fixed there (the CLI does so).
//! - **Providers** go the way real ones do: written as national open-data CSV files (the 24
//!   columns of 介護サービス情報公表システム, one file per service, BOM, CRLF) and loaded by the
//!   real importer ([`App::import_directory_from_cli`]). What the national files do not carry is
//!   then added in bulk: the kind of the medical offices they list under 居宅療養管理指導
//!   (clinics, home-care support clinics, dental clinics, pharmacies), capabilities and
//!   departments — so the benchmark's directory search (B3) finds what it asks for.
//! - **Fast**: people, patients and everything of theirs go in multi-row inserts
//!   (`tsunagu_store::generate`), [`BATCH`] patients per transaction, while a second thread makes
//!   the next batch. The audit events are chained here with `ChainHead::append`, in order, and
//!   the head moves with each batch, so the log verifies after every commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tsunagu_domain::Timestamp;
use tsunagu_domain::audit::{Action, ChainHead, NewEvent, Outcome, StoredEvent};
use tsunagu_domain::directory::{Capability, MedicalDepartment, ServiceKind};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::person::{Duty, Profession};
use tsunagu_domain::sharing::{EntryKind, VitalKind};
use tsunagu_domain::{Invalid, text::name_key};
use tsunagu_store::generate::{NewMember, NewRead};
use tsunagu_store::orgs::OrgRow;
use tsunagu_store::patients::{ConsentRow, EntryRow, PatientRow, TeamEventRow, VitalRow};
use tsunagu_store::people::UserRow;

use crate::directory::import::{NATIONAL_COLUMNS, col};
use crate::sharing::{AcpData, VisitData};
use crate::{App, AppError, Result};

/// The password of every generated account (hashed once, the hash shared).
pub const PASSWORD: &str = "tsunagu-gen-region";
/// Patients per transaction.
pub const BATCH: usize = 250;

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The tables the patients' phase fills by the million: their secondary indexes are built once
/// after the load (see `Store::drop_secondary_indexes`).
pub const BULK_TABLES: &[&str] = &[
    "patients",
    "consents",
    "team_members",
    "team_events",
    "timeline_entries",
    "vital_signs",
    "entry_reads",
    "audit_events",
];

const YEAR: i64 = 365 * DAY;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub providers: usize,
    pub patients: usize,
    pub entries_per_patient: usize,
    pub seed: u64,
    /// The end of the generated history: every timestamp lies before it.
    pub until: Timestamp,
    /// Where the national CSV files are written (and left; the caller removes them).
    pub csv_dir: PathBuf,
}

/// One phase's figures.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub secs: f64,
    pub rows: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct GenReport {
    pub phases: Vec<Phase>,
    pub providers: u64,
    pub people: u64,
    pub patients: u64,
    pub entries: u64,
    pub vitals: u64,
    pub reads: u64,
    pub audit_events: u64,
    /// A few logins to try, with what they are.
    pub sample_logins: Vec<(String, String)>,
}

// ---------------------------------------------------------------------------------------------
// The generator

/// SplitMix64.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    /// The stream for `(seed, tag, index)`: independent of how the work is batched.
    fn stream(seed: u64, tag: u64, index: u64) -> Self {
        let mut r =
            Rng(seed ^ tag.wrapping_mul(0xA076_1D64_78BD_642F) ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    /// Uniform in `lo..=hi`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { lo + (self.next() % (hi - lo + 1).unsigned_abs()) as i64 }
    }

    /// Bell-shaped, mean 0, standard deviation about 1.
    fn normal(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An index by weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut x = if total == 0 { 0 } else { self.next() % total };
        for (i, w) in weights.iter().enumerate() {
            if x < u64::from(*w) {
                return i;
            }
            x -= u64::from(*w);
        }
        0
    }

    /// A UUIDv7-shaped id whose time part is `at` (UTC micros), the rest from the stream.
    fn id(&mut self, at: i64) -> String {
        let a = self.next().to_be_bytes();
        self.id_with((at.max(0) / 1000) as u64, u16::from_be_bytes([a[0], a[1]]))
    }

    /// A UUIDv7-shaped id with this millisecond and 12-bit counter (`rand_a`), the rest from
    /// the stream: ids made in one order sort in that order.
    fn id_with(&mut self, ms: u64, counter: u16) -> String {
        let a = self.next().to_be_bytes();
        let b = self.next().to_be_bytes();
        let mut u = [0u8; 16];
        u[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        u[6] = 0x70 | ((counter >> 8) as u8 & 0x0f);
        u[7] = counter as u8;
        u[8] = 0x80 | (a[2] & 0x3f);
        u[9] = a[3];
        u[10..16].copy_from_slice(&b[..6]);
        uuid::Uuid::from_bytes(u).to_string()
    }
}

const TAG_PROVIDER: u64 = 1;
const TAG_CAPABILITY: u64 = 2;
const TAG_CENTER: u64 = 3;
const TAG_PERSON: u64 = 4;
const TAG_PATIENT_CITY: u64 = 5;
const TAG_PATIENT: u64 = 6;

/// A city of the region: prefecture code and name, city code, name, centre, telephone area
/// code, share of providers and patients (weight), spread of its homes and offices (km).
struct City {
    pref_code: u32,
    pref: &'static str,
    code: &'static str,
    name: &'static str,
    lat: f64,
    lon: f64,
    area: &'static str,
    weight: u32,
    spread_km: f64,
}

// A row of the table below, one argument per column.
#[allow(clippy::too_many_arguments)]
const fn city(
    pref_code: u32,
    pref: &'static str,
    code: &'static str,
    name: &'static str,
    lat: f64,
    lon: f64,
    area: &'static str,
    weight: u32,
    spread_km: f64,
) -> City {
    City { pref_code, pref, code, name, lat, lon, area, weight, spread_km }
}

const CITIES: &[City] = &[
    city(17, "石川県", "172014", "金沢市", 36.5613, 136.6562, "076", 8, 4.0),
    city(17, "石川県", "172103", "白山市", 36.5147, 136.5653, "076", 2, 3.0),
    city(17, "石川県", "172120", "野々市市", 36.5194, 136.6097, "076", 1, 1.5),
    city(17, "石川県", "172031", "小松市", 36.4083, 136.4453, "0761", 2, 3.0),
    city(17, "石川県", "172022", "七尾市", 37.0431, 136.9672, "0767", 1, 3.0),
    city(1, "北海道", "011002", "札幌市", 43.0621, 141.3544, "011", 8, 6.0),
    city(4, "宮城県", "041009", "仙台市", 38.2682, 140.8694, "022", 5, 5.0),
    city(15, "新潟県", "151009", "新潟市", 37.9162, 139.0364, "025", 4, 5.0),
    city(16, "富山県", "162019", "富山市", 36.6953, 137.2113, "076", 3, 4.0),
    city(18, "福井県", "182010", "福井市", 36.0641, 136.2196, "0776", 2, 3.5),
    city(20, "長野県", "202011", "長野市", 36.6486, 138.1942, "026", 3, 4.0),
    city(11, "埼玉県", "111007", "さいたま市", 35.8617, 139.6455, "048", 6, 5.0),
    city(12, "千葉県", "121002", "千葉市", 35.6073, 140.1063, "043", 5, 5.0),
    city(13, "東京都", "131041", "新宿区", 35.6938, 139.7036, "03", 4, 2.0),
    city(13, "東京都", "131121", "世田谷区", 35.6464, 139.6533, "03", 5, 2.5),
    city(14, "神奈川県", "141003", "横浜市", 35.4437, 139.6380, "045", 10, 7.0),
    city(23, "愛知県", "231002", "名古屋市", 35.1815, 136.9066, "052", 8, 6.0),
    city(26, "京都府", "261009", "京都市", 35.0116, 135.7681, "075", 6, 4.5),
    city(27, "大阪府", "271004", "大阪市", 34.6937, 135.5023, "06", 10, 5.0),
    city(28, "兵庫県", "281000", "神戸市", 34.6901, 135.1955, "078", 6, 5.0),
    city(33, "岡山県", "331007", "岡山市", 34.6551, 133.9195, "086", 3, 4.0),
    city(34, "広島県", "341002", "広島市", 34.3853, 132.4553, "082", 5, 5.0),
    city(38, "愛媛県", "382019", "松山市", 33.8392, 132.7657, "089", 2, 3.5),
    city(40, "福岡県", "401307", "福岡市", 33.5902, 130.4017, "092", 7, 5.0),
    city(43, "熊本県", "431001", "熊本市", 32.8031, 130.7079, "096", 3, 4.0),
    city(46, "鹿児島県", "462012", "鹿児島市", 31.5966, 130.5571, "099", 3, 4.0),
    city(47, "沖縄県", "472018", "那覇市", 26.2124, 127.6809, "098", 2, 2.5),
];

/// Parts of made-up town names: (kanji, hiragana).
const TOWN_HEADS: &[(&str, &str)] = &[
    ("桜", "さくら"),
    ("松", "まつ"),
    ("梅", "うめ"),
    ("緑", "みどり"),
    ("若葉", "わかば"),
    ("青葉", "あおば"),
    ("泉", "いずみ"),
    ("大", "おお"),
    ("高", "たか"),
    ("長", "なが"),
    ("石", "いし"),
    ("森", "もり"),
    ("杉", "すぎ"),
    ("東", "ひがし"),
    ("西", "にし"),
    ("南", "みなみ"),
    ("北", "きた"),
    ("本", "もと"),
    ("新", "しん"),
    ("旭", "あさひ"),
    ("平", "ひら"),
    ("藤", "ふじ"),
];
const TOWN_TAILS: &[(&str, &str)] = &[
    ("町", "まち"),
    ("丘", "おか"),
    ("台", "だい"),
    ("野", "の"),
    ("原", "はら"),
    ("田", "た"),
    ("川", "かわ"),
    ("崎", "さき"),
    ("浜", "はま"),
    ("沢", "さわ"),
    ("山", "やま"),
    ("島", "じま"),
];
const BRANDS: &[(&str, &str)] = &[
    ("ひまわり", "ひまわり"),
    ("あおぞら", "あおぞら"),
    ("さくら", "さくら"),
    ("やすらぎ", "やすらぎ"),
    ("ふれあい", "ふれあい"),
    ("はなみずき", "はなみずき"),
    ("こもれび", "こもれび"),
    ("陽だまり", "ひだまり"),
    ("希望", "きぼう"),
    ("けやき", "けやき"),
    ("つばさ", "つばさ"),
    ("みのり", "みのり"),
    ("すずらん", "すずらん"),
    ("ひかり", "ひかり"),
    ("いずみ", "いずみ"),
    ("たんぽぽ", "たんぽぽ"),
    ("なごみ", "なごみ"),
    ("ほほえみ", "ほほえみ"),
];

/// A kind of office with its share of the national files: the service it is listed under, the
/// kind of organisation it is, how its name ends, and what it offers.
struct ServiceShape {
    kind: ServiceKind,
    /// The organisation's kind when it is not the one the importer derives from the service
    /// (`ServiceKind::org_kind`): the national files list clinics, dental clinics and
    /// pharmacies under 居宅療養管理指導 (deemed designation), and the bulk step sets their kind.
    org_kind: Option<OrgKind>,
    weight: u32,
    /// Ends of the offices' names, one picked per office: (kanji, hiragana).
    suffixes: &'static [(&'static str, &'static str)],
    /// Places (定員) for facilities.
    capacity: Option<(i64, i64)>,
    /// Capabilities every such office has.
    always: &'static [Capability],
    /// 65% of the offices pick 1–4 of these (a capability listed twice is picked more often).
    capabilities: &'static [Capability],
    /// Departments every such office has, then 0–`extra_departments` more from the pool.
    departments: &'static [MedicalDepartment],
    extra_departments: i64,
}

const fn service(
    kind: ServiceKind,
    weight: u32,
    suffixes: &'static [(&'static str, &'static str)],
    capacity: Option<(i64, i64)>,
    capabilities: &'static [Capability],
) -> ServiceShape {
    ServiceShape {
        kind,
        org_kind: None,
        weight,
        suffixes,
        capacity,
        always: &[],
        capabilities,
        departments: &[],
        extra_departments: 0,
    }
}

use Capability as C;
use MedicalDepartment as D;
use ServiceKind as S;

const NURSING_CAPS: &[Capability] = &[
    C::VisitingCare,
    C::RoundTheClock,
    C::EndOfLife,
    C::Palliative,
    C::HomeOxygen,
    C::CentralVenousNutrition,
    C::TubeFeeding,
    C::PressureUlcer,
    C::Ventilator,
    C::Tracheostomy,
    C::UrinaryCatheter,
];
/// A clinic: about a third make house calls (往診).
const CLINIC_CAPS: &[Capability] = &[
    C::HouseCalls,
    C::HouseCalls,
    C::EndOfLife,
    C::Palliative,
    C::HomeOxygen,
    C::MedicationManagement,
    C::Dementia,
];
/// A home-care support clinic (在宅療養支援診療所) makes house calls round the clock by definition.
const SUPPORT_CLINIC_CAPS: &[Capability] = &[
    C::EndOfLife,
    C::Palliative,
    C::MedicalNarcotics,
    C::HomeOxygen,
    C::CentralVenousNutrition,
    C::Ventilator,
    C::Dementia,
    C::HomeDialysis,
];
const PHARMACY_CAPS: &[Capability] =
    &[C::MedicationManagement, C::MedicationManagement, C::SterileCompounding, C::MedicalNarcotics];
const DENTAL_CAPS: &[Capability] = &[C::HomeDentistry, C::HomeDentistry, C::SwallowingAssessment];
const REHAB_CAPS: &[Capability] = &[C::HomeRehabilitation, C::SwallowingAssessment];
const DEMENTIA_CAPS: &[Capability] = &[C::Dementia, C::EndOfLife, C::TubeFeeding];
const FACILITY_CAPS: &[Capability] =
    &[C::Dementia, C::TubeFeeding, C::PressureUlcer, C::UrinaryCatheter, C::HomeOxygen, C::EndOfLife];
const CARE_CAPS: &[Capability] = &[C::Dementia, C::MedicationManagement];

/// Departments a clinic picks from.
const CLINIC_DEPARTMENTS: &[MedicalDepartment] = &[
    D::InternalMedicine,
    D::InternalMedicine,
    D::Geriatrics,
    D::Palliative,
    D::Orthopedics,
    D::Cardiology,
    D::Respiratory,
    D::Neurology,
    D::Psychiatry,
    D::Surgery,
];

const SERVICES: &[ServiceShape] = &[
    service(
        S::HomeHelp,
        14,
        &[
            ("ヘルパーステーション", "へるぱーすてーしょん"),
            ("ヘルパーステーション", "へるぱーすてーしょん"),
            ("訪問介護事業所", "ほうもんかいごじぎょうしょ"),
            ("在宅介護センター", "ざいたくかいごせんたー"),
        ],
        None,
        CARE_CAPS,
    ),
    service(S::HomeBathing, 1, &[("訪問入浴サービス", "ほうもんにゅうよくさーびす")], None, CARE_CAPS),
    service(
        S::VisitingNursing,
        7,
        &[
            ("訪問看護ステーション", "ほうもんかんごすてーしょん"),
            ("訪問看護ステーション", "ほうもんかんごすてーしょん"),
            ("訪問看護ステーション", "ほうもんかんごすてーしょん"),
            ("在宅看護センター", "ざいたくかんごせんたー"),
        ],
        None,
        NURSING_CAPS,
    ),
    service(
        S::HomeRehabilitation,
        1,
        &[("訪問リハビリテーション", "ほうもんりはびりてーしょん")],
        None,
        REHAB_CAPS,
    ),
    // 居宅療養管理指導: clinics, home-care support clinics, dental clinics and pharmacies.
    ServiceShape {
        org_kind: Some(OrgKind::Clinic),
        departments: &[],
        extra_departments: 3,
        ..service(
            S::HomeMedicalManagement,
            5,
            &[
                ("クリニック", "くりにっく"),
                ("内科クリニック", "ないかくりにっく"),
                ("内科医院", "ないかいいん"),
                ("診療所", "しんりょうじょ"),
                ("在宅クリニック", "ざいたくくりにっく"),
            ],
            None,
            CLINIC_CAPS,
        )
    },
    ServiceShape {
        org_kind: Some(OrgKind::HomeCareSupportClinic),
        always: &[C::HouseCalls, C::RoundTheClock],
        departments: &[D::InternalMedicine],
        extra_departments: 2,
        ..service(
            S::HomeMedicalManagement,
            2,
            &[
                ("在宅クリニック", "ざいたくくりにっく"),
                ("在宅診療所", "ざいたくしんりょうじょ"),
                ("在宅医療クリニック", "ざいたくいりょうくりにっく"),
                ("訪問診療クリニック", "ほうもんしんりょうくりにっく"),
                ("クリニック", "くりにっく"),
            ],
            None,
            SUPPORT_CLINIC_CAPS,
        )
    },
    ServiceShape {
        org_kind: Some(OrgKind::DentalClinic),
        departments: &[D::Dentistry],
        ..service(
            S::HomeMedicalManagement,
            2,
            &[
                ("歯科医院", "しかいいん"),
                ("歯科クリニック", "しかくりにっく"),
                ("訪問歯科クリニック", "ほうもんしかくりにっく"),
            ],
            None,
            DENTAL_CAPS,
        )
    },
    ServiceShape {
        org_kind: Some(OrgKind::Pharmacy),
        ..service(
            S::HomeMedicalManagement,
            3,
            &[
                ("薬局", "やっきょく"),
                ("調剤薬局", "ちょうざいやっきょく"),
                ("在宅調剤薬局", "ざいたくちょうざいやっきょく"),
            ],
            None,
            PHARMACY_CAPS,
        )
    },
    service(
        S::DayService,
        10,
        &[("デイサービスセンター", "でいさーびすせんたー")],
        Some((20, 60)),
        FACILITY_CAPS,
    ),
    service(S::CommunityDayService, 8, &[("デイサービス", "でいさーびす")], Some((10, 18)), FACILITY_CAPS),
    service(S::DayRehabilitation, 3, &[("デイケア", "でいけあ")], Some((20, 50)), REHAB_CAPS),
    service(
        S::DementiaDayService,
        1,
        &[("認知症デイサービス", "にんちしょうでいさーびす")],
        Some((3, 12)),
        DEMENTIA_CAPS,
    ),
    service(S::ShortStay, 4, &[("ショートステイ", "しょーとすてい")], Some((10, 40)), FACILITY_CAPS),
    service(
        S::MedicalShortStay,
        1,
        &[("短期入所療養介護", "たんきにゅうしょりょうようかいご")],
        Some((5, 20)),
        FACILITY_CAPS,
    ),
    service(S::WelfareEquipmentRental, 3, &[("福祉用具センター", "ふくしようぐせんたー")], None, &[]),
    service(S::WelfareEquipmentSales, 2, &[("福祉用具販売", "ふくしようぐはんばい")], None, &[]),
    service(
        S::CareManagement,
        16,
        &[
            ("居宅介護支援事業所", "きょたくかいごしえんじぎょうしょ"),
            ("居宅介護支援事業所", "きょたくかいごしえんじぎょうしょ"),
            ("ケアプランセンター", "けあぷらんせんたー"),
            ("在宅介護支援センター", "ざいたくかいごしえんせんたー"),
        ],
        None,
        CARE_CAPS,
    ),
    service(
        S::SmallMultifunction,
        2,
        &[("小規模多機能ホーム", "しょうきぼたきのうほーむ")],
        Some((18, 29)),
        DEMENTIA_CAPS,
    ),
    service(
        S::NursingSmallMultifunction,
        1,
        &[("看護小規模多機能ホーム", "かんごしょうきぼたきのうほーむ")],
        Some((18, 29)),
        NURSING_CAPS,
    ),
    service(
        S::RoundTheClockVisits,
        1,
        &[("定期巡回サービス", "ていきじゅんかいさーびす")],
        None,
        NURSING_CAPS,
    ),
    service(S::NightHomeHelp, 1, &[("夜間訪問介護", "やかんほうもんかいご")], None, CARE_CAPS),
    service(S::GroupHome, 5, &[("グループホーム", "ぐるーぷほーむ")], Some((9, 18)), DEMENTIA_CAPS),
    service(
        S::SpecifiedFacility,
        2,
        &[("介護付き有料老人ホーム", "かいごつきゆうりょうろうじんほーむ")],
        Some((30, 100)),
        FACILITY_CAPS,
    ),
    service(
        S::SpecialNursingHome,
        4,
        &[("特別養護老人ホーム", "とくべつようごろうじんほーむ")],
        Some((29, 100)),
        FACILITY_CAPS,
    ),
    service(
        S::GeriatricHealthFacility,
        2,
        &[("介護老人保健施設", "かいごろうじんほけんしせつ")],
        Some((50, 100)),
        FACILITY_CAPS,
    ),
    service(
        S::CareMedicalHospital,
        1,
        &[("介護医療院", "かいごいりょういん")],
        Some((30, 120)),
        FACILITY_CAPS,
    ),
];

impl ServiceShape {
    /// The organisation kind the office ends up with.
    fn final_kind(&self) -> OrgKind {
        self.org_kind.unwrap_or_else(|| self.kind.org_kind())
    }
}

const SURNAMES: &[(&str, &str)] = &[
    ("佐藤", "さとう"),
    ("鈴木", "すずき"),
    ("高橋", "たかはし"),
    ("田中", "たなか"),
    ("伊藤", "いとう"),
    ("渡辺", "わたなべ"),
    ("山本", "やまもと"),
    ("中村", "なかむら"),
    ("小林", "こばやし"),
    ("加藤", "かとう"),
    ("吉田", "よしだ"),
    ("山田", "やまだ"),
    ("佐々木", "ささき"),
    ("山口", "やまぐち"),
    ("松本", "まつもと"),
    ("井上", "いのうえ"),
    ("木村", "きむら"),
    ("林", "はやし"),
    ("清水", "しみず"),
    ("山崎", "やまざき"),
    ("森", "もり"),
    ("池田", "いけだ"),
    ("橋本", "はしもと"),
    ("阿部", "あべ"),
    ("石川", "いしかわ"),
    ("前田", "まえだ"),
    ("藤井", "ふじい"),
    ("岡田", "おかだ"),
    ("長谷川", "はせがわ"),
    ("村上", "むらかみ"),
    ("北村", "きたむら"),
    ("西田", "にしだ"),
];
const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("花子", "はなこ"),
    ("幸子", "さちこ"),
    ("和子", "かずこ"),
    ("節子", "せつこ"),
    ("美智子", "みちこ"),
    ("久美子", "くみこ"),
    ("恵子", "けいこ"),
    ("由美", "ゆみ"),
    ("真理", "まり"),
    ("陽子", "ようこ"),
    ("直子", "なおこ"),
    ("美穂", "みほ"),
    ("千代", "ちよ"),
    ("トメ", "とめ"),
];
const GIVEN_MALE: &[(&str, &str)] = &[
    ("太郎", "たろう"),
    ("健一", "けんいち"),
    ("誠", "まこと"),
    ("修", "おさむ"),
    ("和夫", "かずお"),
    ("清", "きよし"),
    ("勝", "まさる"),
    ("茂", "しげる"),
    ("博", "ひろし"),
    ("正雄", "まさお"),
    ("一郎", "いちろう"),
    ("隆", "たかし"),
    ("実", "みのる"),
];

const CONDITIONS: &[&str] = &[
    "慢性心不全",
    "アルツハイマー型認知症",
    "脳梗塞後遺症（左片麻痺）",
    "慢性閉塞性肺疾患（COPD）、在宅酸素療法",
    "2型糖尿病",
    "パーキンソン病",
    "胃がん術後、多発肝転移",
    "慢性腎臓病（ステージ4）",
    "大腿骨頸部骨折術後",
    "高血圧症、変形性膝関節症",
    "筋萎縮性側索硬化症（ALS）",
    "誤嚥性肺炎の既往、胃ろう造設",
];
const ALLERGIES: &[&str] =
    &["なし", "なし", "なし", "ペニシリン系抗菌薬", "造影剤", "卵", "ロキソプロフェン"];
const MEDICATIONS: &[&str] = &[
    "アムロジピン錠5mg 1錠 朝食後",
    "フロセミド錠20mg 1錠 朝食後\nカルベジロール錠2.5mg 2錠 分2",
    "ドネペジル錠5mg 1錠 朝食後",
    "メトホルミン錠250mg 2錠 分2\nシタグリプチン錠50mg 1錠 朝食後",
    "レボドパ・カルビドパ配合錠 3錠 分3",
    "オキシコドン徐放錠5mg 2錠 分2\n酸化マグネシウム錠330mg 3錠 分3",
    "チオトロピウム吸入 1日1回",
    "酸化マグネシウム錠330mg 2錠 分2",
];
const CARE_LEVELS: &[&str] = &["support_1", "support_2", "care_1", "care_2", "care_3", "care_4", "care_5"];
const RELATIONS: &[&str] = &["長男", "長女", "妻", "夫", "次男", "次女"];
const SCOPE: &str = "在宅医療・介護に関わる多職種で、診療・看護・介護の情報を共有することに同意する。";

const VISIT_BODY: &[&str] = &[
    "定期訪問。",
    "訪問診療。状態安定。",
    "訪問看護。バイタル測定、清拭。",
    "訪問リハビリ。歩行訓練を実施。",
    "服薬確認。残薬なし。",
    "口腔ケアを実施。",
    "入浴介助。皮膚状態の観察。",
];
const SUBJECTIVE: &[&str] = &[
    "特に変わりない。",
    "夜間よく眠れている。",
    "食欲がやや落ちている。",
    "腰の痛みが続いている。",
    "息苦しさは軽くなった。",
    "便秘気味。",
    "足のむくみが気になる。",
    "デイサービスを楽しみにしている。",
];
const OBJECTIVE: &[&str] = &[
    "血圧安定。胸部聴診で異常なし。",
    "下腿浮腫軽度。",
    "仙骨部発赤なし。",
    "意識清明、会話良好。",
    "呼吸音清。",
    "体重は前回と変わらず。",
    "口腔内清潔。",
];
const ASSESSMENT: &[&str] = &[
    "状態安定。",
    "心不全の増悪なし。",
    "疼痛コントロール良好。",
    "脱水傾向に注意。",
    "認知機能は横ばい。",
    "褥瘡リスク中等度。",
];
const PLAN: &[&str] = &[
    "現行処方継続。",
    "次回2週後に訪問。",
    "水分摂取を促す。",
    "体位変換を継続。",
    "下剤を調整。",
    "リハビリ継続。",
    "家族へ服薬管理を指導。",
];
const CAUTIONS: &[&str] = &["", "", "", "転倒に注意。", "誤嚥に注意。", "低血糖に注意。"];
const VITALS_BODY: &[&str] = &["バイタル測定。", "定時の測定。", ""];
const MESSAGES: &[&str] = &[
    "本日の様子をお知らせします。食事は半量程度でした。",
    "次回の訪問日を変更させてください。",
    "お薬の残りが少なくなっています。処方をお願いします。",
    "ご家族から相談がありました。ご連絡ください。",
    "微熱（37.4℃）がありました。経過を見ます。",
    "転倒されたとの連絡がありました。外傷はありません。",
    "サービス担当者会議の日程調整をお願いします。",
];
const URGENT_MESSAGES: &[&str] = &[
    "発熱38.5℃、SpO2 90%。至急ご指示ください。",
    "転倒し右股関節痛あり。往診をお願いします。",
    "呼吸苦の訴えあり。至急連絡ください。",
];

/// A profession's share (people per patient of their city) and where its people work.
struct Staffing {
    profession: Profession,
    per_patient: f64,
    /// The offices they work at (by service or by kind); empty: the city's support center.
    works_at: &'static [Place],
    /// Chance of being on a given patient's team (physicians: as sub-attending).
    on_team: f64,
}

const fn staff(
    profession: Profession,
    per_patient: f64,
    works_at: &'static [Place],
    on_team: f64,
) -> Staffing {
    Staffing { profession, per_patient, works_at, on_team }
}

/// Where a person works: an office offering a service, or an organisation of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    Service(ServiceKind),
    Kind(OrgKind),
}

use OrgKind as K;
use Place::{Kind as Of, Service as Offering};
use Profession as P;
const CLINICS: &[Place] = &[Of(K::Clinic), Of(K::HomeCareSupportClinic)];
/// In the order teams are filled (a team takes at most five).
const STAFFING: &[Staffing] = &[
    staff(P::CareManager, 0.03, &[Offering(S::CareManagement)], 0.9),
    staff(P::Nurse, 0.04, &[Offering(S::VisitingNursing), Offering(S::NursingSmallMultifunction)], 0.85),
    staff(P::Physician, 1.0 / 30.0, CLINICS, 0.25),
    staff(
        P::HomeHelper,
        0.04,
        &[Offering(S::HomeHelp), Offering(S::RoundTheClockVisits), Offering(S::NightHomeHelp)],
        0.5,
    ),
    staff(P::Pharmacist, 0.015, &[Of(K::Pharmacy)], 0.35),
    staff(
        P::PhysicalTherapist,
        0.01,
        &[Offering(S::HomeRehabilitation), Offering(S::DayRehabilitation), Offering(S::VisitingNursing)],
        0.2,
    ),
    staff(P::Dentist, 0.01, &[Of(K::DentalClinic)], 0.1),
    staff(P::DentalHygienist, 0.005, &[Of(K::DentalClinic)], 0.06),
    staff(
        P::OccupationalTherapist,
        0.005,
        &[Offering(S::HomeRehabilitation), Offering(S::DayRehabilitation)],
        0.06,
    ),
    staff(
        P::SpeechTherapist,
        0.003,
        &[Offering(S::HomeRehabilitation), Offering(S::DayRehabilitation)],
        0.04,
    ),
    staff(P::Dietitian, 0.003, &[Offering(S::DayService), Offering(S::SpecialNursingHome)], 0.04),
    staff(
        P::MedicalSocialWorker,
        0.003,
        &[Offering(S::GeriatricHealthFacility), Offering(S::CareMedicalHospital)],
        0.03,
    ),
    staff(P::PublicHealthNurse, 0.003, &[], 0.03),
    staff(P::ChiefCareManager, 0.005, &[], 0.02),
    staff(P::SocialWorker, 0.005, &[], 0.02),
    staff(P::Clerk, 0.005, &[Offering(S::CareManagement), Of(K::Clinic), Of(K::HomeCareSupportClinic)], 0.0),
    staff(P::WelfareCommissioner, 0.005, &[], 0.0),
    staff(P::WelfarePromoter, 0.002, &[], 0.0),
];

/// The row of a profession in [`STAFFING`].
fn staffing_row(p: Profession) -> usize {
    STAFFING.iter().position(|s| s.profession == p).unwrap_or(0)
}

fn katakana(hiragana: &str) -> String {
    hiragana
        .chars()
        .map(|c| {
            if ('\u{3041}'..='\u{3096}').contains(&c) {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn town(rng: &mut Rng) -> (String, String) {
    let (h, hk) = rng.pick(TOWN_HEADS);
    let (t, tk) = rng.pick(TOWN_TAILS);
    (format!("{h}{t}"), format!("{hk}{tk}"))
}

/// A point about `spread_km` around the city's centre.
fn near(rng: &mut Rng, c: &City) -> (f64, f64) {
    let lat = c.lat + rng.normal() * c.spread_km / 111.0;
    let lon = c.lon + rng.normal() * c.spread_km / (111.0 * c.lat.to_radians().cos());
    ((lat * 1e6).round() / 1e6, (lon * 1e6).round() / 1e6)
}

fn phone(rng: &mut Rng, c: &City) -> String {
    let rest = 10 - c.area.len() as i64;
    let mid = rest - 4;
    let hi = 10i64.pow(mid as u32) - 1;
    format!("{}-{:0w$}-{:04}", c.area, rng.int(hi / 9, hi), rng.int(0, 9999), w = mid as usize)
}

fn person_name(rng: &mut Rng, female: bool) -> (String, String) {
    let (s, sk) = rng.pick(SURNAMES);
    let (g, gk) = if female { rng.pick(GIVEN_FEMALE) } else { rng.pick(GIVEN_MALE) };
    (format!("{s} {g}"), format!("{sk} {gk}"))
}

/// The Japan-time date of a moment.
fn jst_date(micros: i64) -> String {
    Timestamp(micros).jst_minutes().chars().take(10).collect()
}

// ---------------------------------------------------------------------------------------------
// Providers

struct GenProvider {
    office_no: String,
    city: usize,
    service: usize,
    fields: Vec<String>,
}

fn make_provider(seed: u64, i: usize) -> GenProvider {
    let mut rng = Rng::stream(seed, TAG_PROVIDER, i as u64);
    let weights: Vec<u32> = CITIES.iter().map(|c| c.weight).collect();
    let ci = rng.weighted(&weights);
    let c = &CITIES[ci];
    let sw: Vec<u32> = SERVICES.iter().map(|s| s.weight).collect();
    let si = rng.weighted(&sw);
    let s = &SERVICES[si];
    let (t, tk) = town(&mut rng);
    let (b, bk) = rng.pick(BRANDS);
    let (suffix, suffix_kana) = rng.pick(s.suffixes);
    // Clinics are often named after their physician (佐藤内科医院).
    let ways = if s.org_kind.is_some() { 4 } else { 3 };
    let (name, kana) = match rng.below(ways) {
        0 => (format!("{t}{suffix}"), format!("{tk}{suffix_kana}")),
        1 => (format!("{b}{suffix}"), format!("{bk}{suffix_kana}")),
        2 => (format!("{b}{t}{suffix}"), format!("{bk}{tk}{suffix_kana}")),
        _ => {
            let (sn, snk) = rng.pick(SURNAMES);
            (format!("{sn}{suffix}"), format!("{snk}{suffix_kana}"))
        }
    };
    let office_no = format!("{:02}7{:07}", c.pref_code, i + 1);
    let (lat, lon) = near(&mut rng, c);
    let mut f = vec![String::new(); NATIONAL_COLUMNS.len()];
    f[col::CITY_CODE] = c.code.to_string();
    f[col::PREFECTURE] = c.pref.to_string();
    f[col::CITY] = c.name.to_string();
    f[col::NAME] = name;
    f[col::NAME_KANA] = katakana(&kana);
    f[col::SERVICE] = s.kind.national_name().to_string();
    f[col::ADDRESS] =
        format!("{}{}{t}{}丁目{}-{}", c.pref, c.name, rng.int(1, 5), rng.int(1, 30), rng.int(1, 20));
    if rng.chance(0.2) {
        f[col::ADDRESS_EXTRA] = format!("{b}ビル{}階", rng.int(1, 5));
    }
    f[col::LATITUDE] = format!("{lat:.6}");
    f[col::LONGITUDE] = format!("{lon:.6}");
    f[col::PHONE] = phone(&mut rng, c);
    if rng.chance(0.7) {
        f[col::FAX] = phone(&mut rng, c);
    }
    f[col::CORPORATE_NUMBER] = format!("{}", rng.int(1_000_000_000_000, 9_999_999_999_999));
    f[col::OPERATOR_NAME] = match rng.below(4) {
        0 => format!("社会福祉法人{b}会"),
        1 => format!("医療法人社団{t}会"),
        2 => format!("株式会社{b}ケア"),
        _ => format!("特定非営利活動法人{t}福祉会"),
    };
    f[col::OFFICE_NO] = office_no.clone();
    f[col::OPEN_DAYS] = rng.pick(&["月火水木金", "月火水木金土", "毎日"]).to_string();
    if rng.chance(0.3) {
        f[col::OPEN_DAYS_NOTE] = "年末年始を除く".to_string();
    }
    if let Some((lo, hi)) = s.capacity {
        f[col::CAPACITY] = rng.int(lo, hi).to_string();
    }
    if rng.chance(0.4) {
        f[col::URL] = format!("https://example.jp/{office_no}/");
    }
    GenProvider { office_no, city: ci, service: si, fields: f }
}

/// The national files: one per service, as `(file name, bytes)`.
fn national_files(providers: &[GenProvider]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for kind in ServiceKind::ALL.iter().copied() {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        w.write_record(NATIONAL_COLUMNS).map_err(internal)?;
        let mut no = 0;
        for p in providers.iter().filter(|p| SERVICES[p.service].kind == kind) {
            no += 1;
            let mut f = p.fields.clone();
            f[col::NO] = no.to_string();
            w.write_record(&f).map_err(internal)?;
        }
        if no == 0 {
            continue;
        }
        let mut bytes = "\u{feff}".as_bytes().to_vec();
        bytes.extend(w.into_inner().map_err(internal)?);
        out.push((format!("jigyosho_{}.csv", kind.code()), bytes));
    }
    Ok(out)
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("generator: {e}"))
}

// ---------------------------------------------------------------------------------------------
// People

#[derive(Debug, Clone)]
struct GenPerson {
    id: String,
    login: String,
    profession: Profession,
    org: Option<String>,
}

/// Who works where: the people of each city by staffing row.
struct Region {
    people: Vec<GenPerson>,
    /// `[city][staffing row]` → indices into `people`.
    by_city: Vec<Vec<Vec<usize>>>,
    /// `[city]` → (support center id, its districts).
    centers: Vec<Vec<(String, Vec<String>)>>,
}

fn patient_city(seed: u64, i: usize) -> usize {
    let weights: Vec<u32> = CITIES.iter().map(|c| c.weight).collect();
    Rng::stream(seed, TAG_PATIENT_CITY, i as u64).weighted(&weights)
}

// ---------------------------------------------------------------------------------------------
// Patients

#[derive(Default)]
struct Batch {
    patients: Vec<PatientRow>,
    consents: Vec<ConsentRow>,
    members: Vec<NewMember>,
    team_events: Vec<TeamEventRow>,
    entries: Vec<EntryRow>,
    vitals: Vec<VitalRow>,
    reads: Vec<NewRead>,
    /// The head the events follow.
    from: Option<ChainHead>,
    events: Vec<StoredEvent>,
}

fn event(at: i64, action: Action, who: &GenPerson, patient: &str) -> NewEvent {
    NewEvent::new(Timestamp(at), action, Outcome::Success)
        .actor(&who.id, &who.login)
        .patient(patient)
        .via("web")
}

/// Usual values of one patient: (kind, centre, spread, decimals).
fn baselines(rng: &mut Rng) -> Vec<(VitalKind, f64, f64, i32)> {
    vec![
        (VitalKind::SystolicBp, rng.int(105, 150) as f64, 8.0, 0),
        (VitalKind::DiastolicBp, rng.int(60, 90) as f64, 5.0, 0),
        (VitalKind::Pulse, rng.int(60, 92) as f64, 6.0, 0),
        (VitalKind::Temperature, 36.0 + rng.int(0, 8) as f64 / 10.0, 0.25, 1),
        (VitalKind::Spo2, rng.int(92, 98) as f64, 1.2, 0),
        (VitalKind::RespiratoryRate, rng.int(14, 20) as f64, 2.0, 0),
        (VitalKind::Weight, rng.int(35, 75) as f64, 0.5, 1),
        (VitalKind::Glucose, rng.int(90, 170) as f64, 20.0, 0),
    ]
}

fn measure(rng: &mut Rng, base: &[(VitalKind, f64, f64, i32)], n: usize) -> Vec<(VitalKind, f64)> {
    // Blood pressure comes as a pair, first; then others in a random order.
    let mut kinds: Vec<usize> = (2..base.len()).collect();
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i + 1);
        kinds.swap(i, j);
    }
    let mut out = Vec::new();
    for &k in [0usize, 1].iter().chain(kinds.iter()).take(n.max(2)) {
        let (kind, centre, sd, dec) = base[k];
        let (lo, hi) = kind.range();
        let mut v = centre + rng.normal() * sd;
        if kind == VitalKind::Spo2 {
            v = v.min(100.0);
        }
        let f = 10f64.powi(dec);
        out.push((kind, ((v.clamp(lo, hi)) * f).round() / f));
    }
    out
}

/// The ids of one patient's records, in the order they are made: UUIDv7-shaped, the time part
/// counting from seven years before `until` in steps of 4,096 ms per patient, so that every
/// record sorts after those made before it. Inserts then append to the indexes instead of landing
/// all over them (which made a 10,000-patient region several times slower); nothing reads a time
/// out of an id (the records carry their own times).
struct IdClock {
    base_ms: u64,
    n: u64,
}

impl IdClock {
    fn new(until: i64, patient: usize) -> Self {
        let base = ((until - 7 * YEAR).max(0) / 1000) as u64;
        Self { base_ms: base + patient as u64 * 4096, n: 0 }
    }

    fn next(&mut self, rng: &mut Rng) -> String {
        let n = self.n;
        self.n += 1;
        rng.id_with(self.base_ms + (n >> 12), (n & 0xfff) as u16)
    }
}

struct PatientCtx<'a> {
    spec: &'a GenSpec,
    region: &'a Region,
}

/// Makes patient `i` and all of theirs into `b`, and their audit events (in time order) into
/// `events`.
fn make_patient(ctx: &PatientCtx, i: usize, b: &mut Batch, events: &mut Vec<NewEvent>) -> Result<()> {
    let spec = ctx.spec;
    let region = ctx.region;
    let ci = patient_city(spec.seed, i);
    let c = &CITIES[ci];
    let mut rng = Rng::stream(spec.seed, TAG_PATIENT, i as u64);
    let until = spec.until.micros();
    let physicians = &region.by_city[ci][staffing_row(Profession::Physician)];
    let Some(&att_i) = physicians.get(rng.below(physicians.len())) else {
        return Err(internal("a city with patients has no physician"));
    };
    let attending = &region.people[att_i];

    let start = until - rng.int(2, 5) * YEAR - rng.int(0, 180) * DAY + rng.int(9 * 60, 17 * 60) * MINUTE;
    let mut ids = IdClock::new(until, i);
    let pid = ids.next(&mut rng);
    let female = rng.chance(0.6);
    let (name, kana) = person_name(&mut rng, female);
    let (t, _) = town(&mut rng);
    let (lat, lon) = near(&mut rng, c);
    let centers = &region.centers[ci];
    let (center_id, districts) = rng.pick(centers);
    let district = rng.pick(districts).clone();
    let rel_female = rng.chance(0.5);
    let (rel_name, _) = person_name(&mut rng, rel_female);
    let relation = *rng.pick(RELATIONS);
    let home_phone = phone(&mut rng, c);
    b.patients.push(PatientRow {
        id: pid.clone(),
        name,
        name_kana: kana.clone(),
        name_folded: name_key(&kana),
        birth_date: format!("{}-{:02}-{:02}", rng.int(1925, 1950), rng.int(1, 12), rng.int(1, 28)),
        sex: if female { "female" } else { "male" }.to_string(),
        address: format!("{}{}{t}{}-{}", c.pref, c.name, rng.int(1, 30), rng.int(1, 20)),
        district: Some(district),
        support_center_id: Some(center_id.clone()),
        phone: home_phone.clone(),
        care_level: rng.pick(CARE_LEVELS).to_string(),
        insurance_number: Some(format!("{:010}", rng.int(1, 9_999_999_999))),
        key_person: format!("{relation} {rel_name} {home_phone}"),
        emergency_contacts: format!("{relation} {rel_name} {}", phone(&mut rng, c)),
        conditions: rng.pick(CONDITIONS).to_string(),
        allergies: rng.pick(ALLERGIES).to_string(),
        medications: rng.pick(MEDICATIONS).to_string(),
        attending_physician_id: attending.id.clone(),
        registered_by: attending.id.clone(),
        version: 1,
        created_at: start,
        updated_at: start,
        latitude: Some(lat),
        longitude: Some(lon),
    });
    let mut evs: Vec<NewEvent> =
        vec![event(start, Action::PatientRegistered, attending, &pid).target("patient", &pid)];

    let consented = rng.chance(0.92);
    if consented {
        let at = start + 3 * HOUR;
        let proxy = rng.chance(0.3);
        let cid = ids.next(&mut rng);
        b.consents.push(ConsentRow {
            id: cid.clone(),
            patient_id: pid.clone(),
            consenter: if proxy { "proxy" } else { "patient" }.to_string(),
            proxy_name: proxy.then(|| rel_name.clone()),
            proxy_relation: proxy.then(|| relation.to_string()),
            consented_on: jst_date(at),
            scope: SCOPE.to_string(),
            form_attachment_id: None,
            recorded_by: attending.id.clone(),
            recorded_at: at,
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawal_reason: None,
        });
        evs.push(event(at, Action::ConsentRecorded, attending, &pid).target("consent", &cid));
    }

    // The team: by staffing order, each profession by its chance; two to five members.
    let want = rng.int(2, 5) as usize;
    let mut team: Vec<usize> = Vec::new();
    for (row, s) in STAFFING.iter().enumerate() {
        if team.len() >= want {
            break;
        }
        let pool = &region.by_city[ci][row];
        if !rng.chance(s.on_team) || pool.is_empty() {
            continue;
        }
        let who = pool[rng.below(pool.len())];
        if who != att_i && !team.contains(&who) {
            team.push(who);
        }
    }
    // Members who are active (and so may write and read), with when they joined.
    let mut active: Vec<(usize, i64)> = Vec::new();
    for &m in &team {
        let who = &region.people[m];
        let physician = who.profession.is_physician_or_dentist();
        let pending = !physician && rng.chance(0.08);
        let asked = if pending { until - rng.int(1, 10) * DAY } else { start + rng.int(1, 30) * DAY };
        let role = if who.profession == Profession::Physician { "sub_attending" } else { "member" };
        let push_event =
            |rng: &mut Rng, ids: &mut IdClock, status: &str, actor: &GenPerson, at: i64| TeamEventRow {
                id: ids.next(rng),
                patient_id: pid.clone(),
                user_id: who.id.clone(),
                action: status.to_string(),
                actor_id: actor.id.clone(),
                at,
                note: String::new(),
            };
        if physician {
            b.team_events.push(push_event(&mut rng, &mut ids, "active", attending, asked));
            evs.push(event(asked, Action::TeamInvited, attending, &pid).target("user", &who.id));
            b.members.push(NewMember {
                patient_id: pid.clone(),
                user_id: who.id.clone(),
                role: role.to_string(),
                status: "active".to_string(),
                requested_by: attending.id.clone(),
                requested_at: asked,
                decided_by: Some(attending.id.clone()),
                decided_at: Some(asked),
            });
            active.push((m, asked));
            continue;
        }
        b.team_events.push(push_event(&mut rng, &mut ids, "pending", who, asked));
        evs.push(event(asked, Action::TeamRequested, who, &pid).target("user", &who.id));
        let decided = (!pending).then_some(asked + 2 * HOUR);
        if let Some(at) = decided {
            b.team_events.push(push_event(&mut rng, &mut ids, "active", attending, at));
            evs.push(event(at, Action::TeamApproved, attending, &pid).target("user", &who.id));
            active.push((m, at));
        }
        b.members.push(NewMember {
            patient_id: pid.clone(),
            user_id: who.id.clone(),
            role: role.to_string(),
            status: if pending { "pending" } else { "active" }.to_string(),
            requested_by: who.id.clone(),
            requested_at: asked,
            decided_by: decided.map(|_| attending.id.clone()),
            decided_at: decided,
        });
    }
    if !consented {
        // Without consent only the attending physician sees (and writes) the record.
        active.clear();
    }

    // The timeline: K entries between the team's forming and the end, oldest first.
    let base = baselines(&mut rng);
    let from = start + 32 * DAY;
    let to = until - 2 * HOUR;
    let mut times: Vec<i64> =
        (0..spec.entries_per_patient).map(|_| from + (rng.unit() * (to - from) as f64) as i64).collect();
    times.sort_unstable();
    for created in times {
        let created = created - created.rem_euclid(MINUTE);
        let roll = rng.unit();
        let kind = if roll < 0.02 {
            EntryKind::Acp
        } else if roll < 0.20 {
            EntryKind::Message
        } else if roll < 0.45 {
            EntryKind::Vitals
        } else {
            EntryKind::Visit
        };
        let writers: Vec<usize> =
            active.iter().filter(|(_, since)| *since < created).map(|(m, _)| *m).collect();
        let author_i = if kind == EntryKind::Acp || writers.is_empty() || rng.chance(0.3) {
            att_i
        } else {
            writers[rng.below(writers.len())]
        };
        let author = &region.people[author_i];
        let occurred = match kind {
            EntryKind::Visit | EntryKind::Vitals => created - rng.int(10, 90) * MINUTE,
            _ => created,
        };
        let eid = ids.next(&mut rng);
        let mut row = EntryRow {
            id: eid.clone(),
            patient_id: pid.clone(),
            kind: kind.code().to_string(),
            author_id: author.id.clone(),
            author_profession: author.profession.code().to_string(),
            author_org_id: author.org.clone(),
            created_at: created,
            occurred_at: occurred,
            body: String::new(),
            data: "{}".to_string(),
            corrects_id: None,
            urgent: false,
            needs_reply: false,
            addressee_id: None,
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        };
        let mut vitals = Vec::new();
        match kind {
            EntryKind::Visit => {
                row.body = rng.pick(VISIT_BODY).to_string();
                let visit = VisitData {
                    subjective: rng.pick(SUBJECTIVE).to_string(),
                    objective: rng.pick(OBJECTIVE).to_string(),
                    assessment: rng.pick(ASSESSMENT).to_string(),
                    plan: rng.pick(PLAN).to_string(),
                    next_visit: Some(jst_date(created + 14 * DAY)),
                    policy_changed: rng.chance(0.05),
                    cautions: rng.pick(CAUTIONS).to_string(),
                };
                row.data = serde_json::to_string(&visit).map_err(internal)?;
                if rng.chance(0.6) {
                    let n = rng.int(3, 5) as usize;
                    vitals = measure(&mut rng, &base, n);
                }
            }
            EntryKind::Vitals => {
                row.body = rng.pick(VITALS_BODY).to_string();
                let n = rng.int(3, 6) as usize;
                vitals = measure(&mut rng, &base, n);
            }
            EntryKind::Acp => {
                row.body = "人生会議（ACP）。本人・家族と今後の療養について話し合った。".to_string();
                let acp = AcpData {
                    care_place: rng.pick(&["home", "home", "facility", "undecided"]).to_string(),
                    care_place_note: String::new(),
                    death_place: rng.pick(&["home", "hospital", "undecided"]).to_string(),
                    death_place_note: String::new(),
                    resuscitation: rng.pick(&["dnar", "dnar", "wanted", "undecided"]).to_string(),
                    other_wishes: "苦痛はできるだけ取ってほしい。".to_string(),
                    discussed_on: jst_date(created),
                    present: format!("本人、{relation}、主治医"),
                };
                row.data = serde_json::to_string(&acp).map_err(internal)?;
            }
            _ => {
                let urgent = rng.chance(0.08);
                row.body = if urgent { rng.pick(URGENT_MESSAGES) } else { rng.pick(MESSAGES) }.to_string();
                row.urgent = urgent;
                let addressee = if author_i != att_i {
                    Some(att_i)
                } else if writers.is_empty() {
                    None
                } else {
                    Some(writers[rng.below(writers.len())])
                };
                if let Some(a) = addressee
                    && (urgent || rng.chance(0.3))
                {
                    let to = &region.people[a];
                    row.needs_reply = true;
                    row.addressee_id = Some(to.id.clone());
                    // Urgent ones are all answered (the server would escalate the others on
                    // its first minute); a few ordinary ones wait.
                    let ack = created + rng.int(5, if urgent { 60 } else { 600 }) * MINUTE;
                    if (urgent || rng.chance(0.95)) && ack < until {
                        row.acknowledged_at = Some(ack);
                        row.acknowledged_by = Some(to.id.clone());
                        evs.push(event(ack, Action::MessageAcknowledged, to, &pid).target("entry", &eid));
                    }
                }
            }
        }
        for (k, v) in &vitals {
            b.vitals.push(VitalRow {
                entry_id: eid.clone(),
                patient_id: pid.clone(),
                kind: k.code().to_string(),
                value: *v,
                measured_at: occurred,
            });
        }
        evs.push(event(created, Action::EntryWritten, author, &pid).target("entry", &eid));
        // Reads: the author at once; the attending physician and another member later.
        b.reads.push(NewRead { entry_id: eid.clone(), user_id: author.id.clone(), read_at: created });
        let mut readers: Vec<(usize, i64)> = Vec::new();
        if let (Some(at), Some(_)) = (row.acknowledged_at, row.addressee_id.as_ref()) {
            let who = if author_i == att_i { None } else { Some(att_i) };
            let to = who.or_else(|| {
                writers.iter().copied().find(|w| Some(&region.people[*w].id) == row.addressee_id.as_ref())
            });
            if let Some(to) = to {
                readers.push((to, at));
            }
        }
        if author_i != att_i && !readers.iter().any(|(r, _)| *r == att_i) && rng.chance(0.8) {
            readers.push((att_i, created + rng.int(60, 24 * 60) * MINUTE));
        }
        if !writers.is_empty() && rng.chance(0.5) {
            let w = writers[rng.below(writers.len())];
            if w != author_i && !readers.iter().any(|(r, _)| *r == w) {
                readers.push((w, created + rng.int(60, 48 * 60) * MINUTE));
            }
        }
        for (r, at) in readers {
            if at >= until {
                continue;
            }
            let who = &region.people[r];
            b.reads.push(NewRead { entry_id: eid.clone(), user_id: who.id.clone(), read_at: at });
            if rng.chance(0.25) {
                evs.push(event(at, Action::TimelineRead, who, &pid).detail(20));
            }
        }
        b.entries.push(row);
    }
    evs.sort_by_key(|e| e.at.micros());
    events.extend(evs);
    Ok(())
}

/// Makes the batches on a thread of its own and hands them over, chained from `head`.
fn spawn_batches(
    spec: GenSpec,
    region: Arc<Region>,
    head: ChainHead,
    tx: tokio::sync::mpsc::Sender<Result<Batch>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let ctx = PatientCtx { spec: &spec, region: &region };
        let mut head = head;
        let mut i = 0;
        while i < spec.patients {
            let end = (i + BATCH).min(spec.patients);
            let mut b = Batch::default();
            let mut events = Vec::new();
            let mut made = Ok(());
            for p in i..end {
                if let Err(e) = make_patient(&ctx, p, &mut b, &mut events) {
                    made = Err(e);
                    break;
                }
            }
            b.from = Some(head.clone());
            b.events = events.into_iter().map(|e| head.advance(e)).collect();
            let failed = made.is_err();
            if tx.blocking_send(made.map(|()| b)).is_err() || failed {
                return;
            }
            i = end;
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The use case

impl App {
    /// Generates a region into an empty database (see the module's description). `progress`
    /// hears a line now and then. The app's clock should stand at `spec.until` (the importer
    /// stamps providers and its audit event with it).
    pub async fn generate(&self, spec: &GenSpec, progress: &(dyn Fn(&str) + Sync)) -> Result<GenReport> {
        if !self.is_empty().await? {
            return Err(Invalid::one("database", "error.not_empty").into());
        }
        self.store.set_bulk_load(true).await?;
        let out = self.generate_into(spec, progress).await;
        let restored = self.store.set_bulk_load(false).await;
        let report = out?;
        restored?;
        Ok(report)
    }

    async fn generate_into(&self, spec: &GenSpec, progress: &(dyn Fn(&str) + Sync)) -> Result<GenReport> {
        let mut report = GenReport::default();
        let until = spec.until.micros();
        let phase = |report: &mut GenReport, name: &'static str, t: Instant, rows: u64| {
            let secs = t.elapsed().as_secs_f64();
            progress(&format!("{name}: {rows} rows in {secs:.1} s"));
            report.phases.push(Phase { name, secs, rows });
        };

        // 1. Providers: national CSV files, then the real importer.
        let t = Instant::now();
        let mut providers: Vec<GenProvider> =
            (0..spec.providers).map(|i| make_provider(spec.seed, i)).collect();
        let files = national_files(&providers)?;
        for p in &mut providers {
            // Only the office number, city and service are needed from here on.
            p.fields = Vec::new();
        }
        std::fs::create_dir_all(&spec.csv_dir).map_err(internal)?;
        let mut paths = Vec::new();
        for (name, bytes) in &files {
            let path = spec.csv_dir.join(name);
            std::fs::write(&path, bytes).map_err(internal)?;
            paths.push(path);
        }
        drop(files);
        phase(&mut report, "providers: national CSV files written", t, spec.providers as u64);
        let t = Instant::now();
        let mut created = 0;
        for path in &paths {
            let bytes = std::fs::read(path).map_err(internal)?;
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let r = self.import_directory_from_cli(&name, &bytes).await?;
            if !r.rejected.is_empty() || !r.refused.is_empty() {
                return Err(internal(format!("the importer rejected {} rows of {name}", r.rejected.len())));
            }
            created += r.created;
        }
        report.providers = created as u64;
        phase(&mut report, "providers: imported by the national importer", t, created as u64);

        // 2. What the national files do not carry, in bulk: the kind of the medical offices
        //    listed under 居宅療養管理指導 (clinic, home-care support clinic, dental clinic,
        //    pharmacy), capabilities and departments.
        let t = Instant::now();
        let ids: HashMap<String, String> =
            self.store.provider_ids_by_office_no().await?.into_iter().collect();
        let id_of = |p: &GenProvider| ids.get(&p.office_no).cloned();
        let mut kinds = Vec::new();
        let mut caps = Vec::new();
        let mut depts = Vec::new();
        for (i, p) in providers.iter().enumerate() {
            let Some(id) = id_of(p) else { continue };
            let mut rng = Rng::stream(spec.seed, TAG_CAPABILITY, i as u64);
            let s = &SERVICES[p.service];
            if let Some(k) = s.org_kind {
                kinds.push((id.clone(), k.code().to_string()));
            }
            let mut chosen: Vec<Capability> = s.always.to_vec();
            if !s.capabilities.is_empty() && rng.chance(0.65) {
                for _ in 0..rng.int(1, 4) {
                    let c = *rng.pick(s.capabilities);
                    if !chosen.contains(&c) {
                        chosen.push(c);
                    }
                }
            }
            caps.extend(chosen.into_iter().map(|c| (id.clone(), c.code().to_string())));
            let mut chosen: Vec<MedicalDepartment> = s.departments.to_vec();
            if s.extra_departments > 0 {
                let least = i64::from(chosen.is_empty());
                for _ in 0..rng.int(least, s.extra_departments) {
                    let d = *rng.pick(CLINIC_DEPARTMENTS);
                    if !chosen.contains(&d) {
                        chosen.push(d);
                    }
                }
            }
            depts.extend(chosen.into_iter().map(|d| (id.clone(), d.code().to_string())));
        }
        let mut tx = self.store.begin().await?;
        tx.bulk_set_kinds(&kinds).await?;
        tx.bulk_insert_capabilities(&caps).await?;
        tx.bulk_insert_departments(&depts).await?;
        tx.commit().await?;
        phase(
            &mut report,
            "providers: kinds, capabilities and departments",
            t,
            (kinds.len() + caps.len() + depts.len()) as u64,
        );

        // 3. Support centers and their districts, people, duties, affiliations.
        let t = Instant::now();
        let hash = self.hash_password(PASSWORD)?;
        let region = self.make_region(spec, &providers, &ids, &hash, until).await?;
        report.people = region.people.len() as u64;
        for (what, p) in [
            ("administrator", Profession::Clerk),
            ("physician", Profession::Physician),
            ("nurse", Profession::Nurse),
            ("care manager", Profession::CareManager),
        ] {
            if let Some(x) = region.people.iter().find(|x| x.profession == p) {
                report.sample_logins.push((x.login.clone(), what.to_string()));
            }
        }
        phase(&mut report, "support centers, districts and people", t, region.people.len() as u64);
        drop(providers);

        // 4. Patients, a batch per transaction, made on another thread meanwhile. The big
        // tables' secondary indexes are set aside meanwhile and built once at the end (also
        // when the load fails, so the database is never left without them).
        let t = Instant::now();
        let dropped = self.store.drop_secondary_indexes(BULK_TABLES).await?;
        let head = self.store.audit_head().await?;
        let region = Arc::new(region);
        let mut rows = 0u64;
        let loaded: Result<()> = async {
            let (sender, mut batches) = tokio::sync::mpsc::channel::<Result<Batch>>(2);
            let maker = spawn_batches(spec.clone(), region.clone(), head, sender);
            let mut done = 0usize;
            let mut last_note = Instant::now();
            while let Some(b) = batches.recv().await {
                let b = b?;
                let from = b.from.clone().unwrap_or_else(ChainHead::genesis);
                let mut tx = self.store.begin().await?;
                tx.relax_commit().await?;
                tx.bulk_insert_patients(&b.patients).await?;
                tx.bulk_insert_consents(&b.consents).await?;
                tx.bulk_insert_members(&b.members).await?;
                tx.bulk_insert_team_events(&b.team_events).await?;
                tx.bulk_insert_entries(&b.entries).await?;
                tx.bulk_insert_vitals(&b.vitals).await?;
                tx.bulk_insert_reads(&b.reads).await?;
                tx.bulk_append_audit(&from, &b.events).await?;
                tx.commit().await?;
                done += b.patients.len();
                report.patients += b.patients.len() as u64;
                report.entries += b.entries.len() as u64;
                report.vitals += b.vitals.len() as u64;
                report.reads += b.reads.len() as u64;
                report.audit_events += b.events.len() as u64;
                rows += (b.patients.len()
                    + b.consents.len()
                    + b.members.len()
                    + b.team_events.len()
                    + b.entries.len()
                    + b.vitals.len()
                    + b.reads.len()
                    + b.events.len()) as u64;
                if last_note.elapsed().as_secs() >= 10 {
                    last_note = Instant::now();
                    progress(&format!(
                        "  patients {done}/{} ({} entries, {:.0} s)",
                        spec.patients,
                        report.entries,
                        t.elapsed().as_secs_f64()
                    ));
                }
            }
            let _ = maker.join();
            if done != spec.patients {
                return Err(internal("the patient generator stopped early"));
            }
            Ok(())
        }
        .await;
        if loaded.is_ok() {
            phase(&mut report, "patients, teams, timelines, reads and audit events", t, rows);
        }
        let t = Instant::now();
        let built = self.store.build_indexes(&dropped).await;
        loaded?;
        built?;
        phase(&mut report, "secondary indexes of those tables built", t, dropped.0.len() as u64);

        self.store
            .append_audit(vec![NewEvent::new(spec.until, Action::DemoLoaded, Outcome::Success).detail(
                format!(
                    "gen seed={} providers={} patients={} entries_per_patient={}",
                    spec.seed, spec.providers, spec.patients, spec.entries_per_patient
                ),
            )])
            .await?;
        Ok(report)
    }

    /// Support centers (two per city, three districts each) and the people, written in bulk.
    async fn make_region(
        &self,
        spec: &GenSpec,
        providers: &[GenProvider],
        ids: &HashMap<String, String>,
        hash: &str,
        until: i64,
    ) -> Result<Region> {
        let mut tx = self.store.begin().await?;
        let created = until - 6 * YEAR;
        let mut centers = Vec::new();
        for (ci, c) in CITIES.iter().enumerate() {
            let mut rng = Rng::stream(spec.seed, TAG_CENTER, ci as u64);
            let mut list = Vec::new();
            let mut used: Vec<String> = Vec::new();
            for k in 0..2 {
                let id = rng.id(created);
                let (t, tk) = town(&mut rng);
                tx.insert_organisation(&OrgRow {
                    id: id.clone(),
                    kind: OrgKind::SupportCenter.code().to_string(),
                    name: format!("{}{t}地域包括支援センター", c.name),
                    name_kana: format!("{tk}ちいきほうかつしえんせんたー"),
                    parent_id: None,
                    city_no: Some(c.code.to_string()),
                    address: format!("{}{}{t}{}-{}", c.pref, c.name, rng.int(1, 20), rng.int(1, 20)),
                    phone: phone(&mut rng, c),
                    jurisdiction: String::new(),
                    operator_name: format!("社会福祉法人{}福祉会", c.name),
                    is_emergency_hospital: false,
                    created_at: created,
                    updated_at: created,
                })
                .await?;
                let mut names = Vec::new();
                let mut tries = 0;
                while names.len() < 3 && tries < 50 {
                    tries += 1;
                    let (d, _) = town(&mut rng);
                    let name = format!("{}{d}", c.name);
                    if used.contains(&name) {
                        continue;
                    }
                    used.push(name.clone());
                    tx.insert_district(&name, &id, names.len() as i64).await?;
                    names.push(name);
                }
                let _ = k;
                list.push((id, names));
            }
            centers.push(list);
        }

        // Offices by (city, service), for affiliations.
        let mut offices: HashMap<(usize, Place), Vec<String>> = HashMap::new();
        let mut by_city_any: Vec<Vec<String>> = vec![Vec::new(); CITIES.len()];
        for p in providers {
            if let Some(id) = ids.get(&p.office_no) {
                let s = &SERVICES[p.service];
                offices.entry((p.city, Place::Service(s.kind))).or_default().push(id.clone());
                offices.entry((p.city, Place::Kind(s.final_kind()))).or_default().push(id.clone());
                by_city_any[p.city].push(id.clone());
            }
        }
        let mut patients_in = vec![0usize; CITIES.len()];
        for i in 0..spec.patients {
            patients_in[patient_city(spec.seed, i)] += 1;
        }
        let mut people: Vec<GenPerson> = Vec::new();
        let mut users: Vec<UserRow> = Vec::new();
        let mut affiliations = Vec::new();
        let mut by_city = vec![vec![Vec::new(); STAFFING.len()]; CITIES.len()];
        let mut numbers = vec![0usize; STAFFING.len()];
        for (ci, &n) in patients_in.iter().enumerate() {
            if n == 0 {
                continue;
            }
            for (row, s) in STAFFING.iter().enumerate() {
                let count = (n as f64 * s.per_patient).ceil() as usize;
                for _ in 0..count {
                    numbers[row] += 1;
                    let k = people.len();
                    let mut rng = Rng::stream(spec.seed, TAG_PERSON, k as u64);
                    let id = rng.id(created);
                    let login = format!("gen-{}-{:05}", s.profession.code().replace('_', "-"), numbers[row]);
                    let female = rng.chance(0.5);
                    let (name, kana) = person_name(&mut rng, female);
                    let mut candidates: Vec<&String> = Vec::new();
                    for place in s.works_at {
                        candidates.extend(offices.get(&(ci, *place)).into_iter().flatten());
                    }
                    let org = if s.works_at.is_empty() {
                        Some(rng.pick(&centers[ci]).0.clone())
                    } else if !candidates.is_empty() {
                        Some(candidates[rng.below(candidates.len())].clone())
                    } else if !by_city_any[ci].is_empty() {
                        Some(by_city_any[ci][rng.below(by_city_any[ci].len())].clone())
                    } else {
                        None
                    };
                    if let Some(o) = &org {
                        affiliations.push((id.clone(), o.clone()));
                    }
                    users.push(UserRow {
                        id: id.clone(),
                        login: login.clone(),
                        display_name: name,
                        display_name_kana: kana,
                        profession: s.profession.code().to_string(),
                        email: None,
                        password_hash: Some(hash.to_string()),
                        totp_secret: None,
                        totp_enabled_at: None,
                        totp_last_step: 0,
                        disabled_at: None,
                        created_at: created,
                    });
                    by_city[ci][row].push(k);
                    people.push(GenPerson { id, login, profession: s.profession, org });
                }
            }
        }
        // Duties: the first clerk administers, the second audits, the first nurse coordinates,
        // social workers staff the support centers.
        let mut duties = Vec::new();
        let clerks: Vec<&GenPerson> = people.iter().filter(|p| p.profession == Profession::Clerk).collect();
        if let Some(p) = clerks.first() {
            duties.push((p.id.clone(), Duty::SystemAdministrator.code().to_string()));
        }
        if let Some(p) = clerks.get(1) {
            duties.push((p.id.clone(), Duty::Auditor.code().to_string()));
        }
        if let Some(p) = people.iter().find(|p| p.profession == Profession::Nurse) {
            duties.push((p.id.clone(), Duty::HomeCareCoordinator.code().to_string()));
        }
        for p in people.iter().filter(|p| p.profession == Profession::SocialWorker) {
            duties.push((p.id.clone(), Duty::SupportCenterStaff.code().to_string()));
        }
        tx.bulk_insert_users(&users).await?;
        tx.bulk_insert_duties(&duties).await?;
        tx.bulk_insert_affiliations(&affiliations).await?;
        tx.commit().await?;
        Ok(Region { people, by_city, centers })
    }
}

/// The CSV folder's default place: a fresh folder under the system's temp folder.
pub fn default_csv_dir(seed: u64) -> PathBuf {
    std::env::temp_dir().join(format!("tsunagu-gen-{seed}-{}", std::process::id()))
}

/// Removes the CSV folder (best effort).
pub fn remove_csv_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_shaped_and_parse() {
        let mut r = Rng::stream(1, 2, 3);
        let id = r.id(1_767_193_200_000_000);
        let u = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(u.get_version_num(), 7);
        assert!(id.parse::<tsunagu_domain::UserId>().is_ok());
    }

    #[test]
    fn the_same_stream_gives_the_same_provider() {
        let a = make_provider(7, 11);
        let b = make_provider(7, 11);
        assert_eq!(a.fields, b.fields);
        assert_ne!(make_provider(8, 11).fields, a.fields);
        assert_eq!(a.fields[col::OFFICE_NO].len(), 10);
    }

    #[test]
    fn katakana_of_hiragana() {
        assert_eq!(katakana("さくらだい訪問"), "サクラダイ訪問");
    }

    #[test]
    fn vitals_lie_in_their_ranges() {
        let mut r = Rng::stream(3, 3, 3);
        for _ in 0..200 {
            let base = baselines(&mut r);
            for (k, v) in measure(&mut r, &base, 6) {
                let (lo, hi) = k.range();
                assert!(v >= lo && v <= hi, "{k:?} {v}");
            }
        }
    }
}
