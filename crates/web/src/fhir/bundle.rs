//! Search results as a `searchset` Bundle: the total, the paging links (absolute, from the
//! server's public address), and the entries with their search mode.

use serde_json::{Value, json};

/// One entry of a search Bundle.
#[derive(Debug, Clone)]
pub struct Entry {
    pub full_url: String,
    pub resource: Value,
    /// `match` or `outcome`.
    pub mode: &'static str,
    /// Extensions of `entry.search` (the distance of a `near` search).
    pub search_extensions: Vec<Value>,
}

impl Entry {
    pub fn matched(full_url: String, resource: Value) -> Self {
        Entry { full_url, resource, mode: "match", search_extensions: Vec::new() }
    }

    /// An `OperationOutcome` about the search itself (ignored parameters).
    pub fn outcome(resource: Value) -> Self {
        Entry {
            full_url: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            resource,
            mode: "outcome",
            search_extensions: Vec::new(),
        }
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

/// A `searchset` Bundle. `type_url` is the absolute URL of the resource type searched;
/// `params` the search parameters the server used (its own paging parameters excluded).
pub fn searchset(
    type_url: &str,
    params: &[(String, String)],
    paging: Paging,
    entries: Vec<Entry>,
    last_updated: &str,
) -> Value {
    let Paging { offset, count, total } = paging;
    let mut links =
        vec![json!({ "relation": "self", "url": search_url(type_url, params, count, Some(offset)) })];
    if count > 0 {
        links.push(json!({ "relation": "first", "url": search_url(type_url, params, count, Some(0)) }));
    }
    if let Some(p) = paging.previous() {
        links.push(json!({ "relation": "previous", "url": search_url(type_url, params, count, Some(p)) }));
    }
    if let Some(n) = paging.next() {
        links.push(json!({ "relation": "next", "url": search_url(type_url, params, count, Some(n)) }));
    }
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut search = json!({ "mode": e.mode });
            if !e.search_extensions.is_empty() {
                search["extension"] = Value::Array(e.search_extensions);
            }
            json!({ "fullUrl": e.full_url, "resource": e.resource, "search": search })
        })
        .collect();
    let mut b = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": last_updated },
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !entries.is_empty() {
        b["entry"] = Value::Array(entries);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

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
            vec![Entry::matched(
                "http://h/fhir/Organization/1".into(),
                json!({"resourceType": "Organization"}),
            )],
            "2026-11-24T00:30:00Z",
        );
        assert_eq!(b["type"], "searchset");
        assert_eq!(b["total"], 2);
        assert_eq!(b["entry"][0]["search"]["mode"], "match");
        let rels: Vec<&str> =
            b["link"].as_array().unwrap().iter().map(|l| l["relation"].as_str().unwrap()).collect();
        assert_eq!(rels, ["self", "first", "next"]);
    }
}
