//! GeoIP lookups in MaxMind DB files (GeoIP2/GeoLite2 City or Country, plus an optional ASN or ISP
//! database), read into memory at start-up and mapped to the ECS `source.geo` / `source.as` fields.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use maxminddb::{MaxMindDbError, Mmap, Reader};
use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};

use super::EnrichError;
use super::cache::BoundedCache;
use crate::document::{AutonomousSystem, Geo, GeoPoint, Organization};
use crate::net::special_range;

/// A City or Country database and, optionally, an ASN database.
///
/// Both are read into memory rather than memory-mapped: mapping needs `unsafe` (the crate forbids
/// it) and a file replaced under a live mapping is undefined behaviour. GeoLite2-City costs about
/// 62 MB of RAM this way.
///
/// Answers are cached per address: decoding a record costs 2-3 us with maxminddb 0.32 (it
/// validates every string and container), ten times the tree walk, and log lines repeat their
/// clients heavily (10,000 lines of the sample log have 1,753 addresses).
pub struct GeoIp {
    geo: Database,
    asn: Option<Database>,
    cache: BoundedCache<IpAddr, Answer>,
    lookup_errors: AtomicU64,
}

/// What an address resolves to. Shared: a hit hands out reference counts, which the document keeps.
type Answer = (Option<Arc<Geo>>, Option<Arc<AutonomousSystem>>);

/// Cache budget in addresses (both generations). An entry costs about 300 bytes (the strings of a
/// `Geo`), so this is about 20 MB at most.
const CACHED_ADDRESSES: usize = 65_536;

struct Database {
    reader: Reader<Mmap>,
    path: PathBuf,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp")
            .field("geo", &self.geo.path)
            .field("geo_type", &self.geo.reader.metadata().database_type)
            .field("asn", &self.asn.as_ref().map(|db| &db.path))
            .finish_non_exhaustive()
    }
}

/// What a database must contain to be used for a role; checked at open so that a swapped file
/// (an ASN database given as the City one, say) fails loudly instead of enriching nothing.
#[derive(Clone, Copy, Debug)]
enum Role {
    Geo,
    Asn,
}

impl Role {
    fn accepts(self, database_type: &str) -> bool {
        match self {
            // GeoIP2/GeoLite2 City and Country, GeoIP2 Enterprise, and DB-IP's compatible
            // `DBIP-City-Lite` / `DBIP-Country-Lite` all share the City record layout.
            Role::Geo => ["City", "Country", "Enterprise"].iter().any(|t| database_type.contains(t)),
            // GeoIP2-ISP records carry the same two ASN fields as GeoLite2-ASN.
            Role::Asn => ["ASN", "ISP"].iter().any(|t| database_type.contains(t)),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Role::Geo => "a City or Country database (GeoIP2/GeoLite2)",
            Role::Asn => "an ASN or ISP database (GeoLite2-ASN, GeoIP2-ISP)",
        }
    }
}

/// Addresses whose records are decoded at open. The reader only parses the metadata and checks the
/// search tree's bounds; decoding a few real records catches corrupt data sections at start-up
/// rather than on the first request. These are well-known public resolvers plus MaxMind's own
/// test networks, so both real and test databases have records for some of them.
const PROBES: [IpAddr; 6] = [
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(81, 2, 69, 142)),
    IpAddr::V4(Ipv4Addr::new(1, 128, 0, 0)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x218, 0, 0, 0, 0, 0, 0)),
];

/// How many records of the search tree's first networks are decoded at open, on top of `PROBES`.
const PROBE_NETWORKS: usize = 256;

impl Database {
    fn open(path: &Path, role: Role) -> Result<Self, EnrichError> {
        // Mapped, not read into memory: the database's pages are the kernel's page cache, shared with
        // every process reading it and given back under memory pressure.
        // SAFETY: the mapping stays valid while the file is replaced by a rename (as `geoipupdate`
        // does: the old file lives on until unmapped); rewriting the file in place while firesight
        // runs is not supported (README, `FIRESIGHT_GEOIP__CITY_DB`).
        #[allow(unsafe_code)]
        let reader = unsafe { Reader::open_mmap(path) }
            .map_err(|source| EnrichError::GeoIpOpen { path: path.to_owned(), source })?;
        let database_type = &reader.metadata().database_type;
        if !role.accepts(database_type) {
            return Err(EnrichError::GeoIpWrongType {
                path: path.to_owned(),
                found: database_type.clone(),
                expected: role.expected(),
            });
        }
        let db = Database { reader, path: path.to_owned() };
        db.probe(role).map_err(|source| EnrichError::GeoIpCorrupt { path: path.to_owned(), source })?;
        tracing::info!(
            path = %db.path.display(),
            database_type = %db.reader.metadata().database_type,
            build_epoch = db.reader.metadata().build_epoch,
            "GeoIP database loaded"
        );
        Ok(db)
    }

    fn probe(&self, role: Role) -> Result<(), MaxMindDbError> {
        let ipv6 = self.reader.metadata().ip_version == 6;
        for ip in PROBES.into_iter().filter(|ip| ipv6 || ip.is_ipv4()) {
            self.decode(ip, role)?;
        }
        for network in self.reader.networks(Default::default())?.take(PROBE_NETWORKS) {
            let network = network?;
            match role {
                Role::Geo => network.decode::<GeoRecord<'_>>().map(drop)?,
                Role::Asn => network.decode::<AsnRecord<'_>>().map(drop)?,
            }
        }
        Ok(())
    }

    fn decode(&self, ip: IpAddr, role: Role) -> Result<(), MaxMindDbError> {
        let found = self.reader.lookup(ip)?;
        match role {
            Role::Geo => found.decode::<GeoRecord<'_>>().map(drop),
            Role::Asn => found.decode::<AsnRecord<'_>>().map(drop),
        }
    }

    fn geo(&self, ip: IpAddr) -> Result<Option<Geo>, MaxMindDbError> {
        Ok(self.reader.lookup(ip)?.decode::<GeoRecord<'_>>()?.and_then(GeoRecord::into_geo))
    }

    fn asn(&self, ip: IpAddr) -> Result<Option<AutonomousSystem>, MaxMindDbError> {
        Ok(self.reader.lookup(ip)?.decode::<AsnRecord<'_>>()?.and_then(AsnRecord::into_asn))
    }
}

impl GeoIp {
    /// Opens a City or Country database and, optionally, an ASN database. Refuses a file that is
    /// not a MaxMind DB, is corrupt, or holds the wrong kind of data, naming the file.
    pub fn open(geo: &Path, asn: Option<&Path>) -> Result<Self, EnrichError> {
        Ok(GeoIp {
            geo: Database::open(geo, Role::Geo)?,
            asn: asn.map(|path| Database::open(path, Role::Asn)).transpose()?,
            cache: BoundedCache::new(CACHED_ADDRESSES, |_| 1),
            lookup_errors: AtomicU64::new(0),
        })
    }

    /// `database_type` of the geo database, e.g. `GeoLite2-City` or `GeoIP2-Country`.
    pub fn database_type(&self) -> &str {
        &self.geo.reader.metadata().database_type
    }

    /// Whether an ASN database is configured.
    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// How many addresses failed to look up since open, on a corrupt record (their lines got no
    /// geo/AS data). Counted once per address while its answer stays cached.
    pub fn lookup_errors(&self) -> u64 {
        self.lookup_errors.load(Ordering::Relaxed)
    }

    /// Location and autonomous system of `ip`. Private, loopback, link-local, documentation and
    /// other non-global addresses, and addresses the databases do not cover, get `None` without
    /// an error. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as IPv4.
    ///
    /// A Country database fills only the continent and country fields.
    pub fn lookup(&self, ip: IpAddr) -> (Option<Arc<Geo>>, Option<Arc<AutonomousSystem>>) {
        let ip = ip.to_canonical();
        if !is_global(ip) {
            return (None, None);
        }
        self.cache.get_or_insert_with(&ip, || self.lookup_uncached(ip))
    }

    fn lookup_uncached(&self, ip: IpAddr) -> Answer {
        let geo = self.geo.geo(ip).unwrap_or_else(|e| self.failed(&self.geo, ip, &e));
        let asn = self.asn.as_ref().and_then(|db| db.asn(ip).unwrap_or_else(|e| self.failed(db, ip, &e)));
        (geo.map(Arc::new), asn.map(Arc::new))
    }

    /// A record that passed the open-time probe can still be corrupt; the line loses its geo data
    /// rather than the batch failing. Only the first failure is logged: a corrupt database would
    /// otherwise log once per line.
    #[cold]
    fn failed<T>(&self, db: &Database, ip: IpAddr, error: &MaxMindDbError) -> Option<T> {
        if self.lookup_errors.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(path = %db.path.display(), %ip, %error,
                "GeoIP lookup failed; the database may be corrupt (further failures are only counted)");
        }
        None
    }
}

/// Whether `ip` can have a location: it is in no special-purpose range ([`crate::net`]: not private,
/// loopback, link-local, unspecified, multicast, broadcast, documentation, shared (CGNAT),
/// benchmarking, reserved, ...; NAT64 and 6to4 addresses judged by the IPv4 address they embed).
/// GeoIP databases have no records for these, but checking first guarantees it and skips the tree walk
/// for the internal traffic that fills many logs.
pub(crate) fn is_global(ip: IpAddr) -> bool {
    special_range(ip).is_none()
}

/// The fields of a GeoIP2 City/Country record that ECS `geo` uses. Decoding into borrowed `&str`
/// and skipping the other languages' names (7 of 8) makes a lookup several times cheaper than the
/// crate's full `geoip2::City`.
#[derive(Deserialize, Default)]
struct GeoRecord<'a> {
    #[serde(borrow, default)]
    continent: Option<Place<'a>>,
    #[serde(borrow, default)]
    country: Option<Place<'a>>,
    #[serde(borrow, default, deserialize_with = "first_subdivision")]
    subdivisions: Option<Place<'a>>,
    #[serde(borrow, default)]
    city: Option<Place<'a>>,
    #[serde(borrow, default)]
    postal: Option<Postal<'a>>,
    #[serde(borrow, default)]
    location: Option<Location<'a>>,
}

#[derive(Deserialize, Default)]
struct Place<'a> {
    /// Continents have `code`, countries and subdivisions `iso_code`.
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location<'a> {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

impl Place<'_> {
    fn name(&self) -> Option<String> {
        self.names.as_ref().and_then(|n| n.en).map(str::to_owned)
    }
}

impl GeoRecord<'_> {
    fn into_geo(self) -> Option<Geo> {
        let country_iso = self.country.as_ref().and_then(|c| c.iso_code);
        let region = self.subdivisions.as_ref();
        let location = self.location.as_ref();
        let geo = Geo {
            continent_code: self.continent.as_ref().and_then(|c| c.code).map(str::to_owned),
            continent_name: self.continent.as_ref().and_then(Place::name),
            country_iso_code: country_iso.map(str::to_owned),
            country_name: self.country.as_ref().and_then(Place::name),
            // ECS (like Elasticsearch's geoip processor) wants the full ISO 3166-2 code, `US-CA`;
            // MaxMind stores only the part after the dash.
            region_iso_code: region.and_then(|r| r.iso_code).map(|code| match country_iso {
                Some(country) => format!("{country}-{code}"),
                None => code.to_owned(),
            }),
            region_name: region.and_then(Place::name),
            city_name: self.city.as_ref().and_then(Place::name),
            postal_code: self.postal.and_then(|p| p.code).map(str::to_owned),
            timezone: location.and_then(|l| l.time_zone).map(str::to_owned),
            location: location.and_then(|l| Some(GeoPoint { lat: l.latitude?, lon: l.longitude? })),
        };
        (geo != Geo::default()).then_some(geo)
    }
}

impl AsnRecord<'_> {
    fn into_asn(self) -> Option<AutonomousSystem> {
        let asn = AutonomousSystem {
            number: self.autonomous_system_number,
            organization: self.autonomous_system_organization.map(|name| Organization { name: Some(name.to_owned()) }),
        };
        (asn != AutonomousSystem::default()).then_some(asn)
    }
}

/// ECS has one region: the first (largest) subdivision. The rest are skipped without allocating.
fn first_subdivision<'de, D>(deserializer: D) -> Result<Option<Place<'de>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Option<Place<'de>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of subdivisions")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let first = seq.next_element::<Place<'de>>()?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    deserializer.deserialize_seq(First)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::fixtures::{csv_rows, geoip_path, geolite2_city, non_empty, read};

    fn open(name: &str) -> GeoIp {
        GeoIp::open(&geoip_path(name), None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every row of MaxMind's known answers for the City and Country test databases: country,
    /// continent and (City only) English city name.
    #[test]
    fn geo_matches_maxmind_known_answers() {
        let mut checked = 0;
        for name in ["GeoIP2-City-Test", "GeoLite2-City-Test", "GeoIP2-Country-Test", "GeoLite2-Country-Test"] {
            let db = open(&format!("{name}.mmdb"));
            let rows = csv_rows(&read(&geoip_path(&format!("{name}.known_answers.csv"))));
            assert!(rows.len() > 200, "{name}: only {} known answers", rows.len());
            for row in rows {
                let ip: IpAddr = row["lookup_ip"].parse().unwrap();
                let (geo, asn) = db.lookup(ip);
                assert!(asn.is_none());
                let geo = geo.unwrap_or_default();
                let context = format!("{name} {ip}");
                assert_eq!(geo.country_iso_code.as_deref(), non_empty(&row["country_iso"]), "{context}");
                assert_eq!(geo.continent_code.as_deref(), non_empty(&row["continent"]), "{context}");
                assert_eq!(geo.city_name.as_deref(), non_empty(&row["city_en"]), "{context}");
                checked += 1;
            }
        }
        assert_eq!(checked, 251 + 242 + 345 + 244);
        for name in ["GeoIP2-City-Test", "GeoLite2-City-Test", "GeoIP2-Country-Test", "GeoLite2-Country-Test"] {
            assert_eq!(open(&format!("{name}.mmdb")).lookup_errors(), 0);
        }
    }

    #[test]
    fn asn_matches_maxmind_known_answers() {
        let db =
            GeoIp::open(&geoip_path("GeoIP2-Country-Test.mmdb"), Some(&geoip_path("GeoLite2-ASN-Test.mmdb"))).unwrap();
        let rows = csv_rows(&read(&geoip_path("GeoLite2-ASN-Test.known_answers.csv")));
        assert_eq!(rows.len(), 720);
        for row in rows {
            let ip: IpAddr = row["lookup_ip"].parse().unwrap();
            let asn = db.lookup(ip).1.unwrap_or_default();
            let expected = non_empty(&row["asn"]).map(|n| n.parse::<u32>().unwrap());
            assert_eq!(asn.number, expected, "{ip}");
            let org = asn.organization.as_ref().and_then(|o| o.name.as_deref());
            assert_eq!(org, non_empty(&row["as_org"]), "{ip}");
        }
    }

    /// `2.125.160.216` has two subdivisions (England, West Berkshire) and a postal code.
    #[test]
    fn city_record_fills_every_geo_field() {
        let db = open("GeoIP2-City-Test.mmdb");
        assert_eq!(
            *db.lookup("2.125.160.216".parse().unwrap()).0.unwrap(),
            Geo {
                continent_code: Some("EU".into()),
                continent_name: Some("Europe".into()),
                country_iso_code: Some("GB".into()),
                country_name: Some("United Kingdom".into()),
                region_iso_code: Some("GB-ENG".into()),
                region_name: Some("England".into()),
                city_name: Some("Boxford".into()),
                postal_code: Some("OX1".into()),
                timezone: Some("Europe/London".into()),
                location: Some(GeoPoint { lat: 51.75, lon: -1.25 }),
            }
        );
        let geo = db.lookup("89.160.20.112".parse().unwrap()).0.unwrap();
        assert_eq!(geo.city_name.as_deref(), Some("Linköping"));
        assert_eq!(geo.region_iso_code.as_deref(), Some("SE-E"));
        assert_eq!(geo.region_name.as_deref(), Some("Östergötland County"));
        assert_eq!(geo.postal_code, None);
    }

    #[test]
    fn country_database_fills_only_continent_and_country() {
        let db = open("GeoIP2-Country-Test.mmdb");
        assert_eq!(db.database_type(), "GeoIP2-Country");
        let geo = db.lookup("81.2.69.160".parse().unwrap()).0.unwrap();
        assert_eq!(
            *geo,
            Geo {
                continent_code: Some("EU".into()),
                continent_name: Some("Europe".into()),
                country_iso_code: Some("GB".into()),
                country_name: Some("United Kingdom".into()),
                ..Geo::default()
            }
        );
    }

    #[test]
    fn non_global_addresses_get_nothing() {
        let db =
            GeoIp::open(&geoip_path("GeoIP2-City-Test.mmdb"), Some(&geoip_path("GeoLite2-ASN-Test.mmdb"))).unwrap();
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "100.64.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_global(ip.to_canonical()), "{ip}");
            assert_eq!(db.lookup(ip), (None, None), "{ip}");
        }
        // Global but absent from the test database: no data, no error.
        assert_eq!(db.lookup("9.9.9.9".parse().unwrap()), (None, None));
        assert_eq!(db.lookup_errors(), 0);
    }

    #[test]
    fn ipv4_mapped_addresses_are_looked_up_as_ipv4() {
        let db = open("GeoIP2-City-Test.mmdb");
        let mapped = db.lookup("::ffff:81.2.69.160".parse().unwrap());
        assert_eq!(mapped, db.lookup("81.2.69.160".parse().unwrap()));
        assert!(mapped.0.is_some());
    }

    #[test]
    fn corrupt_or_wrong_databases_are_refused_naming_the_file() {
        let cases = [
            ("bad-data/GeoIP2-City-Test-Invalid-Node-Count.mmdb", "cannot open"),
            ("bad-data/GeoIP2-City-Test-Broken-Double-Format.mmdb", "corrupt"),
            ("bad-data/invalid-data-record-offset.mmdb", "cannot open"),
            ("bad-data/libmaxminddb-metadata-marker-only.mmdb", "cannot open"),
            ("bad-data/libmaxminddb-corrupt-search-tree.mmdb", "is a Test database"),
            ("GeoLite2-ASN-Test.mmdb", "is a GeoLite2-ASN database"),
            ("LICENSE-MIT", "cannot open"),
            ("does-not-exist.mmdb", "cannot open"),
        ];
        for (name, expected) in cases {
            let path = geoip_path(name);
            let message = GeoIp::open(&path, None).unwrap_err().to_string();
            assert!(message.contains(&path.display().to_string()), "{name}: {message}");
            assert!(message.contains(expected), "{name}: {message}");
        }
        let city = geoip_path("GeoIP2-City-Test.mmdb");
        let message = GeoIp::open(&city, Some(&city)).unwrap_err().to_string();
        assert!(message.contains("is a GeoIP2-City database, expected an ASN"), "{message}");
    }

    /// The real log's 1,753 client addresses against the GeoLite2-City 2019-12-24 build the
    /// reference was made with: same country and city for every one.
    #[test]
    fn real_log_ips_match_geolite2_2019_reference() {
        let db = geolite2_city();
        assert_eq!(db.database_type(), "GeoLite2-City");
        let rows = csv_rows(&read(&geoip_path("elastic_examples_apache_logs.ip_geo_reference.csv")));
        assert_eq!(rows.len(), 1753);
        let mut located = 0;
        for row in rows {
            let ip: IpAddr = row["client_host"].parse().unwrap();
            // 14 networks have no country, only a registered one (which ECS `geo` does not use),
            // sometimes with a location.
            let geo = db.lookup(ip).0.unwrap_or_default();
            let country = non_empty(&row["geolite2_2019_country_iso"]);
            assert_eq!(geo.country_iso_code.as_deref(), country, "{ip}");
            assert_eq!(geo.city_name.as_deref(), non_empty(&row["geolite2_2019_city_en"]), "{ip}");
            located += usize::from(country.is_some());
        }
        assert_eq!(located, 1753 - 14);
        assert_eq!(db.lookup_errors(), 0);
    }
}
