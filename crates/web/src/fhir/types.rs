//! FHIR datatypes as the server writes them: plain structs serialised straight to JSON.
//!
//! The resources read most (a timeline page's `Communication`s, the directory's
//! `HealthcareService`s) are built from these instead of trees of `serde_json::Value`, which
//! cost a map and a key string per element to build and again to drop. The rule FHIR JSON
//! sets, and [`super::directory::prune`] applies to the `Value`-built resources, holds here by
//! construction: an empty string, an empty list or an absent value is left out, never written
//! as `""`, `[]` or `null`.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::input;

/// Text that may be borrowed from the row or made for the resource.
pub type Text<'a> = Cow<'a, str>;

/// A written resource as a `Value`, where it is inspected or mixed with `Value`-built ones
/// (`$everything`). Maps with string keys always convert.
pub fn value(resource: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(resource).unwrap_or(serde_json::Value::Null)
}

/// Whether a text is left out (FHIR JSON holds no empty strings).
pub fn blank(s: &str) -> bool {
    s.is_empty()
}

/// `Resource.meta`: the version, the last change, and the profile claimed, if any.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub version_id: String,
    pub last_updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<[&'static str; 1]>,
}

impl Meta {
    pub fn new(version: i64, last_updated: i64, profile: Option<&'static str>) -> Self {
        Meta {
            version_id: version.to_string(),
            last_updated: input::instant(last_updated),
            profile: profile.map(|p| [p]),
        }
    }
}

/// A `Coding`.
#[derive(Debug, Serialize)]
pub struct Coding<'a> {
    #[serde(skip_serializing_if = "blank")]
    pub system: Text<'a>,
    #[serde(skip_serializing_if = "blank")]
    pub code: Text<'a>,
    #[serde(skip_serializing_if = "blank")]
    pub display: Text<'a>,
}

/// A `CodeableConcept` of one coding (all this server writes).
#[derive(Debug, Serialize)]
pub struct Concept<'a> {
    pub coding: [Coding<'a>; 1],
}

impl<'a> Concept<'a> {
    pub fn new(system: impl Into<Text<'a>>, code: impl Into<Text<'a>>, display: impl Into<Text<'a>>) -> Self {
        Concept { coding: [Coding { system: system.into(), code: code.into(), display: display.into() }] }
    }
}

/// A `Reference` to a resource of this server, with its display when there is one.
#[derive(Debug, Serialize)]
pub struct Reference<'a> {
    pub reference: String,
    #[serde(skip_serializing_if = "blank")]
    pub display: Text<'a>,
}

impl<'a> Reference<'a> {
    /// `kind/id`, displayed as `display`.
    pub fn to(kind: &str, id: &str, display: impl Into<Text<'a>>) -> Self {
        Reference { reference: format!("{kind}/{id}"), display: display.into() }
    }
}

/// The value of an extension, named as FHIR names it (`valueDateTime`, …), or the extensions
/// nested in it.
#[derive(Debug)]
pub enum ExtValue<'a> {
    DateTime(String),
    Date(Text<'a>),
    Code(Text<'a>),
    String(Text<'a>),
    Boolean(bool),
    Decimal(f64),
    Coding(Coding<'a>),
    Reference(Reference<'a>),
    Nested(Vec<Extension<'a>>),
}

/// An `Extension`: its URL and one value (left out when it is empty text or no extensions).
#[derive(Debug)]
pub struct Extension<'a> {
    pub url: Text<'a>,
    pub value: ExtValue<'a>,
}

impl<'a> Extension<'a> {
    pub fn new(url: impl Into<Text<'a>>, value: ExtValue<'a>) -> Self {
        Extension { url: url.into(), value }
    }
}

impl Serialize for Extension<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("url", &self.url)?;
        match &self.value {
            ExtValue::DateTime(v) if !v.is_empty() => m.serialize_entry("valueDateTime", v)?,
            ExtValue::Date(v) if !v.is_empty() => m.serialize_entry("valueDate", v)?,
            ExtValue::Code(v) if !v.is_empty() => m.serialize_entry("valueCode", v)?,
            ExtValue::String(v) if !v.is_empty() => m.serialize_entry("valueString", v)?,
            ExtValue::Boolean(v) => m.serialize_entry("valueBoolean", v)?,
            ExtValue::Decimal(v) => m.serialize_entry("valueDecimal", v)?,
            ExtValue::Coding(v) => m.serialize_entry("valueCoding", v)?,
            ExtValue::Reference(v) => m.serialize_entry("valueReference", v)?,
            ExtValue::Nested(v) if !v.is_empty() => m.serialize_entry("extension", v)?,
            _ => {}
        }
        m.end()
    }
}

/// A `HumanName` as JP_HumanName writes it: the representation (`IDE` kanji, `SYL` kana) as
/// an extension, `text`, and `family`/`given` when the text splits into both.
#[derive(Debug, Serialize)]
pub struct HumanName<'a> {
    pub extension: [Extension<'a>; 1],
    #[serde(rename = "use")]
    pub use_: &'static str,
    #[serde(skip_serializing_if = "blank")]
    pub text: Text<'a>,
    #[serde(skip_serializing_if = "blank")]
    pub family: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<Text<'a>>,
}

/// An `Identifier` with its type.
#[derive(Debug, Serialize)]
pub struct Identifier<'a> {
    #[serde(rename = "use")]
    pub use_: &'static str,
    #[serde(rename = "type")]
    pub kind: Concept<'a>,
    pub system: String,
    pub value: Text<'a>,
}

/// A `ContactPoint`.
#[derive(Debug, Serialize)]
pub struct ContactPoint<'a> {
    pub system: &'static str,
    pub value: Text<'a>,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// An `Address`; `line` holds only lines with text.
#[derive(Debug, Serialize)]
pub struct Address<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension<'a>>,
    #[serde(rename = "use")]
    pub use_: &'static str,
    #[serde(rename = "type", skip_serializing_if = "blank")]
    pub kind: Text<'a>,
    #[serde(skip_serializing_if = "blank")]
    pub text: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub line: Vec<Text<'a>>,
    #[serde(skip_serializing_if = "blank")]
    pub city: Text<'a>,
    #[serde(skip_serializing_if = "blank")]
    pub state: Text<'a>,
    #[serde(skip_serializing_if = "blank")]
    pub country: Text<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_text_and_lists_are_left_out() {
        let c = Concept::new("http://s", "", "");
        assert_eq!(serde_json::to_value(&c).unwrap(), json!({ "coding": [{ "system": "http://s" }] }));
        let r = Reference::to("Practitioner", "u1", "");
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({ "reference": "Practitioner/u1" }));
        for v in [ExtValue::Code("".into()), ExtValue::Nested(Vec::new()), ExtValue::DateTime(String::new())]
        {
            let x = Extension::new("http://x", v);
            assert_eq!(serde_json::to_value(&x).unwrap(), json!({ "url": "http://x" }));
        }
        let m = Meta::new(2, 0, None);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({ "versionId": "2", "lastUpdated": "1970-01-01T00:00:00Z" })
        );
    }

    #[test]
    fn extensions_name_their_value_by_its_type() {
        let x = Extension::new(
            "http://x",
            ExtValue::Nested(vec![
                Extension::new("a", ExtValue::Boolean(false)),
                Extension::new("b", ExtValue::Reference(Reference::to("Communication", "c1", ""))),
                Extension::new("c", ExtValue::Date("2026-12-01".into())),
            ]),
        );
        assert_eq!(
            serde_json::to_value(&x).unwrap(),
            json!({ "url": "http://x", "extension": [
                { "url": "a", "valueBoolean": false },
                { "url": "b", "valueReference": { "reference": "Communication/c1" } },
                { "url": "c", "valueDate": "2026-12-01" },
            ] })
        );
    }
}
