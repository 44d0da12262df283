//! B3's query: Japanese text + kinds + a capability + a 5 km radius, centred where the region
//! has matches. A search that matches nothing measures only the cost of finding nothing, so
//! the benchmark refuses to report B3 then rather than print a meaningless figure.

use anyhow::{Context, Result, bail};
use hyper::header;

use crate::client::{self, Conn};

/// Kanazawa city hall: the demo region's centre and the generator's centre of Kanazawa.
pub const KANAZAWA: &str = "36.5613|136.6562";

/// What B3 asks for, as given on the command line.
#[derive(Debug, Clone)]
pub struct SearchSpec {
    pub text: String,
    pub kinds: String,
    pub capability: String,
    /// `latitude|longitude`; `None`: Kanazawa city hall, or a matching provider's place when
    /// nothing matches there.
    pub near: Option<String>,
    pub radius_km: f64,
}

/// The query chosen: its path, how many providers it matches, and where its centre came from.
#[derive(Debug, Clone)]
pub struct ChosenSearch {
    pub path: String,
    pub matches: i64,
    pub centre: String,
    pub centre_from: &'static str,
}

impl SearchSpec {
    /// The search without the radius (the rest of the criteria).
    fn base(&self) -> String {
        format!(
            "/fhir/HealthcareService?name={}&service-category={}&characteristic={}",
            client::enc(&self.text),
            client::enc(&self.kinds),
            client::enc(&self.capability)
        )
    }

    pub fn path_at(&self, centre: &str) -> String {
        format!("{}&near={}", self.base(), client::enc(&format!("{centre}|{}|km", self.radius_km)))
    }
}

async fn get_json(conn: &mut Conn, path: &str, bearer: &str) -> Result<serde_json::Value> {
    let a = conn
        .send(client::get(
            path,
            &[(header::AUTHORIZATION, bearer), (header::ACCEPT, "application/fhir+json")],
        )?)
        .await?;
    if a.status != 200 {
        bail!("GET {path}: {} {}", a.status, a.text().chars().take(400).collect::<String>());
    }
    Ok(serde_json::from_slice(&a.body)?)
}

/// How many providers a search matches (the bundle's `total`).
pub async fn matches(conn: &mut Conn, path: &str, bearer: &str) -> Result<i64> {
    let b = get_json(conn, path, bearer).await?;
    b["total"].as_i64().with_context(|| format!("GET {path}: no total in the bundle"))
}

/// Picks B3's centre: the one given; else Kanazawa city hall if the search matches there; else
/// the place of the first provider (in the directory's order) that matches the rest of the
/// query. Answers `matches: 0` only when even that finds nothing.
pub async fn choose(conn: &mut Conn, spec: &SearchSpec, bearer: &str) -> Result<ChosenSearch> {
    if let Some(centre) = &spec.near {
        let path = spec.path_at(centre);
        let matches = matches(conn, &path, bearer).await?;
        return Ok(ChosenSearch { path, matches, centre: centre.clone(), centre_from: "--near" });
    }
    let path = spec.path_at(KANAZAWA);
    let n = matches(conn, &path, bearer).await?;
    if n > 0 {
        return Ok(ChosenSearch {
            path,
            matches: n,
            centre: KANAZAWA.to_string(),
            centre_from: "Kanazawa city hall",
        });
    }
    // Nothing around Kanazawa: centre on a provider that matches everything but the radius.
    let any = get_json(conn, &format!("{}&_count=1", spec.base()), bearer).await?;
    let Some(id) = any["entry"][0]["resource"]["id"].as_str() else {
        return Ok(ChosenSearch {
            path,
            matches: 0,
            centre: KANAZAWA.to_string(),
            centre_from: "Kanazawa city hall",
        });
    };
    let place = get_json(conn, &format!("/fhir/Location/{id}"), bearer).await?;
    let (Some(lat), Some(lon)) =
        (place["position"]["latitude"].as_f64(), place["position"]["longitude"].as_f64())
    else {
        bail!("Location/{id} matches B3 but has no position");
    };
    let centre = format!("{lat}|{lon}");
    let path = spec.path_at(&centre);
    let matches = matches(conn, &path, bearer).await?;
    Ok(ChosenSearch { path, matches, centre, centre_from: "the place of a matching provider" })
}
