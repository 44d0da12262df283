//! The message catalog: every string a person reads, in Japanese (first) and English, from
//! `messages/{ja,en}.toml`, embedded in the binary.

use std::collections::HashMap;
use std::sync::OnceLock;

use tsunagu_domain::FieldError;

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn from_code(s: &str) -> Option<Lang> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language from the `lang` cookie, else the first supported one in Accept-Language,
    /// else Japanese.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Lang {
        let cookie = axum_extra::extract::CookieJar::from_headers(headers);
        if let Some(l) = cookie.get("lang").and_then(|c| Lang::from_code(c.value())) {
            return l;
        }
        let accept =
            headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        for part in accept.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("ja") {
                return Lang::Ja;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Ja
    }
}

type Catalog = HashMap<String, String>;

fn flatten(prefix: &str, v: &toml::Value, out: &mut Catalog) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn parse(src: &str) -> Catalog {
    let mut out = Catalog::new();
    // The catalogs are part of the binary and checked by tests; a broken one is a build bug.
    if let Ok(v) = src.parse::<toml::Value>() {
        flatten("", &v, &mut out);
    }
    out
}

static JA: OnceLock<Catalog> = OnceLock::new();
static EN: OnceLock<Catalog> = OnceLock::new();

pub(crate) const JA_SRC: &str = include_str!("../messages/ja.toml");
pub(crate) const EN_SRC: &str = include_str!("../messages/en.toml");

fn catalog(lang: Lang) -> &'static Catalog {
    match lang {
        Lang::Ja => JA.get_or_init(|| parse(JA_SRC)),
        Lang::En => EN.get_or_init(|| parse(EN_SRC)),
    }
}

/// Translations for one request.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The message for `key`; the key itself when missing (tests make sure none is).
    pub fn get<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        catalog(self.lang).get(key).or_else(|| catalog(Lang::Ja).get(key)).map(String::as_str).unwrap_or(key)
    }

    /// The label of a coded value, e.g. `label("org_kind", "pharmacy")`.
    pub fn label(&self, prefix: &str, code: &str) -> String {
        let key = format!("{prefix}.{code}");
        catalog(self.lang).get(&key).cloned().unwrap_or(key)
    }

    /// The message for a field error, with its limit and names filled in.
    pub fn error(&self, e: &FieldError) -> String {
        let mut msg = match e.limit {
            Some(n) => self.get(e.code).replace("{limit}", &n.to_string()),
            None => self.get(e.code).to_string(),
        };
        for (k, v) in &e.args {
            msg = msg.replace(&format!("{{{k}}}"), v);
        }
        msg
    }

    /// A message with `{name}` placeholders filled in.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.get(key).to_string();
        for (k, v) in args {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_parse_and_have_the_same_keys() {
        let ja = parse(JA_SRC);
        let en = parse(EN_SRC);
        assert!(ja.len() > 50, "the Japanese catalog looks empty");
        let mut missing: Vec<_> = ja.keys().filter(|k| !en.contains_key(*k)).collect();
        missing.extend(en.keys().filter(|k| !ja.contains_key(*k)));
        assert!(missing.is_empty(), "keys in one catalog only: {missing:?}");
        assert!(JA_SRC.parse::<toml::Value>().is_ok() && EN_SRC.parse::<toml::Value>().is_ok());
    }

    #[test]
    fn every_key_used_in_templates_and_code_is_in_the_catalog() {
        let ja = parse(JA_SRC);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = Vec::new();
        let mut files = Vec::new();
        for dir in [
            "templates",
            "templates/directory",
            "src",
            "src/pages",
            "../app/src",
            "../app/src/directory",
            "../domain/src",
        ] {
            if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
                files.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for pat in ["t.get(\"", "\"error.", "tr.get(\""] {
                for (i, _) in text.match_indices(pat) {
                    let start = i + pat.len() - if pat.starts_with('"') { pat.len() - 1 } else { 0 };
                    let rest = &text[start..];
                    let key: String = rest.chars().take_while(|c| *c != '"').collect();
                    if key.contains(char::is_whitespace)
                        || key.contains('{')
                        || key.ends_with('.')
                        || key.ends_with(".html")
                    {
                        continue;
                    }
                    used.push((f.display().to_string(), key));
                }
            }
        }
        let missing: Vec<_> = used.iter().filter(|(_, k)| !ja.contains_key(k)).collect();
        assert!(missing.is_empty(), "keys missing from the catalog: {missing:?}");
    }

    #[test]
    fn every_org_kind_profession_and_duty_has_a_label() {
        let ja = parse(JA_SRC);
        let en = parse(EN_SRC);
        let keys = tsunagu_domain::org::OrgKind::ALL
            .iter()
            .map(|k| k.label_key())
            .chain(tsunagu_domain::person::Profession::ALL.iter().map(|p| p.label_key()))
            .chain(tsunagu_domain::person::Duty::ALL.iter().map(|d| d.label_key()));
        for k in keys {
            assert!(ja.contains_key(&k) && en.contains_key(&k), "no label for {k}");
        }
    }

    #[test]
    fn english_is_chosen_from_accept_language_and_japanese_is_the_default() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Ja);
        h.insert("accept-language", "en-US,en;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert("cookie", "lang=ja".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Ja);
    }

    #[test]
    fn field_errors_show_their_limit() {
        let t = Tr::new(Lang::En);
        let e = FieldError::with_limit("name", "error.too_long", 100);
        assert!(t.error(&e).contains("100"));
    }

    #[test]
    fn field_errors_show_their_names() {
        let t = Tr::new(Lang::Ja);
        let e = FieldError::new("districts", "error.district_taken")
            .arg("district", "森本")
            .arg("center", "地域包括支援センターきしかわ");
        let m = t.error(&e);
        assert!(m.contains("森本") && m.contains("地域包括支援センターきしかわ"), "{m}");
        assert!(!m.contains('{'), "{m}");
    }
}
