//! Enrichment: completes a parsed [`LogDocument`] with what its client address and user agent
//! imply, the way the Lambda in users' Firehose pipelines (or Filebeat) would.
//!
//! - `source.geo` and `source.as` from MaxMind DB files ([`GeoIp`]): a GeoIP2/GeoLite2 City or
//!   Country database and optionally an ASN database, paths from the configuration.
//! - `user_agent.{name,version,os,device}` from uap-core's `regexes.yaml`, embedded in the binary
//!   ([`UserAgentParser`]).
//! - `firesight.crawler.{name,category}` from the `crawler-user-agents` list, embedded in the binary
//!   ([`Crawlers`]), cached with the user agent's parse.
//! - `firesight.bot` and `firesight.visitor`, derived from both.
//!
//! Input is a document from the line parser (`source.ip`, `user_agent.original`); output goes to
//! the log store. Everything here is synchronous and CPU-only: callers run batches inside
//! `spawn_blocking`. Databases are loaded and regexes compiled once, up front; per line the work is
//! two cache hits (address, agent), one SHA-256 block and handing the cached, shared (`Arc`) answers
//! to the document.

mod cache;
mod crawler;
mod geoip;
mod user_agent;

#[cfg(test)]
mod fixtures;

use std::net::IpAddr;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::document::LogDocument;

pub use crawler::{CATEGORIES as CRAWLER_CATEGORIES, Crawlers};
pub use geoip::GeoIp;
pub use user_agent::{DEFAULT_CACHE_BYTES, UaInfo, UserAgentParser};

/// Why enrichment could not be set up. Enriching a document never fails: what cannot be looked up
/// stays absent.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("cannot open GeoIP database {}: {source}", path.display())]
    GeoIpOpen {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    #[error("GeoIP database {} is a {found} database, expected {expected}", path.display())]
    GeoIpWrongType { path: PathBuf, found: String, expected: &'static str },
    #[error("GeoIP database {} is corrupt: {source}", path.display())]
    GeoIpCorrupt {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    #[error("cannot compile the embedded user-agent regexes: {0}")]
    UserAgentRegexes(String),
    #[error("cannot load the embedded crawler list: {0}")]
    CrawlerList(String),
}

/// Fills the enrichment fields of documents. Shared between threads (`Arc<Enricher>`).
#[derive(Debug)]
pub struct Enricher {
    geo: Option<GeoIp>,
    user_agents: UserAgentParser,
    /// Visitor-key digest of lines without a user agent, so they hash like an empty agent.
    no_agent_digest: [u8; 32],
}

impl Enricher {
    /// Without `geo` (no database configured) documents get no `source.geo` / `source.as`.
    pub fn new(geo: Option<GeoIp>, user_agents: UserAgentParser) -> Self {
        Enricher { geo, user_agents, no_agent_digest: Sha256::digest(b"").into() }
    }

    pub fn geoip(&self) -> Option<&GeoIp> {
        self.geo.as_ref()
    }

    pub fn user_agents(&self) -> &UserAgentParser {
        &self.user_agents
    }

    /// Fills `source.geo`, `source.as`, `user_agent.{name,version,os,device}`, `firesight.crawler`,
    /// `firesight.bot` and `firesight.visitor`. Values the document already has are kept: a record a user's
    /// Lambda enriched upstream keeps that enrichment, and nothing is looked up for it.
    pub fn enrich(&self, doc: &mut LogDocument) {
        let client = doc.source.ip.map(|ip| ip.to_canonical());

        if let (Some(db), Some(ip)) = (&self.geo, client)
            && (doc.source.geo.is_none() || (doc.source.asn.is_none() && db.has_asn()))
        {
            let (geo, asn) = db.lookup(ip);
            if doc.source.geo.is_none() {
                doc.source.geo = geo;
            }
            if doc.source.asn.is_none() {
                doc.source.asn = asn;
            }
        }

        let agent = doc.user_agent.as_mut().and_then(|ua| {
            let info = self.user_agents.parse(ua.original.as_deref()?);
            if ua.name.is_none() {
                ua.name = Some(info.name.clone());
                ua.version = info.version.clone();
                ua.os = Some(info.os.clone());
                ua.device = Some(info.device.clone());
            }
            Some(info)
        });

        if doc.firesight.crawler.is_none() {
            doc.firesight.crawler = agent.as_ref().and_then(|info| info.crawler.clone());
        }
        // No user agent is no evidence of a bot; `false` keeps the field present for aggregations.
        doc.firesight.bot.get_or_insert(agent.as_ref().is_some_and(|info| info.bot));

        if doc.firesight.visitor.is_none() {
            let digest = agent.as_ref().map_or(&self.no_agent_digest, |info| &info.digest);
            doc.firesight.visitor = match client {
                Some(IpAddr::V4(ip)) => Some(visitor_key(digest, &ip.octets())),
                Some(IpAddr::V6(ip)) => Some(visitor_key(digest, &ip.octets())),
                None => doc.source.address.as_deref().map(|host| visitor_key(digest, host.as_bytes())),
            };
        }
    }

    /// [`Enricher::enrich`] for every document of a batch.
    pub fn enrich_all(&self, docs: &mut [LogDocument]) {
        for doc in docs {
            self.enrich(doc);
        }
    }
}

/// The visitor key: the first 8 bytes, in hex, of `SHA-256(SHA-256(user_agent) ‖ client)`, where
/// `client` is the address in network byte order (4 or 16 bytes; IPv4-mapped IPv6 as IPv4), or
/// the UTF-8 host name when the line had a name instead. In Python:
/// `sha256(sha256(ua).digest() + ip_address(ip).packed).hexdigest()[:16]`.
///
/// Stable across processes and versions, so counts agree over time and can be recomputed
/// elsewhere. It keeps raw addresses out of aggregations but is no anonymisation: with the user
/// agent at hand, the IPv4 space is small enough to search. Hashing the agent first lets its digest
/// be computed once per distinct agent, and raw address bytes skip formatting it as text (which
/// cost as much as the hash).
fn visitor_key(agent_digest: &[u8; 32], client: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    hasher.update(agent_digest);
    hasher.update(client);
    let digest = hasher.finalize();
    // `hex::encode` pushes char by char through an iterator; this is one allocation of the final size.
    let mut key = String::with_capacity(16);
    for byte in &digest[..8] {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::document::{AutonomousSystem, Device, Geo, Organization, Os, UserAgent};
    use crate::enrich::fixtures::geoip_path;

    const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 \
                              (KHTML, like Gecko) Chrome/33.0.1750.91 Safari/537.36";

    fn enricher() -> Enricher {
        let geo =
            GeoIp::open(&geoip_path("GeoIP2-City-Test.mmdb"), Some(&geoip_path("GeoLite2-ASN-Test.mmdb"))).unwrap();
        Enricher::new(Some(geo), UserAgentParser::new().unwrap())
    }

    fn doc(ip: Option<&str>, ua: Option<&str>) -> LogDocument {
        let mut doc = LogDocument::default();
        doc.source.ip = ip.map(|ip| ip.parse().unwrap());
        doc.source.address = ip.map(str::to_owned);
        doc.user_agent = ua.map(|ua| UserAgent { original: Some(ua.to_owned()), ..UserAgent::default() });
        doc
    }

    #[test]
    fn fills_every_enrichment_field() {
        let mut d = doc(Some("89.160.20.112"), Some(CHROME_MAC));
        enricher().enrich(&mut d);

        let geo = d.source.geo.as_ref().unwrap();
        assert_eq!(geo.country_iso_code.as_deref(), Some("SE"));
        assert_eq!(geo.city_name.as_deref(), Some("Linköping"));
        assert_eq!(
            d.source.asn,
            Some(Arc::new(AutonomousSystem {
                number: Some(29518),
                organization: Some(Organization { name: Some("Bredband2 AB".into()) }),
            }))
        );
        assert_eq!(
            d.user_agent,
            Some(UserAgent {
                original: Some(CHROME_MAC.into()),
                name: Some("Chrome".into()),
                version: Some("33.0.1750".into()),
                os: Some(Arc::new(Os {
                    name: Some("Mac OS X".into()),
                    version: Some("10.9.1".into()),
                    full: Some("Mac OS X 10.9.1".into()),
                })),
                device: Some(Arc::new(Device { name: Some("Mac".into()) })),
            })
        );
        assert_eq!(d.firesight.bot, Some(false));
        assert_eq!(d.firesight.visitor.as_deref(), Some("9b176b47a9cc5452"));
    }

    #[test]
    fn visitor_key_is_per_address_and_agent() {
        let e = enricher();
        let key = |ip: &str, ua: Option<&str>| {
            let mut d = doc(Some(ip), ua);
            e.enrich(&mut d);
            d.firesight.visitor.unwrap()
        };
        let base = key("89.160.20.112", Some(CHROME_MAC));
        assert_eq!(base.len(), 16);
        assert_eq!(key("::ffff:89.160.20.112", Some(CHROME_MAC)), base);
        assert_ne!(key("89.160.20.113", Some(CHROME_MAC)), base);
        assert_ne!(key("89.160.20.112", Some("curl/8.0")), base);
        // No agent hashes like the empty agent.
        assert_eq!(key("10.0.0.1", None), key("10.0.0.1", Some("")));

        let mut hostname = doc(None, Some(CHROME_MAC));
        hostname.source.address = Some("proxy.example.com".into());
        e.enrich(&mut hostname);
        assert_eq!(hostname.firesight.visitor.as_deref().map(str::len), Some(16));

        let mut nothing = doc(None, None);
        e.enrich(&mut nothing);
        assert_eq!(nothing.firesight.visitor, None);
        assert_eq!(nothing.firesight.bot, Some(false));
        assert_eq!(nothing.source.geo, None);
    }

    #[test]
    fn private_client_gets_no_geo_but_the_rest() {
        let mut d = doc(Some("192.168.1.20"), Some("Mozilla/5.0 (compatible; bingbot/2.0)"));
        enricher().enrich(&mut d);
        assert_eq!((d.source.geo.as_ref(), d.source.asn.as_ref()), (None, None));
        assert_eq!(d.firesight.bot, Some(true));
        assert!(d.firesight.visitor.is_some());
        assert_eq!(d.user_agent.unwrap().device.unwrap().name.as_deref(), Some("Spider"));
    }

    #[test]
    fn upstream_enrichment_is_kept() {
        let mut d = doc(Some("89.160.20.112"), Some(CHROME_MAC));
        d.source.geo = Some(Arc::new(Geo { country_iso_code: Some("XX".into()), ..Geo::default() }));
        d.user_agent.as_mut().unwrap().name = Some("Lambda's name".into());
        d.firesight.bot = Some(true);
        enricher().enrich(&mut d);
        assert_eq!(d.source.geo.unwrap().country_iso_code.as_deref(), Some("XX"));
        assert_eq!(d.source.asn.unwrap().number, Some(29518));
        let ua = d.user_agent.unwrap();
        assert_eq!((ua.name.as_deref(), ua.version, ua.os), (Some("Lambda's name"), None, None));
        assert_eq!(d.firesight.bot, Some(true));
    }

    #[test]
    fn without_geoip_only_agent_fields() {
        let e = Enricher::new(None, UserAgentParser::new().unwrap());
        let mut d = doc(Some("89.160.20.112"), Some(CHROME_MAC));
        e.enrich(&mut d);
        assert_eq!(d.source.geo, None);
        assert_eq!(d.user_agent.unwrap().name.as_deref(), Some("Chrome"));
        assert!(d.firesight.visitor.is_some());
    }

    #[test]
    fn enricher_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Enricher>();
    }
}
