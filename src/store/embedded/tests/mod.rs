//! The embedded store on small hand-made documents: every answer checked against numbers worked out
//! by hand. This file holds the fixture (eight requests over two days) and the helpers the tests share;
//! the tests themselves go by side: [`writes`] (durability, deduplication, the write-ahead log, day
//! partitions, the lock) and [`reads`] (filters, aggregations, search pages).

mod reads;
mod writes;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::document::{Device, Geo, GeoPoint, LogDocument, Os, UserAgent};
use crate::query::model::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct D {
    id: &'static str,
    ts: &'static str,
    status: Option<u16>,
    path: &'static str,
    ip: &'static str,
    browser: Option<&'static str>,
    country: Option<&'static str>,
    city: Option<&'static str>,
    bytes: Option<u64>,
    bot: Option<bool>,
    visitor: &'static str,
    agent: &'static str,
}

const BASE: D = D {
    id: "",
    ts: "2015-05-18T10:00:00Z",
    status: Some(200),
    path: "/",
    ip: "10.0.0.1",
    browser: Some("Chrome"),
    country: None,
    city: None,
    bytes: Some(100),
    bot: Some(false),
    visitor: "v1",
    agent: "Mozilla/5.0 Chrome/32.0",
};

fn doc(d: &D) -> IndexDoc {
    let mut doc = LogDocument { timestamp: t(d.ts), ..LogDocument::default() };
    doc.event.original = format!("line {}", d.id);
    doc.source.ip = Some(d.ip.parse().unwrap());
    doc.http.request.method = Some("GET".into());
    doc.http.response.status_code = d.status;
    doc.http.response.body.bytes = d.bytes;
    doc.url.path = Some(d.path.into());
    doc.url.original = Some(format!("{}?x=1", d.path));
    doc.user_agent = Some(UserAgent {
        original: Some(d.agent.into()),
        name: d.browser.map(Arc::from),
        os: Some(Arc::new(Os { name: Some("Linux".into()), ..Os::default() })),
        device: Some(Arc::new(Device { name: Some("Other".into()) })),
        ..UserAgent::default()
    });
    if d.country.is_some() || d.city.is_some() {
        doc.source.geo = Some(Arc::new(Geo {
            country_iso_code: d.country.map(str::to_owned),
            country_name: d.country.map(|c| format!("Land {c}")),
            city_name: d.city.map(str::to_owned),
            location: d.city.map(|c| GeoPoint { lat: c.len() as f64, lon: -(d.ip.len() as f64) }),
            ..Geo::default()
        }));
    }
    doc.firesight.bot = d.bot;
    doc.firesight.visitor = Some(d.visitor.into());
    doc.firesight.status_class = d.status.and_then(LogDocument::status_class);
    IndexDoc { id: d.id.into(), doc }
}

/// Eight requests over two days (2015-05-18 and 2015-05-19).
fn fixture() -> Vec<IndexDoc> {
    [
        D { id: "a", ts: "2015-05-18T10:00:00Z", ..BASE },
        D { id: "b", ts: "2015-05-18T10:30:00.250Z", status: Some(404), path: "/missing", bytes: Some(0), ..BASE },
        D {
            id: "c",
            ts: "2015-05-18T10:30:00.250Z",
            path: "/blog/a",
            ip: "10.0.0.2",
            visitor: "v2",
            country: Some("FR"),
            city: Some("Paris"),
            ..BASE
        },
        D {
            id: "d",
            ts: "2015-05-18T12:15:00Z",
            path: "/blog/b",
            ip: "9.1.1.1",
            browser: Some("Firefox"),
            country: Some("FR"),
            city: Some("Lyon"),
            bytes: Some(300),
            ..BASE
        },
        D {
            id: "e",
            ts: "2015-05-18T23:59:59.999Z",
            status: Some(500),
            ip: "2001:db8::1",
            browser: None,
            bot: None,
            agent: "curl/7.0",
            visitor: "v3",
            bytes: None,
            ..BASE
        },
        D {
            id: "f",
            ts: "2015-05-19T00:00:00Z",
            status: Some(301),
            path: "/blog/a",
            bot: Some(true),
            browser: Some("Googlebot"),
            agent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            country: Some("US"),
            city: Some("Paris"),
            bytes: Some(50),
            visitor: "v4",
            ..BASE
        },
        D {
            id: "g",
            ts: "2015-05-19T00:00:00Z",
            status: Some(200),
            country: Some("US"),
            city: Some("Ephrata"),
            ip: "10.0.0.2",
            ..BASE
        },
        D {
            id: "h",
            ts: "2015-05-19T05:00:00Z",
            status: None,
            path: "/x",
            browser: Some("Firefox"),
            bytes: Some(1000),
            ..BASE
        },
    ]
    .iter()
    .map(doc)
    .collect()
}

fn all_time() -> TimeRange {
    TimeRange { from: t("2015-05-17T00:00:00Z"), to: t("2015-05-21T00:00:00Z") }
}

fn q(filters: Filters) -> Query {
    Query { range: all_time(), filters }
}

async fn store_with_fixture() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let outcomes = store.index(&fixture()).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == ItemOutcome::Created), "{outcomes:?}");
    (dir, store)
}

async fn count(store: &EmbeddedStore, query: Query) -> u64 {
    store.top(&TopRequest { query, dimension: Dimension::Status, limit: 1 }).await.unwrap().total
}

async fn ids(store: &EmbeddedStore, filters: Filters) -> Vec<String> {
    let page =
        store.search(&SearchRequest { query: q(filters), order: Order::Asc, size: 100, cursor: None }).await.unwrap();
    page.items.into_iter().map(|i| i.id).collect()
}
