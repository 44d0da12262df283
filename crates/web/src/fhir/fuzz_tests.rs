//! A deterministic fuzz (property) test of the pure FHIR resource parsers: `input::parse_resource`
//! and every writable module's `parse(tr, base, body)`. A seeded xorshift generator makes tens of
//! thousands of bodies — random bytes, nasty JSON texts, random JSON values of random depth
//! (Japanese, control characters, huge numbers, strings up to ~100 KB), and mutations of valid
//! example resources (elements dropped, replaced, duplicated, their types flipped, the bytes
//! truncated, `resourceType` changed) — and checks for each, in Japanese and in English:
//!
//! - no parser panics;
//! - every refusal is a 4xx with at least one issue, and every issue has a text;
//! - no refusal repeats a string value of the input: every generated string value carries the
//!   marker [`MARKER`], which must never appear in an issue's text or expression;
//! - the valid examples themselves parse (so the mutations start from something real).
//!
//! A failure names the case number; `case(n)` rebuilds that very body. To cover a new writable
//! type, add its parser to [`parsers`] and a valid example to [`examples`].

// Failing loudly with a message is what a test is for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use serde_json::{Map, Number, Value, json};

use super::{FhirError, communication, consent, document, input, observation, patient};
use crate::i18n::{Lang, Tr};

/// Put into string values; no error text may ever contain it.
const MARKER: &str = "ZZSECRET";
const BASE: &str = "http://localhost:8080/fhir";
const SEED: u64 = 0x5453_554e_4147_5505;

/// How many cases of each family.
const RANDOM_BYTES: u64 = 5_000;
const NASTY_TEXTS: u64 = 1_000;
const RANDOM_JSON: u64 = 5_000;
const MUTATIONS: u64 = 10_000;

type Parser = fn(Tr, &str, &[u8]) -> Result<(), FhirError>;

/// Every pure resource parser, with the resource type it reads.
fn parsers() -> Vec<(&'static str, Parser)> {
    vec![
        ("Patient", |tr, base, body| patient::parse(tr, base, body).map(drop)),
        ("Consent", |tr, base, body| consent::parse(tr, base, body).map(drop)),
        ("Observation", |tr, base, body| observation::parse(tr, base, body).map(drop)),
        ("Communication", |tr, base, body| communication::parse(tr, base, body).map(drop)),
        ("DocumentReference", |tr, base, body| document::parse(tr, base, body).map(drop)),
    ]
}

const PID: &str = "0193a1c2-0000-7000-8000-000000000001";

/// One valid example per parser (same order as [`parsers`]), free texts carrying the marker.
fn examples() -> Vec<Value> {
    let c = super::CANONICAL;
    vec![
        json!({
            "resourceType": "Patient",
            "name": [
                { "extension": [{ "url": patient::NAME_REPRESENTATION, "valueCode": "IDE" }], "use": "official",
                  "text": "山田 ZZSECRET太郎", "family": "山田", "given": ["ZZSECRET太郎"] },
                { "extension": [{ "url": patient::NAME_REPRESENTATION, "valueCode": "SYL" }], "use": "official",
                  "text": "ヤマダ ZZSECRETタロウ", "family": "ヤマダ", "given": ["タロウ"] }
            ],
            "telecom": [{ "system": "phone", "value": "076-ZZSECRET", "use": "home" }],
            "gender": "female",
            "birthDate": "1938-04-12",
            "address": [{ "text": "石川県金沢市ZZSECRET町1-2-3", "postalCode": "920-0000",
                          "extension": [{ "url": format!("{c}/StructureDefinition/district"), "valueString": "森本ZZSECRET" }] }],
            "identifier": [{ "system": format!("{c}/sid/care-insurance-number"), "value": "ZZSECRET01" }],
            "extension": [{ "url": format!("{c}/StructureDefinition/care-level"),
                            "valueCoding": { "system": format!("{c}/CodeSystem/care-level"), "code": "care_2" } }]
        }),
        json!({
            "resourceType": "Consent",
            "status": "active",
            "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
            "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
            "patient": { "reference": format!("Patient/{PID}") },
            "dateTime": "2026-11-23",
            "performer": [{ "reference": "#proxy" }],
            "contained": [{ "resourceType": "RelatedPerson", "id": "proxy", "patient": { "reference": format!("Patient/{PID}") },
                            "name": [{ "text": "森 ZZSECRET久子" }], "relationship": [{ "text": "妻ZZSECRET" }] }],
            "extension": [{ "url": format!("{c}/StructureDefinition/consent-scope"), "valueString": "在宅医療ZZSECRET" }]
        }),
        json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{ "system": observation::CATEGORY_SYSTEM, "code": "vital-signs" }] }],
            "code": { "coding": [{ "system": observation::LOINC, "code": "85354-9", "display": "ZZSECRET" }] },
            "subject": { "reference": format!("{BASE}/Patient/{PID}") },
            "effectiveDateTime": "2026-11-24T09:10:00+09:00",
            "note": [{ "text": "ZZSECRET" }],
            "component": [
                { "code": { "coding": [{ "system": observation::LOINC, "code": "8480-6" }] },
                  "valueQuantity": { "value": 132, "unit": "mmHg", "system": observation::UCUM, "code": "mm[Hg]" } },
                { "code": { "coding": [{ "system": observation::LOINC, "code": "8462-4" }] },
                  "valueQuantity": { "value": 78, "unit": "mmHg", "system": observation::UCUM, "code": "mm[Hg]" } }
            ]
        }),
        json!({
            "resourceType": "Communication",
            "status": "completed",
            "category": [{ "coding": [{ "system": format!("{c}/CodeSystem/entry-kind"), "code": "message" }] }],
            "priority": "urgent",
            "subject": { "reference": format!("Patient/{PID}") },
            "recipient": [{ "reference": "Practitioner/u1" }],
            "payload": [{ "contentString": "至急ご確認ください ZZSECRET" }]
        }),
        json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": { "reference": format!("Patient/{PID}") },
            "description": "仙骨部 ZZSECRET",
            "content": [{ "attachment": { "contentType": "image/png", "data": "iVBORw0KGgpyZXN0", "title": "ZZSECRET.png" } }]
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The generator

/// xorshift64* — small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never zero; spread nearby seeds apart.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True once in `n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Element names the parsers read, so random objects reach past the first checks.
const KEYS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "versionId",
    "name",
    "text",
    "family",
    "given",
    "use",
    "extension",
    "url",
    "valueCode",
    "valueString",
    "valueCoding",
    "valueDecimal",
    "valueDateTime",
    "valueDate",
    "valueQuantity",
    "value",
    "unit",
    "system",
    "code",
    "coding",
    "display",
    "gender",
    "birthDate",
    "address",
    "line",
    "city",
    "state",
    "postalCode",
    "telecom",
    "identifier",
    "status",
    "scope",
    "category",
    "patient",
    "dateTime",
    "performer",
    "contained",
    "relationship",
    "subject",
    "reference",
    "effectiveDateTime",
    "component",
    "dataAbsentReason",
    "note",
    "priority",
    "recipient",
    "payload",
    "contentString",
    "sent",
    "content",
    "attachment",
    "contentType",
    "data",
    "title",
    "description",
    "type",
    "date",
    "latitude",
    "longitude",
];
const TYPES: &[&str] = &["Patient", "Consent", "Observation", "Communication", "DocumentReference"];
const PIECES: &[&str] = &[
    "山田",
    "太郎",
    "ヤマダ",
    "ﾀﾛｳ",
    "髙﨑",
    "𠮷野",
    "金沢市",
    "要介護2",
    "①",
    "㈱",
    "👩‍⚕️",
    "\u{0}",
    "\u{1b}[31m",
    "\n",
    "\t",
    "\r\n",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{202e}",
    "\u{feff}",
    "\u{301}",
    "\"",
    "\\",
    "/",
    "<script>",
    "{",
    "]",
    "Patient/",
    "#proxy",
    "#",
    "http://localhost:8080/fhir/Patient/",
    "/_history/1",
    "1970-01-01",
    "2026-11-24T09:10:00+09:00",
    "2026-02-30",
    "-1",
    "1e999",
    "NaN",
    "mm[Hg]",
    "%",
    "care_2",
    "final",
    "urgent",
    "current",
    "active",
    "male",
    "phone",
    "IDE",
    "SYL",
    "0",
    " ",
    "",
];

fn string(r: &mut Rng) -> String {
    let mut s = String::new();
    if r.one_in(3_000) {
        // Very long: up to ~100 KB (rare: one case in a few dozen has one).
        let unit = r.pick(PIECES).to_string() + "あ";
        let n = r.below(100_000 / unit.len().max(1)) + 1;
        s = unit.repeat(n);
    } else {
        for _ in 0..r.below(5) {
            let piece: &&str = r.pick(PIECES);
            s.push_str(piece);
        }
    }
    // Most strings carry the marker somewhere.
    if !r.one_in(4) {
        let at = (0..=s.len()).filter(|i| s.is_char_boundary(*i)).nth(r.below(4)).unwrap_or(0);
        s.insert_str(at, MARKER);
    }
    s
}

fn number(r: &mut Rng) -> Value {
    match r.below(10) {
        0 => json!(u64::MAX),
        1 => json!(i64::MIN),
        2 => json!(1e308),
        3 => json!(-1e308),
        4 => json!(5e-324),
        5 => json!(-0.0),
        6 => json!(r.next() as i64),
        7 => Number::from_f64(f64::from_bits(r.next())).map_or(json!(0), Value::Number),
        8 => json!(r.below(300) as f64 + 0.5),
        _ => json!(r.below(200)),
    }
}

fn key(r: &mut Rng) -> String {
    if r.one_in(8) {
        // Never the marker: keys are element names, which errors may name.
        ["", "名前", "x".repeat(r.below(80)).as_str(), "_birthDate", "resourcetype"][r.below(5)].to_string()
    } else {
        r.pick(KEYS).to_string()
    }
}

/// A random JSON value, at most `depth` levels deep.
fn value(r: &mut Rng, depth: usize) -> Value {
    let leaf = depth == 0 || r.one_in(3);
    match if leaf { r.below(5) } else { 5 + r.below(2) } {
        0 => Value::Null,
        1 => Value::Bool(r.one_in(2)),
        2 => number(r),
        3 | 4 => Value::String(string(r)),
        5 => Value::Array((0..r.below(5)).map(|_| value(r, depth - 1)).collect()),
        _ => Value::Object((0..r.below(6)).map(|_| (key(r), value(r, depth - 1))).collect()),
    }
}

/// A random resource: an object of one of the types with random elements.
fn random_resource(r: &mut Rng) -> Value {
    let mut m = Map::new();
    m.insert("resourceType".into(), json!(r.pick(TYPES)));
    for _ in 0..r.below(10) {
        let d = r.below(5);
        m.insert(key(r), value(r, d));
    }
    Value::Object(m)
}

/// A step of a path into a value.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// How many values `v` holds, itself included.
fn size(v: &Value) -> usize {
    1 + match v {
        Value::Object(m) => m.values().map(size).sum(),
        Value::Array(a) => a.iter().map(size).sum(),
        _ => 0,
    }
}

/// The path to the `k`-th value of `v` in pre-order (`k < size(v)`).
fn path_to(v: &Value, mut k: usize, path: &mut Vec<Step>) {
    if k == 0 {
        return;
    }
    k -= 1;
    let children: Box<dyn Iterator<Item = (Step, &Value)>> = match v {
        Value::Object(m) => Box::new(m.iter().map(|(key, c)| (Step::Key(key.clone()), c))),
        Value::Array(a) => Box::new(a.iter().enumerate().map(|(i, c)| (Step::Index(i), c))),
        _ => return,
    };
    for (step, c) in children {
        let n = size(c);
        if k < n {
            path.push(step);
            return path_to(c, k, path);
        }
        k -= n;
    }
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// The same value with its type flipped.
fn flip(r: &mut Rng, v: &Value) -> Value {
    match v {
        Value::String(s) => {
            s.parse::<f64>().ok().and_then(Number::from_f64).map_or(json!([s]), Value::Number)
        }
        Value::Number(n) => json!(n.to_string()),
        Value::Bool(b) => json!(b.to_string()),
        Value::Null => json!({}),
        Value::Array(a) => {
            Value::Object(a.iter().enumerate().map(|(i, x)| (i.to_string(), x.clone())).collect())
        }
        Value::Object(m) => {
            if r.one_in(2) {
                Value::Array(m.values().cloned().collect())
            } else {
                Value::Array(vec![v.clone()])
            }
        }
    }
}

/// One to four random edits of a valid example.
fn mutate(r: &mut Rng, mut v: Value) -> Value {
    for _ in 0..=r.below(4) {
        let mut path = Vec::new();
        let k = r.below(size(&v));
        path_to(&v, k, &mut path);
        match r.below(7) {
            // Drop the element.
            0 => {
                if let Some((last, parent)) = path.split_last() {
                    match (at(&mut v, parent), last) {
                        (Some(Value::Object(m)), Step::Key(k)) => {
                            m.remove(k);
                        }
                        (Some(Value::Array(a)), Step::Index(i)) if *i < a.len() => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            // Replace it with anything.
            1 => {
                let d = r.below(4);
                let new = value(r, d);
                if let Some(x) = at(&mut v, &path) {
                    *x = new;
                }
            }
            // Duplicate it (in its array, or as a one-element array of twins).
            2 => {
                if let Some((last, parent)) = path.split_last() {
                    let copy = at(&mut v, &path).map(|x| x.clone());
                    match (at(&mut v, parent), last, copy) {
                        (Some(Value::Array(a)), Step::Index(_), Some(c)) => a.push(c),
                        (Some(Value::Object(m)), Step::Key(k), Some(c)) => {
                            m.insert(k.clone(), json!([c.clone(), c]));
                        }
                        _ => {}
                    }
                }
            }
            // Flip its type.
            3 => {
                if let Some(x) = at(&mut v, &path) {
                    *x = flip(r, &x.clone());
                }
            }
            // Change the resource type.
            4 => {
                let t = match r.below(4) {
                    0 => json!(r.pick(TYPES)),
                    1 => json!(r.pick(TYPES).to_lowercase()),
                    2 => json!(string(r)),
                    _ => value(r, 1),
                };
                if let Some(m) = v.as_object_mut() {
                    m.insert("resourceType".into(), t);
                }
            }
            // Empty it: "", [], {}, null.
            5 => {
                let empty = [json!(""), json!([]), json!({}), Value::Null][r.below(4)].clone();
                if let Some(x) = at(&mut v, &path) {
                    *x = empty;
                }
            }
            // A marked string in its place, or a new element next to it.
            _ => {
                let s = Value::String(string(r));
                match at(&mut v, &path) {
                    Some(Value::Object(m)) => {
                        m.insert(key(r), s);
                    }
                    Some(x) => *x = s,
                    None => {}
                }
            }
        }
    }
    v
}

/// Byte-level damage: truncation, a flipped bit, an inserted byte.
fn damage(r: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    match r.below(4) {
        0 if !b.is_empty() => b.truncate(r.below(b.len())),
        1 if !b.is_empty() => {
            let i = r.below(b.len());
            b[i] ^= 1 << r.below(8);
        }
        2 => {
            let i = r.below(b.len() + 1);
            b.insert(i, r.next() as u8);
        }
        _ => {}
    }
    b
}

/// Texts that are (nearly) JSON and known to trouble parsers.
fn nasty(r: &mut Rng) -> Vec<u8> {
    let t = r.pick(TYPES);
    let n = r.below(20_000) + 1;
    let s = match r.below(14) {
        0 => "[".repeat(n),
        1 => format!("{{\"resourceType\":\"{t}\",\"name\":{}", "[".repeat(n)),
        2 => format!("{}{}", "[".repeat(n.min(120)), "]".repeat(n.min(120))),
        3 => format!("\u{feff}{{\"resourceType\":\"{t}\"}}"),
        4 => format!("{{\"resourceType\":\"{t}\"}} trailing {MARKER}"),
        5 => format!("{{\"resourceType\":\"{t}\",\"status\":\"\\ud800{MARKER}\"}}"),
        6 => format!("{{\"resourceType\":\"{t}\",\"valueQuantity\":{{\"value\":1e999999}}}}"),
        7 => format!("{{\"resourceType\":\"{t}\",\"birthDate\":{}}}", "9".repeat(n.min(400))),
        8 => format!("{{\"resourceType\":\"{t}\",\"resourceType\":\"{}\"}}", r.pick(TYPES)),
        9 => format!("{{\"resourceType\":\"{t}\",\"gender\":\"{MARKER}\",\"gender\":{{}}}}"),
        10 => String::from_utf8_lossy(&[0xff, 0xfe, b'{', 0]).into_owned(),
        11 => format!("{{\"resourceType\":\"{t}\",\"name\":[{{\"text\":\"\\u0000{MARKER}\"}}]}}"),
        12 => " \n\t ".to_string(),
        _ => format!("{{\"resourceType\":\"{t}\",\"{MARKER}\":1}}"),
    };
    let mut b = s.into_bytes();
    if r.one_in(3) {
        b = damage(r, b);
    }
    if r.one_in(5) {
        // Invalid UTF-8 inside a string.
        b.splice(b.len() / 2..b.len() / 2, [0xc3, 0x28, 0xe2, 0x82]);
    }
    b
}

/// The body of case `n`, and the type it is meant as (for `parse_resource`).
fn case(n: u64) -> (Vec<u8>, &'static str) {
    let mut r = Rng::new(SEED ^ n);
    let t = *r.pick(TYPES);
    let body = if n < RANDOM_BYTES {
        let max = if r.one_in(10) { 4_000 } else { 200 };
        let len = r.below(max);
        let mut b: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        if r.one_in(2) {
            b.splice(0..0, format!("{{\"resourceType\":\"{t}\",").into_bytes());
        }
        b
    } else if n < RANDOM_BYTES + NASTY_TEXTS {
        nasty(&mut r)
    } else if n < RANDOM_BYTES + NASTY_TEXTS + RANDOM_JSON {
        let v = if r.one_in(4) {
            let d = r.below(8);
            value(&mut r, d)
        } else {
            random_resource(&mut r)
        };
        serde_json::to_vec(&v).unwrap()
    } else {
        static EXAMPLES: OnceLock<Vec<Value>> = OnceLock::new();
        let examples = EXAMPLES.get_or_init(examples);
        let i = r.below(examples.len());
        let v = mutate(&mut r, examples[i].clone());
        let b = serde_json::to_vec(&v).unwrap();
        if r.one_in(6) { damage(&mut r, b) } else { b }
    };
    (body, t)
}

// ---------------------------------------------------------------------------------------------
// The properties

fn shown(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    s.chars().take(300).collect()
}

/// A refusal is a 4xx with issues that have texts, none of which repeats the marker.
fn check_refusal(n: u64, who: &str, body: &[u8], e: &FhirError) {
    assert!(e.status.is_client_error(), "case {n}, {who}: status {} for {}", e.status, shown(body));
    assert!(!e.issues.is_empty(), "case {n}, {who}: a refusal without issues for {}", shown(body));
    for i in &e.issues {
        assert!(!i.text.trim().is_empty(), "case {n}, {who}: an issue without text for {}", shown(body));
        let expression = i.expression.as_deref().unwrap_or("");
        assert!(
            !i.text.contains(MARKER) && !expression.contains(MARKER),
            "case {n}, {who}: the refusal repeats a value of the input: {:?} at {expression:?}, for {}",
            i.text,
            shown(body)
        );
    }
}

/// Runs `f`; a panic fails the test naming the case.
fn no_panic<T>(n: u64, who: &str, body: &[u8], f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(x) => x,
        Err(_) => panic!("case {n}, {who}: panicked on {}", shown(body)),
    }
}

fn run_case(n: u64, parsers: &[(&'static str, Parser)]) {
    let (body, t) = case(n);
    let tr = Tr::new(if n.is_multiple_of(2) { Lang::Ja } else { Lang::En });
    if let Err(e) = no_panic(n, "parse_resource", &body, || input::parse_resource(tr, &body, t)) {
        check_refusal(n, "parse_resource", &body, &e);
    }
    for (name, parse) in parsers {
        if let Err(e) = no_panic(n, name, &body, || parse(tr, BASE, &body)) {
            check_refusal(n, name, &body, &e);
        }
    }
}

#[test]
fn the_valid_examples_parse() {
    let examples = examples();
    let parsers = parsers();
    assert_eq!(examples.len(), parsers.len(), "one example per parser");
    for ((name, parse), ex) in parsers.iter().zip(&examples) {
        assert_eq!(ex["resourceType"], *name, "the examples follow the parsers' order");
        let body = serde_json::to_vec(ex).unwrap();
        for lang in [Lang::Ja, Lang::En] {
            if let Err(e) = parse(Tr::new(lang), BASE, &body) {
                panic!("{name}: the valid example is refused: {} {:?}", e.status, e.issues);
            }
            assert!(input::parse_resource(Tr::new(lang), &body, name).is_ok(), "{name}");
        }
        // Every other parser refuses it as the wrong type, with a 400.
        for (other, parse) in parsers.iter().filter(|(o, _)| o != name) {
            let e = parse(Tr::new(Lang::Ja), BASE, &body).map(|_| ()).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{other} given a {name}");
        }
    }
}

#[test]
fn the_generator_is_deterministic_and_varied() {
    assert_eq!(case(12_345), case(12_345));
    assert_ne!(case(12_345).0, case(12_346).0);
    // Some mutations still parse: the mutations start from something real.
    let parsers = parsers();
    let first = RANDOM_BYTES + NASTY_TEXTS + RANDOM_JSON;
    let ok = (first..first + 2_000)
        .filter(|n| {
            let (body, _) = case(*n);
            parsers.iter().any(|(_, p)| p(Tr::new(Lang::En), BASE, &body).is_ok())
        })
        .count();
    assert!(ok > 50, "only {ok} of 2000 mutations parse");
}

#[test]
fn no_parser_panics_or_repeats_input_on_any_of_21000_cases() {
    let parsers = parsers();
    let total = RANDOM_BYTES + NASTY_TEXTS + RANDOM_JSON + MUTATIONS;
    assert!(total >= 20_000);
    let started = std::time::Instant::now();
    // A panic is caught and reported by `no_panic`; keep the default hook from printing each.
    for n in 0..total {
        run_case(n, &parsers);
    }
    eprintln!("{total} cases in {:?}", started.elapsed());
}

#[test]
#[should_panic(expected = "repeats a value of the input")]
fn a_refusal_repeating_a_value_is_caught() {
    let issue = super::outcome::Issue::error("value", format!("「{MARKER}」は使えません"));
    let e = FhirError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, vec![issue]);
    check_refusal(0, "self-test", b"", &e);
}
