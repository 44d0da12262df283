//! Search results as a `searchset` Bundle: the total, the paging links (absolute, from the
//! server's public address), and the entries with their search mode.
//!
//! Each entry's resource is written to JSON once, when the entry is made, and the Bundle then
//! carries that text as it is: a resource needs no tree of `Value`s on its way out.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;
use serde_json::value::RawValue;

/// A resource as it goes into a Bundle: what it serialises to, and where it lives.
pub trait Resource: Serialize {
    /// Its type and logical id (`("Patient", "…")`), for the entry's `fullUrl`.
    fn type_and_id(&self) -> (&str, &str);
}

impl Resource for Value {
    fn type_and_id(&self) -> (&str, &str) {
        (self["resourceType"].as_str().unwrap_or(""), self["id"].as_str().unwrap_or(""))
    }
}

/// A value written as JSON text. Resources are maps with string keys, which always serialise;
/// were one ever to fail, the entry would hold `null` rather than a broken Bundle.
fn raw(resource: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(resource).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// One entry of a search Bundle.
#[derive(Debug, Clone)]
pub struct Entry {
    pub full_url: String,
    /// The resource, already written as JSON.
    pub resource: Box<RawValue>,
    /// `match` or `outcome`.
    pub mode: &'static str,
    /// Extensions of `entry.search` (the distance of a `near` search).
    pub search_extensions: Vec<Value>,
}

impl Entry {
    pub fn matched(full_url: String, resource: &impl Serialize) -> Self {
        Entry { full_url, resource: raw(resource), mode: "match", search_extensions: Vec::new() }
    }

    /// A resource of this server at `base`, its `fullUrl` made from its type and id.
    pub fn of(base: &str, resource: &impl Resource) -> Self {
        let (kind, id) = resource.type_and_id();
        Entry::matched(format!("{base}/{kind}/{id}"), resource)
    }

    /// An `OperationOutcome` about the search itself (ignored parameters).
    pub fn outcome(resource: &Value) -> Self {
        Entry {
            full_url: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            resource: raw(resource),
            mode: "outcome",
            search_extensions: Vec::new(),
        }
    }
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Search<'a> {
            mode: &'static str,
            #[serde(skip_serializing_if = "<[Value]>::is_empty")]
            extension: &'a [Value],
        }
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("fullUrl", &self.full_url)?;
        m.serialize_entry("resource", &self.resource)?;
        m.serialize_entry("search", &Search { mode: self.mode, extension: &self.search_extensions })?;
        m.end()
    }
}

/// The paging of a search: where this page starts, its size, and the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub offset: i64,
    pub count: i64,
    pub total: i64,
}

impl Paging {
    /// The offset of the next page, if there is one.
    pub fn next(self) -> Option<i64> {
        (self.count > 0 && self.offset + self.count < self.total).then_some(self.offset + self.count)
    }

    /// The offset of the previous page, if this is not the first.
    pub fn previous(self) -> Option<i64> {
        (self.count > 0 && self.offset > 0).then(|| (self.offset - self.count).max(0))
    }
}

/// A search URL: `base/Type?params&_count=…&_offset=…` with the parameters encoded.
pub fn search_url(type_url: &str, params: &[(String, String)], count: i64, offset: Option<i64>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    q.append_pair("_count", &count.to_string());
    if let Some(o) = offset {
        q.append_pair("_offset", &o.to_string());
    }
    format!("{type_url}?{}", q.finish())
}

/// A link of a Bundle.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Link {
    pub relation: &'static str,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleMeta {
    last_updated: String,
}

/// A `searchset` Bundle, ready to be written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    resource_type: &'static str,
    id: String,
    meta: BundleMeta,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Optional in FHIR R4: absent when the search did not count its matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    pub link: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<Entry>,
}

/// A `searchset` Bundle. `type_url` is the absolute URL of the resource type searched;
/// `params` the search parameters the server used (its own paging parameters excluded).
pub fn searchset(
    type_url: &str,
    params: &[(String, String)],
    paging: Paging,
    entries: Vec<Entry>,
    last_updated: &str,
) -> Bundle {
    let Paging { offset, count, total } = paging;
    let link = |relation, offset| Link { relation, url: search_url(type_url, params, count, Some(offset)) };
    let mut links = vec![link("self", offset)];
    if count > 0 {
        links.push(link("first", 0));
    }
    if let Some(p) = paging.previous() {
        links.push(link("previous", p));
    }
    if let Some(n) = paging.next() {
        links.push(link("next", n));
    }
    Bundle {
        resource_type: "Bundle",
        id: uuid::Uuid::new_v4().to_string(),
        meta: BundleMeta { last_updated: last_updated.to_string() },
        kind: "searchset",
        total: Some(total),
        link: links,
        entry: entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_link_forward_and_back_within_the_total() {
        let p = Paging { offset: 0, count: 10, total: 25 };
        assert_eq!((p.previous(), p.next()), (None, Some(10)));
        let p = Paging { offset: 10, count: 10, total: 25 };
        assert_eq!((p.previous(), p.next()), (Some(0), Some(20)));
        let p = Paging { offset: 20, count: 10, total: 25 };
        assert_eq!((p.previous(), p.next()), (Some(10), None));
        let p = Paging { offset: 5, count: 10, total: 25 };
        assert_eq!(p.previous(), Some(0));
        let p = Paging { offset: 0, count: 0, total: 25 };
        assert_eq!((p.previous(), p.next()), (None, None));
    }

    #[test]
    fn search_urls_encode_their_parameters() {
        let u = search_url(
            "http://h/fhir/Location",
            &[("near".into(), "36.5|136.6|2|km".into()), ("name".into(), "きしかわ".into())],
            5,
            Some(10),
        );
        assert_eq!(
            u,
            "http://h/fhir/Location?near=36.5%7C136.6%7C2%7Ckm&name=%E3%81%8D%E3%81%97%E3%81%8B%E3%82%8F\
             &_count=5&_offset=10"
        );
    }

    #[test]
    fn a_searchset_has_total_links_and_entries_with_their_mode() {
        let b = searchset(
            "http://h/fhir/Organization",
            &[],
            Paging { offset: 0, count: 1, total: 2 },
            vec![Entry::of("http://h/fhir", &json!({"resourceType": "Organization", "id": "1"}))],
            "2026-11-24T00:30:00Z",
        );
        let b = serde_json::to_value(&b).unwrap();
        assert_eq!(b["type"], "searchset");
        assert_eq!(b["total"], 2);
        assert_eq!(b["entry"][0]["search"]["mode"], "match");
        assert_eq!(b["entry"][0]["fullUrl"], "http://h/fhir/Organization/1");
        assert_eq!(b["entry"][0]["resource"], json!({"resourceType": "Organization", "id": "1"}));
        assert!(b["entry"][0]["search"].get("extension").is_none());
        let rels: Vec<&str> =
            b["link"].as_array().unwrap().iter().map(|l| l["relation"].as_str().unwrap()).collect();
        assert_eq!(rels, ["self", "first", "next"]);
    }
}
