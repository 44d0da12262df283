//! The demo region's patients: five people of Kanazawa cared for at home, with their care teams
//! and months of timeline, so a newcomer sees a living product. `physician` (山田) attends them
//! all; `physician2` (佐藤) is sub-attending on two; `nurse` is on two teams, `helper` on one,
//! `pharmacist` waits (pending) on one and `caremanager` is on one (森 正雄's, so a care manager
//! can look for providers near a patient's home). One patient has no consent yet: only the
//! attending physician sees them. Every patient's home has coordinates in their district.
//!
//! Everything is generated deterministically (a seeded PRNG) relative to the time of loading, and
//! written straight through the store in the demo's one transaction, in the shapes the use cases
//! write (visit data as JSON, vital-sign rows, reads, team history).

use time::macros::{format_description, offset};
use tsunagu_domain::Timestamp;
use tsunagu_domain::sharing::{Consenter, EntryKind, MemberStatus, TeamRole, VitalKind};
use tsunagu_store::Tx;
use tsunagu_store::patients::{ConsentRow, EntryRow, PatientRow, VitalRow};

use crate::Result;
use crate::sharing::VisitData;

/// A demo account as the patients need it.
pub(super) struct Account {
    pub login: &'static str,
    pub id: String,
    pub profession: &'static str,
    /// The first organisation (the author's organisation on entries).
    pub org: Option<String>,
}

/// SplitMix64: a small, seeded, good-enough generator (no dependency, same data every load).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Bell-shaped noise with mean 0 and standard deviation `sd` (a sum of three uniforms).
    fn noise(&mut self, sd: f64) -> f64 {
        (self.unit() + self.unit() + self.unit() - 1.5) * 2.0 * sd
    }

    fn below(&mut self, n: i64) -> i64 {
        if n <= 0 { 0 } else { i64::try_from(self.next() % n.unsigned_abs()).unwrap_or(0) }
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        if xs.is_empty() {
            return "";
        }
        let i = usize::try_from(self.below(i64::try_from(xs.len()).unwrap_or(1))).unwrap_or(0);
        xs[i]
    }
}

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Days and times in Japan, counted back from the moment of loading.
struct Calendar {
    now: i64,
    /// The Japan-time day number of `now` (days since 1970-01-01 in JST).
    today: i64,
}

impl Calendar {
    fn new(now: Timestamp) -> Self {
        let now = now.micros();
        Self { now, today: (now + 9 * HOUR).div_euclid(DAY) }
    }

    /// `days_ago` days before today at `hour:minute` Japan time, as UTC micros.
    fn at(&self, days_ago: i64, hour: i64, minute: i64) -> i64 {
        (self.today - days_ago) * DAY - 9 * HOUR + hour * HOUR + minute * MINUTE
    }

    /// The Japan-time date of a moment, `YYYY-MM-DD`.
    fn date(&self, micros: i64) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset!(+9));
        t.date().format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
    }
}

/// What a profession writes at a routine visit, one line picked from each list.
struct Notes {
    body: &'static [&'static str],
    s: &'static [&'static str],
    o: &'static [&'static str],
    a: &'static [&'static str],
    p: &'static [&'static str],
    cautions: &'static [&'static str],
}

/// One vital sign's course over the months shown: where it starts, how far it drifts by today,
/// how much it varies from visit to visit, and how it is written down.
struct Course {
    kind: VitalKind,
    start: f64,
    drift: f64,
    sd: f64,
    decimals: u8,
}

const fn course(kind: VitalKind, start: f64, drift: f64, sd: f64, decimals: u8) -> Course {
    Course { kind, start, drift, sd, decimals }
}

/// A routine: someone visiting every `every` days.
struct Routine {
    login: &'static str,
    every: i64,
    /// Days after the start of the record of the first visit.
    first: i64,
    hour: i64,
    notes: &'static Notes,
    /// Which of the patient's vital signs this visitor measures.
    measures: &'static [VitalKind],
}

/// A scripted entry (an episode, a message, an ACP conversation, a correction).
struct Scripted {
    days_ago: i64,
    /// Japan time; a negative hour means that many hours before loading (today's news).
    hour: i64,
    minute: i64,
    login: &'static str,
    kind: EntryKind,
    body: &'static str,
    /// Visit records: (S, O, A, P, cautions, policy changed).
    soap: Option<(&'static str, &'static str, &'static str, &'static str, &'static str, bool)>,
    vitals: &'static [(VitalKind, f64)],
    urgent: bool,
    /// A message needing a reply from this login; acknowledged after so many minutes (or not).
    reply_from: Option<(&'static str, Option<i64>)>,
    /// Corrects the scripted entry at this index of the same patient.
    corrects: Option<usize>,
}

const fn scripted(
    days_ago: i64,
    hour: i64,
    minute: i64,
    login: &'static str,
    kind: EntryKind,
    body: &'static str,
) -> Scripted {
    Scripted {
        days_ago,
        hour,
        minute,
        login,
        kind,
        body,
        soap: None,
        vitals: &[],
        urgent: false,
        reply_from: None,
        corrects: None,
    }
}

/// One demo patient.
struct Demo {
    name: &'static str,
    kana: &'static str,
    birth_date: &'static str,
    sex: &'static str,
    address: &'static str,
    district: &'static str,
    /// Where the home is (latitude, longitude): in the district, for "providers near my patient".
    home: (f64, f64),
    phone: &'static str,
    care_level: &'static str,
    insurance_number: Option<&'static str>,
    key_person: &'static str,
    emergency_contacts: &'static str,
    conditions: &'static str,
    allergies: &'static str,
    medications: &'static str,
    /// Weeks of record.
    weeks: i64,
    /// (consenter, proxy name, relation); `None`: no consent yet.
    consent: Option<(Consenter, &'static str, &'static str)>,
    /// (login, role, status) besides the attending physician.
    team: &'static [(&'static str, TeamRole, MemberStatus)],
    courses: &'static [Course],
    routines: &'static [Routine],
    /// Days ago (from, to) in which routine visits give way to the scripted ones.
    pauses: &'static [(i64, i64)],
    scripted: &'static [Scripted],
}

const SCOPE: &str = "在宅医療・介護に関わる多職種（医師・歯科医師・薬剤師・看護師・介護支援専門員・介護職）の\
間での診療・介護情報の共有（金沢市在宅医療・介護連携ネットワーク「つなぐ」）";

use VitalKind as V;

const ROUTINE_VITALS: &[VitalKind] = &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Temperature, V::Spo2];

// --- 北村 トメ: chronic heart failure --------------------------------------------------------

const HF_DOCTOR: Notes = Notes {
    body: &["定期訪問診療。", "定期訪問診療。状態に大きな変化なし。", "定期訪問診療。長女同席。"],
    s: &[
        "息切れの訴えなし。夜間も横になって眠れている。",
        "食欲あり。長女の作る減塩食を続けている。",
        "「最近は調子がいい」と本人。デイサービスを楽しみにしている。",
        "階段で少し息が切れるが、室内の移動は問題なし。",
    ],
    o: &[
        "下腿浮腫なし。心音不整（心房細動）、雑音なし。肺野清。",
        "下腿に軽度の圧痕性浮腫。肺野清。頸静脈怒張なし。",
        "浮腫なし。呼吸音清。末梢冷感なし。",
    ],
    a: &["慢性心不全、代償期で安定。", "心房細動、心拍数コントロール良好。心不全増悪の兆候なし。"],
    p: &[
        "現処方継続。毎朝の体重測定を続けるよう指導。",
        "内服継続。塩分制限（1日6g）の継続を確認。",
        "現処方継続。次回採血（BNP・腎機能）予定。",
    ],
    cautions: &["体重が3日で2kg以上増えたら連絡。", "抗凝固薬内服中：転倒・出血に注意。"],
};

const HF_NURSE: Notes = Notes {
    body: &[
        "バイタル測定、服薬確認（飲み忘れなし）。足浴実施、下腿浮腫なし。",
        "シャワー浴介助。呼吸苦なし。体重は毎朝自宅で記録できている。",
        "服薬カレンダーのセット。長女様より、食事量は普段通りとのこと。",
        "皮膚の乾燥あり、保湿剤塗布。仙骨部の発赤なし。",
        "室内歩行の見守り。ふらつきなし。排便は毎日あり。",
    ],
    s: &[],
    o: &[],
    a: &[],
    p: &[],
    cautions: &["水分は1日1000mLまでを目安に。", "息切れ・浮腫の増悪時は主治医へ連絡。", ""],
};

// --- 森 正雄: after a stroke, diabetes --------------------------------------------------------

const STROKE_DOCTOR: Notes = Notes {
    body: &["定期訪問診療。", "定期訪問診療。妻同席。"],
    s: &[
        "妻より、食事はとろみ付きで全量摂取とのこと。",
        "夜間の排尿が2回。むせ込みは減っている。",
        "本人「変わりない」。日中はリクライニング車いすで過ごしている。",
    ],
    o: &[
        "左上下肢麻痺は変化なし。仙骨部に褥瘡なし。",
        "口腔内清潔。嚥下時のむせなし。胸部聴診異常なし。",
        "左足背に軽度浮腫。皮膚トラブルなし。",
    ],
    a: &["脳梗塞後遺症、状態安定。", "2型糖尿病、血糖はやや高めで推移。誤嚥性肺炎の兆候なし。"],
    p: &[
        "メトホルミン継続。次回採血でHbA1cを確認。",
        "現処方継続。訪問リハビリ継続。",
        "とろみ食継続。口腔ケアを妻と看護師に依頼。",
    ],
    cautions: &["低血糖症状（冷汗・意識低下）に注意。", "むせ・発熱時は誤嚥性肺炎を疑い連絡。"],
};

const STROKE_NURSE: Notes = Notes {
    body: &[
        "清拭・陰部洗浄。体位変換の方法を妻へ再指導。",
        "血糖測定、フットケア実施。足趾に異常なし。",
        "口腔ケア実施、とろみ剤の使い方を確認。",
        "訪問リハビリと連携、座位保持20分可能。",
        "摘便実施、排便中等量。腹部膨満なし。",
    ],
    s: &[],
    o: &[],
    a: &[],
    p: &[],
    cautions: &["体位変換は2〜3時間ごとに。", "", "食後30分は座位を保つ。"],
};

// --- 浅田 フミ子: dementia ------------------------------------------------------------------

const DEMENTIA_DOCTOR: Notes = Notes {
    body: &["定期訪問診療。", "定期訪問診療。長男同席。"],
    s: &[
        "長男より、夕方になると落ち着かないことがあるとのこと。",
        "物忘れは変わらないが、穏やかに過ごしている。",
        "腰痛の訴えなし。食欲あり。",
    ],
    o: &[
        "表情穏やか。歩行はシルバーカー使用で安定。",
        "腰背部痛なし。皮膚トラブルなし。会話は保たれている。",
    ],
    a: &["アルツハイマー型認知症、BPSD目立たず。", "骨粗鬆症、新たな骨折なし。"],
    p: &["ドネペジル継続。転倒に注意。", "現処方継続。服薬はヘルパーと長男で確認。"],
    cautions: &["夕方の不穏時は否定せず傾聴を。", "転倒リスクあり：室内の動線を確保。"],
};

const DEMENTIA_HELPER: Notes = Notes {
    body: &[
        "昼食の準備と見守り。全量摂取。服薬カレンダー確認、飲み忘れなし。",
        "買い物代行と掃除。本人「いつもありがとう」と笑顔。",
        "入浴の見守り。背部の皮膚に変化なし。",
        "冷蔵庫に期限切れの食品あり、長男様へ連絡済み。",
        "ゴミ出しと居室の整理。転倒の形跡なし。",
    ],
    s: &[],
    o: &[],
    a: &[],
    p: &[],
    cautions: &[""],
};

// --- 西田 勝: end-stage pancreatic cancer ----------------------------------------------------

const CANCER_DOCTOR: Notes = Notes {
    body: &["定期訪問診療。", "定期訪問診療。妻同席。", "定期訪問診療。長女同席。"],
    s: &[
        "痛みはNRS 2〜3で落ち着いている。レスキューは1日1〜2回。",
        "食事は少量ずつ。だるさが強い日がある。",
        "便通は2日に1回。嘔気なし。夜は眠れている。",
    ],
    o: &[
        "黄疸軽度。腹部膨満やや増強。",
        "るい痩進行。意識清明。仙骨部発赤なし。",
        "腹水軽度。下腿浮腫軽度。",
    ],
    a: &["膵臓がん末期、疼痛コントロール良好。", "全身状態は緩やかに低下。"],
    p: &[
        "オキシコドン継続。レスキューの使用回数を記録してもらう。",
        "妻の介護負担に配慮し、訪問回数の増加を検討。",
        "現処方継続。緩和ケアの方針を家族と共有。",
    ],
    cautions: &[
        "呼吸の変化・意識低下時は救急車ではなく当院へ連絡（ACP参照）。",
        "オピオイド内服中：眠気・呼吸数に注意。",
    ],
};

const CANCER_COVER: Notes = Notes {
    body: &["山田医師不在のため代診。"],
    s: &["痛みは落ち着いている。食事は数口。"],
    o: &["意識清明。呼吸は穏やか。腹部膨満あり。"],
    a: &["膵臓がん末期、状態は前回から大きな変化なし。"],
    p: &["現処方継続。経過は山田医師へ申し送り。"],
    cautions: &[""],
};

// --- 大島 清: COPD, no consent yet ----------------------------------------------------------

const COPD_DOCTOR: Notes = Notes {
    body: &["訪問診療。"],
    s: &["労作時の息切れあり。在宅酸素は安静時1L/分で使用。", "痰がやや多い。発熱なし。"],
    o: &["呼吸音やや減弱、喘鳴なし。口すぼめ呼吸可能。", "チアノーゼなし。下腿浮腫なし。"],
    a: &["COPD（在宅酸素療法中）、安定期。"],
    p: &["吸入薬の手技を確認。情報共有の同意書は次回取得予定。", "現処方継続。禁煙継続を確認。"],
    cautions: &["酸素使用中は火気厳禁。"],
};

const PATIENTS: &[Demo] = &[
    Demo {
        name: "北村 トメ",
        kana: "きたむら とめ",
        birth_date: "1936-03-12",
        sex: "female",
        address: "石川県金沢市野町3-12-8",
        district: "野町",
        home: (36.5541, 136.6468),
        phone: "076-241-5832",
        care_level: "care_3",
        insurance_number: Some("0003418827"),
        key_person: "長女 北村 和子（同居）090-3761-2294",
        emergency_contacts: "長女 北村 和子 090-3761-2294\n長男 北村 誠（東京都在住）080-5521-0937",
        conditions: "慢性心不全（NYHA II度）\n心房細動\n高血圧症",
        allergies: "ペニシリン系抗菌薬（発疹）",
        medications: "フロセミド錠20mg 1錠 朝食後\nカルベジロール錠2.5mg 2錠 分2 朝夕食後\n\
アピキサバン錠2.5mg 2錠 分2 朝夕食後\nエナラプリル錠2.5mg 1錠 朝食後",
        weeks: 26,
        consent: Some((Consenter::Patient, "", "")),
        team: &[
            ("physician2", TeamRole::SubAttending, MemberStatus::Active),
            ("nurse", TeamRole::Member, MemberStatus::Active),
            ("pharmacist", TeamRole::Member, MemberStatus::Pending),
        ],
        courses: &[
            course(V::SystolicBp, 128.0, -2.0, 7.0, 0),
            course(V::DiastolicBp, 72.0, 0.0, 5.0, 0),
            course(V::Pulse, 76.0, -2.0, 7.0, 0),
            course(V::Temperature, 36.4, 0.0, 0.2, 1),
            course(V::Spo2, 96.0, 0.0, 1.0, 0),
            course(V::Weight, 48.6, -0.4, 0.25, 1),
        ],
        routines: &[
            Routine {
                login: "physician",
                every: 14,
                first: 1,
                hour: 14,
                notes: &HF_DOCTOR,
                measures: ROUTINE_VITALS,
            },
            Routine {
                login: "nurse",
                every: 7,
                first: 4,
                hour: 10,
                notes: &HF_NURSE,
                measures: &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Temperature, V::Spo2, V::Weight],
            },
        ],
        pauses: &[(70, 54), (31, 31)],
        scripted: &[
            // 0: the worsening, seen by the nurse.
            Scripted {
                soap: Some((
                    "長女より、ここ数日で足がむくみ、夜に咳が出るとのこと。",
                    "両下腿に圧痕性浮腫著明。労作時息切れあり。体重は1週間で1.8kg増加。",
                    "心不全増悪の疑い。",
                    "主治医へ報告し、臨時往診を依頼。",
                    "安静を保ち、水分は1日800mLまで。",
                    false,
                )),
                vitals: &[
                    (V::SystolicBp, 146.0),
                    (V::DiastolicBp, 84.0),
                    (V::Pulse, 98.0),
                    (V::Temperature, 36.6),
                    (V::Spo2, 93.0),
                    (V::Weight, 50.4),
                ],
                ..scripted(64, 10, 5, "nurse", EntryKind::Visit, "定期訪問。下腿浮腫と体重増加あり。")
            },
            // 1: an urgent message, acknowledged within 20 minutes.
            Scripted {
                urgent: true,
                reply_from: Some(("physician", Some(18))),
                ..scripted(
                    64,
                    10,
                    40,
                    "nurse",
                    EntryKind::Message,
                    "【至急】北村様、体重が1週間で1.8kg増加、SpO2 93%、下腿浮腫著明です。労作時の息切れもあります。\
臨時往診をご検討ください。",
                )
            },
            // 2: the physician's answer.
            scripted(
                64,
                11,
                2,
                "physician",
                EntryKind::Message,
                "本日16時に臨時往診します。それまで安静にしていただいてください。",
            ),
            // 3: the extra visit: the treatment changes.
            Scripted {
                soap: Some((
                    "夜間の咳と息切れ。起座呼吸はなし。",
                    "両下腿浮腫（2+）。両下肺野に軽度の湿性ラ音。",
                    "慢性心不全の急性増悪（軽症）。塩分摂取過多が誘因と思われる。",
                    "フロセミドを40mg/日に増量（1週間）。3日後に看護師が再評価。減塩を再指導。",
                    "体重・尿量を毎日記録。呼吸苦増悪時は夜間でも連絡を。",
                    true,
                )),
                vitals: &[
                    (V::SystolicBp, 142.0),
                    (V::DiastolicBp, 80.0),
                    (V::Pulse, 94.0),
                    (V::Temperature, 36.7),
                    (V::Spo2, 93.0),
                    (V::RespiratoryRate, 22.0),
                ],
                ..scripted(
                    64,
                    16,
                    10,
                    "physician",
                    EntryKind::Visit,
                    "臨時往診。心不全増悪に対し利尿薬を増量。",
                )
            },
            // 4: three days later.
            Scripted {
                soap: Some((
                    "咳は減った。尿量が増えた。",
                    "下腿浮腫は軽減（1+）。",
                    "利尿薬増量に反応している。",
                    "主治医へ経過報告。",
                    "",
                    false,
                )),
                vitals: &[
                    (V::SystolicBp, 132.0),
                    (V::DiastolicBp, 74.0),
                    (V::Pulse, 84.0),
                    (V::Temperature, 36.5),
                    (V::Spo2, 95.0),
                    (V::Weight, 49.3),
                ],
                ..scripted(
                    61,
                    10,
                    15,
                    "nurse",
                    EntryKind::Visit,
                    "再評価の訪問。浮腫は軽減し、体重は1.1kg減少。",
                )
            },
            // 5: back to the usual dose.
            Scripted {
                soap: Some((
                    "息切れなし。よく眠れている。",
                    "浮腫なし。肺野清。",
                    "心不全増悪は改善。",
                    "フロセミドを20mg/日に戻す。減塩の継続を長女と確認。",
                    "体重が3日で2kg以上増えたら連絡。",
                    true,
                )),
                vitals: &[
                    (V::SystolicBp, 126.0),
                    (V::DiastolicBp, 70.0),
                    (V::Pulse, 78.0),
                    (V::Temperature, 36.4),
                    (V::Spo2, 96.0),
                ],
                ..scripted(
                    57,
                    14,
                    20,
                    "physician",
                    EntryKind::Visit,
                    "定期訪問診療。心不全増悪は改善、利尿薬を元の量に。",
                )
            },
            // 6: a visit with a mistyped weight…
            Scripted {
                vitals: &[
                    (V::SystolicBp, 124.0),
                    (V::DiastolicBp, 70.0),
                    (V::Pulse, 74.0),
                    (V::Temperature, 36.3),
                    (V::Spo2, 96.0),
                    (V::Weight, 58.4),
                ],
                ..scripted(
                    31,
                    10,
                    20,
                    "nurse",
                    EntryKind::Visit,
                    "バイタル測定、服薬確認（飲み忘れなし）。シャワー浴介助。",
                )
            },
            // 7: …corrected by its author (both stay visible).
            Scripted {
                vitals: &[
                    (V::SystolicBp, 124.0),
                    (V::DiastolicBp, 70.0),
                    (V::Pulse, 74.0),
                    (V::Temperature, 36.3),
                    (V::Spo2, 96.0),
                    (V::Weight, 48.4),
                ],
                corrects: Some(6),
                ..scripted(
                    31,
                    11,
                    40,
                    "nurse",
                    EntryKind::Visit,
                    "（訂正）体重の入力誤りを訂正します（58.4kg → 48.4kg）。バイタル測定、服薬確認（飲み忘れなし）。\
シャワー浴介助。",
                )
            },
            // 8: a question to the physician nobody has answered yet.
            Scripted {
                reply_from: Some(("physician", None)),
                ..scripted(
                    0,
                    -3,
                    0,
                    "nurse",
                    EntryKind::Message,
                    "長女様より、来週の訪問診療を水曜から木曜に変更できないかとのご相談がありました。\
ご都合はいかがでしょうか。",
                )
            },
        ],
    },
    Demo {
        name: "森 正雄",
        kana: "もり まさお",
        birth_date: "1940-07-02",
        sex: "male",
        address: "石川県金沢市小立野2-31-4",
        district: "小立野",
        home: (36.5549, 136.6705),
        phone: "076-262-4418",
        care_level: "care_4",
        insurance_number: Some("0002907315"),
        key_person: "妻 森 久子（同居）076-262-4418",
        emergency_contacts: "妻 森 久子 076-262-4418\n長男 森 隆 090-8812-4403（野々市市在住）",
        conditions: "脳梗塞後遺症（左片麻痺・嚥下障害）\n2型糖尿病\n高血圧症",
        allergies: "なし",
        medications: "クロピドグレル錠75mg 1錠 朝食後\nメトホルミン錠250mg 2錠 分2 朝夕食後\n\
アムロジピン錠5mg 1錠 朝食後\n酸化マグネシウム錠330mg 3錠 分3 毎食後",
        weeks: 20,
        consent: Some((Consenter::Proxy, "森 久子", "妻")),
        team: &[
            ("nurse", TeamRole::Member, MemberStatus::Active),
            ("caremanager", TeamRole::Member, MemberStatus::Active),
        ],
        courses: &[
            course(V::SystolicBp, 138.0, -6.0, 8.0, 0),
            course(V::DiastolicBp, 78.0, -2.0, 5.0, 0),
            course(V::Pulse, 70.0, 0.0, 5.0, 0),
            course(V::Temperature, 36.6, 0.0, 0.2, 1),
            course(V::Spo2, 96.0, 0.0, 1.0, 0),
            course(V::Glucose, 182.0, -30.0, 18.0, 0),
        ],
        routines: &[
            Routine {
                login: "physician",
                every: 14,
                first: 0,
                hour: 15,
                notes: &STROKE_DOCTOR,
                measures: &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Temperature, V::Spo2],
            },
            Routine {
                login: "nurse",
                every: 7,
                first: 3,
                hour: 13,
                notes: &STROKE_NURSE,
                measures: &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Temperature, V::Spo2, V::Glucose],
            },
        ],
        pauses: &[],
        scripted: &[
            Scripted {
                reply_from: Some(("nurse", Some(95))),
                ..scripted(
                    96,
                    16,
                    30,
                    "physician",
                    EntryKind::Message,
                    "食後血糖が高めに推移しています。間食（菓子パン等）の有無を奥様に確認していただけますか。",
                )
            },
            scripted(
                95,
                13,
                50,
                "nurse",
                EntryKind::Message,
                "奥様に確認しました。午後に菓子パンを食べることが多いそうです。量を減らすよう一緒に工夫していきます。",
            ),
        ],
    },
    Demo {
        name: "浅田 フミ子",
        kana: "あさだ ふみこ",
        birth_date: "1933-11-20",
        sex: "female",
        address: "石川県金沢市長町1-5-22",
        district: "長町",
        home: (36.5628, 136.6497),
        phone: "076-231-0964",
        care_level: "care_2",
        insurance_number: None,
        key_person: "長男 浅田 浩（近所に別居）090-2218-7745",
        emergency_contacts: "長男 浅田 浩 090-2218-7745\n長男の妻 浅田 恵子 090-6634-1180",
        conditions: "アルツハイマー型認知症\n骨粗鬆症（腰椎圧迫骨折の既往）",
        allergies: "卵（じんましん）",
        medications: "ドネペジル錠5mg 1錠 朝食後\nエルデカルシトールカプセル0.75μg 1錠 朝食後\n\
酸化マグネシウム錠330mg 2錠 分2",
        weeks: 16,
        consent: Some((Consenter::Proxy, "浅田 浩", "長男")),
        team: &[("helper", TeamRole::Member, MemberStatus::Active)],
        courses: &[
            course(V::SystolicBp, 132.0, 0.0, 9.0, 0),
            course(V::DiastolicBp, 72.0, 0.0, 6.0, 0),
            course(V::Pulse, 70.0, 0.0, 5.0, 0),
            course(V::Temperature, 36.3, 0.0, 0.2, 1),
            course(V::Spo2, 97.0, 0.0, 0.8, 0),
            course(V::Weight, 41.6, -0.6, 0.3, 1),
        ],
        routines: &[
            Routine {
                login: "physician",
                every: 14,
                first: 2,
                hour: 11,
                notes: &DEMENTIA_DOCTOR,
                measures: &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Temperature, V::Spo2, V::Weight],
            },
            Routine {
                login: "helper",
                every: 7,
                first: 5,
                hour: 12,
                notes: &DEMENTIA_HELPER,
                measures: &[V::Temperature],
            },
        ],
        pauses: &[],
        scripted: &[scripted(
            40,
            17,
            10,
            "helper",
            EntryKind::Message,
            "本日訪問時、玄関の鍵が開いたままでした。ご本人は在宅で変わりありません。長男様にもお伝えしました。",
        )],
    },
    Demo {
        name: "西田 勝",
        kana: "にしだ まさる",
        birth_date: "1944-05-08",
        sex: "male",
        address: "石川県金沢市諸江町中丁212",
        district: "諸江",
        home: (36.5869, 136.6414),
        phone: "076-233-7190",
        care_level: "care_4",
        insurance_number: Some("0004402158"),
        key_person: "妻 西田 節子（同居）076-233-7190",
        emergency_contacts: "妻 西田 節子 076-233-7190\n長女 上田 由美子 090-4457-3021（白山市在住）",
        conditions: "膵臓がん（多発肝転移、末期）\nがん性疼痛",
        allergies: "モルヒネ（強い嘔気）",
        medications: "オキシコドン徐放錠10mg 2錠 分2 8時・20時\nオキシコドン散2.5mg 疼痛時 1日4回まで\n\
ナルデメジン錠0.2mg 1錠 朝食後\n酸化マグネシウム錠330mg 3錠 分3\nプロクロルペラジン錠5mg 嘔気時",
        weeks: 8,
        consent: Some((Consenter::Patient, "", "")),
        team: &[("physician2", TeamRole::SubAttending, MemberStatus::Active)],
        courses: &[
            course(V::SystolicBp, 114.0, -16.0, 6.0, 0),
            course(V::DiastolicBp, 68.0, -8.0, 4.0, 0),
            course(V::Pulse, 84.0, 10.0, 5.0, 0),
            course(V::Temperature, 36.8, 0.1, 0.25, 1),
            course(V::Spo2, 95.0, -2.0, 1.0, 0),
            course(V::Weight, 52.0, -4.5, 0.3, 1),
        ],
        routines: &[
            Routine {
                login: "physician",
                every: 7,
                first: 0,
                hour: 16,
                notes: &CANCER_DOCTOR,
                measures: ROUTINE_VITALS,
            },
            Routine {
                login: "physician2",
                every: 28,
                first: 17,
                hour: 18,
                notes: &CANCER_COVER,
                measures: &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Spo2],
            },
        ],
        pauses: &[],
        scripted: &[
            scripted(
                36,
                17,
                30,
                "physician",
                EntryKind::Acp,
                "人生会議（ACP）。同席：本人、妻、長女、山田医師。\n\
療養の場所：最期まで自宅で過ごしたい（本人・家族とも同意）。\n\
急変時：救急搬送は希望せず、当院へ連絡する。心肺蘇生・人工呼吸は希望しない。\n\
苦痛の緩和：痛みや息苦しさは十分に取ってほしい。鎮静についても必要時に相談したい。\n\
その他：孫の結婚式（来月）に写真で参加したいとの希望あり。気持ちは変わりうるので、折に触れて話し合う。",
            ),
            Scripted {
                reply_from: Some(("physician", Some(240))),
                ..scripted(
                    11,
                    20,
                    10,
                    "physician2",
                    EntryKind::Message,
                    "代診で伺いました。レスキューが1日4回に増えています。ベースの増量をご検討ください。",
                )
            },
            Scripted {
                soap: Some((
                    "夕方に痛みが強くなる。レスキューは1日3〜4回。",
                    "腹部膨満増強。意識清明。",
                    "がん性疼痛の増悪。",
                    "オキシコドン徐放錠を30mg/日に増量。効果と眠気を次回確認。",
                    "オピオイド増量：眠気・呼吸数に注意。",
                    true,
                )),
                vitals: &[(V::SystolicBp, 104.0), (V::DiastolicBp, 62.0), (V::Pulse, 92.0), (V::Spo2, 94.0)],
                ..scripted(
                    10,
                    16,
                    20,
                    "physician",
                    EntryKind::Visit,
                    "臨時往診。疼痛増悪に対しオピオイドを増量。",
                )
            },
        ],
    },
    Demo {
        name: "大島 清",
        kana: "おおしま きよし",
        birth_date: "1938-01-15",
        sex: "male",
        address: "石川県金沢市鞍月4-110",
        district: "鞍月",
        home: (36.6021, 136.6238),
        phone: "076-237-2265",
        care_level: "care_1",
        insurance_number: None,
        key_person: "妻 大島 幸江（同居）076-237-2265",
        emergency_contacts: "妻 大島 幸江 076-237-2265",
        conditions: "慢性閉塞性肺疾患（COPD）、在宅酸素療法（安静時1L/分、労作時2L/分）",
        allergies: "なし",
        medications: "チオトロピウム吸入 1日1回\nカルボシステイン錠500mg 3錠 分3",
        weeks: 2,
        consent: None,
        team: &[],
        courses: &[
            course(V::SystolicBp, 134.0, 0.0, 6.0, 0),
            course(V::DiastolicBp, 76.0, 0.0, 4.0, 0),
            course(V::Pulse, 84.0, 0.0, 5.0, 0),
            course(V::Temperature, 36.5, 0.0, 0.2, 1),
            course(V::Spo2, 92.0, 0.0, 1.0, 0),
            course(V::RespiratoryRate, 20.0, 0.0, 2.0, 0),
        ],
        routines: &[Routine {
            login: "physician",
            every: 7,
            first: 2,
            hour: 10,
            notes: &COPD_DOCTOR,
            measures: &[V::SystolicBp, V::DiastolicBp, V::Pulse, V::Temperature, V::Spo2, V::RespiratoryRate],
        }],
        pauses: &[],
        scripted: &[],
    },
];

/// An entry about to be written, with its vital signs.
struct Planned {
    row: EntryRow,
    vitals: Vec<(VitalKind, f64)>,
}

fn round(v: f64, decimals: u8) -> f64 {
    let f = 10f64.powi(i32::from(decimals));
    (v * f).round() / f
}

fn find<'a>(accounts: &'a [Account], login: &str) -> Result<&'a Account> {
    accounts.iter().find(|a| a.login == login).ok_or_else(|| super::field(format!("no demo account {login}")))
}

/// Writes the demo patients in the demo's transaction.
pub(super) async fn load(tx: &mut Tx, accounts: &[Account], now: Timestamp) -> Result<()> {
    let cal = Calendar::new(now);
    let mut rng = Rng(0x7473_756E_6167_7521);
    let attending = find(accounts, "physician")?;
    for d in PATIENTS {
        let start = cal.at(d.weeks * 7 + 2, 9, 30).min(cal.now);
        let center = tx.center_for_district(d.district).await?.map(|c| c.id);
        let patient = PatientRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: d.name.into(),
            name_kana: d.kana.into(),
            name_folded: tsunagu_domain::text::name_key(d.kana),
            birth_date: d.birth_date.into(),
            sex: d.sex.into(),
            address: d.address.into(),
            district: Some(d.district.into()),
            support_center_id: center,
            phone: d.phone.into(),
            care_level: d.care_level.into(),
            insurance_number: d.insurance_number.map(Into::into),
            key_person: d.key_person.into(),
            emergency_contacts: d.emergency_contacts.into(),
            conditions: d.conditions.into(),
            allergies: d.allergies.into(),
            medications: d.medications.into(),
            attending_physician_id: attending.id.clone(),
            registered_by: attending.id.clone(),
            version: 1,
            created_at: start,
            updated_at: start,
            latitude: Some(d.home.0),
            longitude: Some(d.home.1),
        };
        tx.insert_patient(&patient).await?;
        let pid = patient.id.clone();

        if let Some((consenter, proxy_name, relation)) = d.consent {
            let at = start + 3 * HOUR;
            let proxy = consenter == Consenter::Proxy;
            tx.insert_consent(&ConsentRow {
                id: uuid::Uuid::now_v7().to_string(),
                patient_id: pid.clone(),
                consenter: consenter.code().into(),
                proxy_name: proxy.then(|| proxy_name.to_string()),
                proxy_relation: proxy.then(|| relation.to_string()),
                consented_on: cal.date(at),
                scope: SCOPE.into(),
                form_attachment_id: None,
                recorded_by: attending.id.clone(),
                recorded_at: at,
                withdrawn_at: None,
                withdrawn_by: None,
                withdrawal_reason: None,
            })
            .await?;
        }

        // The team: physicians are invited; everyone else asks and waits for 山田's approval.
        let mut readers = vec![attending.id.clone()];
        for (i, (login, role, status)) in d.team.iter().enumerate() {
            let who = find(accounts, login)?;
            let step = i64::try_from(i).unwrap_or(0) + 1;
            let asked = if *status == MemberStatus::Pending {
                cal.now - 2 * DAY - 5 * HOUR
            } else {
                start + step * 5 * HOUR
            };
            let event = || uuid::Uuid::now_v7().to_string();
            if *role == TeamRole::SubAttending {
                tx.put_member(&pid, &who.id, role.code(), "active", &attending.id, asked, None, "", &event())
                    .await?;
            } else {
                tx.put_member(&pid, &who.id, role.code(), "pending", &who.id, asked, None, "", &event())
                    .await?;
                if *status == MemberStatus::Active {
                    let approved = asked + 2 * HOUR;
                    tx.put_member(
                        &pid,
                        &who.id,
                        role.code(),
                        "active",
                        &attending.id,
                        approved,
                        None,
                        "",
                        &event(),
                    )
                    .await?;
                }
            }
            if *status == MemberStatus::Active {
                readers.push(who.id.clone());
            }
        }

        let plans = plan_timeline(d, accounts, &cal, &mut rng, start, &pid)?;
        write_timeline(tx, plans, &readers, &cal, &mut rng).await?;
    }
    Ok(())
}

/// The routine visits and the scripted entries of one patient, oldest first.
fn plan_timeline(
    d: &Demo,
    accounts: &[Account],
    cal: &Calendar,
    rng: &mut Rng,
    start: i64,
    pid: &str,
) -> Result<Vec<Planned>> {
    let span = (cal.now - start).max(1) as f64;
    let value = |rng: &mut Rng, kind: VitalKind, at: i64| -> Option<f64> {
        let c = d.courses.iter().find(|c| c.kind == kind)?;
        let progress = ((at - start) as f64 / span).clamp(0.0, 1.0);
        let (lo, hi) = kind.range();
        let mut v = c.start + c.drift * progress + rng.noise(c.sd);
        if kind == VitalKind::Spo2 {
            v = v.min(99.0);
        }
        Some(round(v.clamp(lo, hi), c.decimals))
    };
    let entry =
        |who: &Account, kind: EntryKind, occurred: i64, written: i64, body: &str, data: String| EntryRow {
            id: uuid::Uuid::now_v7().to_string(),
            patient_id: pid.to_string(),
            kind: kind.code().into(),
            author_id: who.id.clone(),
            author_profession: who.profession.into(),
            author_org_id: who.org.clone(),
            created_at: written,
            occurred_at: occurred,
            body: body.into(),
            data,
            corrects_id: None,
            urgent: false,
            needs_reply: false,
            addressee_id: None,
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        };
    let json = |v: &VisitData| serde_json::to_string(v).map_err(super::field);
    let first_day = d.weeks * 7;
    let mut plans = Vec::new();

    for r in d.routines {
        let who = find(accounts, r.login)?;
        let mut day = first_day - r.first;
        while day >= 0 {
            let paused = d.pauses.iter().any(|(from, to)| day <= *from && day >= *to);
            let occurred = cal.at(day, r.hour, rng.below(50));
            let written = occurred + 20 * MINUTE + rng.below(90) * MINUTE;
            if paused || written >= cal.now {
                day -= r.every;
                continue;
            }
            let next = cal.date(cal.at(day - r.every, r.hour, 0));
            let visit = VisitData {
                subjective: rng.pick(r.notes.s).into(),
                objective: rng.pick(r.notes.o).into(),
                assessment: rng.pick(r.notes.a).into(),
                plan: rng.pick(r.notes.p).into(),
                next_visit: Some(next),
                policy_changed: false,
                cautions: rng.pick(r.notes.cautions).into(),
            };
            let body = rng.pick(r.notes.body);
            let vitals =
                r.measures.iter().filter_map(|k| value(rng, *k, occurred).map(|v| (*k, v))).collect();
            plans.push(Planned {
                row: entry(who, EntryKind::Visit, occurred, written, body, json(&visit)?),
                vitals,
            });
            day -= r.every;
        }
    }

    let mut scripted_ids: Vec<String> = Vec::new();
    for s in d.scripted {
        let who = find(accounts, s.login)?;
        let occurred = if s.hour < 0 {
            cal.now + s.hour * HOUR + s.minute * MINUTE
        } else {
            cal.at(s.days_ago, s.hour, s.minute)
        };
        let written = occurred + if s.kind == EntryKind::Visit { 25 * MINUTE } else { 0 };
        let data = match s.soap {
            Some((subj, obj, assess, plan, cautions, changed)) if s.kind == EntryKind::Visit => {
                json(&VisitData {
                    subjective: subj.into(),
                    objective: obj.into(),
                    assessment: assess.into(),
                    plan: plan.into(),
                    next_visit: None,
                    policy_changed: changed,
                    cautions: cautions.into(),
                })?
            }
            _ if s.kind == EntryKind::Visit => json(&VisitData::default())?,
            // The demo's ACP conversation, with the structured wishes the form records.
            _ if s.kind == EntryKind::Acp => serde_json::to_string(&crate::sharing::AcpData {
                care_place: "home".into(),
                care_place_note: String::new(),
                death_place: "home".into(),
                death_place_note: String::new(),
                resuscitation: "dnar".into(),
                other_wishes: "急変時は救急搬送を希望せず当院へ連絡。苦痛は十分に緩和してほしい。".into(),
                discussed_on: tsunagu_domain::Timestamp(occurred).jst_minutes().chars().take(10).collect(),
                present: "本人、妻、長女、山田医師".into(),
            })
            .map_err(super::field)?,
            _ => "{}".to_string(),
        };
        let mut row = entry(who, s.kind, occurred, written.min(cal.now), s.body, data);
        if let Some((to, acked)) = s.reply_from {
            let to = find(accounts, to)?;
            row.needs_reply = true;
            row.addressee_id = Some(to.id.clone());
            if let Some(m) = acked {
                row.acknowledged_at = Some(written + m * MINUTE);
                row.acknowledged_by = Some(to.id.clone());
            }
        }
        row.urgent = s.urgent;
        row.corrects_id = s.corrects.and_then(|i| scripted_ids.get(i).cloned());
        scripted_ids.push(row.id.clone());
        plans.push(Planned { row, vitals: s.vitals.to_vec() });
    }
    plans.sort_by(|a, b| (a.row.created_at, &a.row.id).cmp(&(b.row.created_at, &b.row.id)));
    Ok(plans)
}

/// Writes the entries, their vital signs and who has read them: the author at once, the rest
/// of the team within a day or so (the last two days' entries are still unread by some). A
/// message waiting for someone's reply is not yet read by them.
async fn write_timeline(
    tx: &mut Tx,
    plans: Vec<Planned>,
    readers: &[String],
    cal: &Calendar,
    rng: &mut Rng,
) -> Result<()> {
    for p in &plans {
        tx.insert_entry(&p.row).await?;
        for (kind, value) in &p.vitals {
            tx.insert_vital(&VitalRow {
                entry_id: p.row.id.clone(),
                patient_id: p.row.patient_id.clone(),
                kind: kind.code().into(),
                value: *value,
                measured_at: p.row.occurred_at,
            })
            .await?;
        }
        let id = std::slice::from_ref(&p.row.id);
        tx.mark_read(id, &p.row.author_id, p.row.created_at).await?;
        for r in readers.iter().filter(|r| **r != p.row.author_id) {
            let waiting = p.row.addressee_id.as_deref() == Some(r) && p.row.acknowledged_at.is_none();
            let read_at = p
                .row
                .acknowledged_at
                .filter(|_| p.row.addressee_id.as_deref() == Some(r))
                .unwrap_or(p.row.created_at + HOUR + rng.below(30) * HOUR + rng.below(60) * MINUTE);
            if !waiting && read_at < cal.now {
                tx.mark_read(id, r, read_at).await?;
            }
        }
    }
    Ok(())
}
