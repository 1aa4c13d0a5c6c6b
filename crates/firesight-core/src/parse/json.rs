//! JSON records: Kinesis Agent `LOGTOJSON` output, and records an enrichment Lambda already turned
//! into JSON (ECS-shaped or flat). The field names accepted are listed in the [module
//! documentation](super).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::fields::{self, present};
use super::record::Record;
use super::{ParseError, snippet, time};
use crate::document::{
    AutonomousSystem, Destination, Device, Geo, GeoPoint, LogDocument, Organization, Os, Url, User, UserAgent,
};

/// Parses one JSON record (Kinesis Agent `LOGTOJSON` output or a Lambda's JSON).
///
/// # Errors
///
/// A [`ParseError`] when the record is not a JSON object, has no readable timestamp, or has a status or
/// size that is not a number.
pub fn parse_json_record(record: &str) -> Result<LogDocument, ParseError> {
    let record = super::error::trim_line_end(record);
    let body = record.trim();
    if body.is_empty() {
        return Err(ParseError::Empty);
    }
    let value: Value = serde_json::from_str(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(ParseError::Malformed("JSON record is not an object"));
    };
    if is_kinesis_agent(&map) { kinesis_agent(map, record) } else { lambda(map, record) }
}

fn is_kinesis_agent(map: &Map<String, Value>) -> bool {
    ["host", "datetime", "request"].iter().all(|key| map.contains_key(*key)) && !map.contains_key("@timestamp")
}

/// The agent's `ApacheLogParser` output: every value a string, `-` already turned into `null`.
fn kinesis_agent(mut map: Map<String, Value>, original: &str) -> Result<LogDocument, ParseError> {
    let host = agent_string(&mut map, "host")?;
    // Like the text path, the RFC 1413 identity has no place in the document.
    map.remove("ident");
    let authuser = agent_string(&mut map, "authuser")?;
    let datetime = agent_string(&mut map, "datetime")?.ok_or(ParseError::Missing("datetime"))?;
    let timestamp = time::parse_clf(&datetime)
        .or_else(|| time::parse_text_timestamp(&datetime))
        .ok_or_else(|| ParseError::BadTimestamp(snippet(&datetime)))?;
    let request = agent_string(&mut map, "request")?;
    let status = match agent_string(&mut map, "response")? {
        Some(text) => Some(
            parse_digits(&text)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| ParseError::BadStatus(snippet(&text)))?,
        ),
        None => None,
    };
    let has_bytes = map.contains_key("bytes");
    let bytes = match agent_string(&mut map, "bytes")? {
        Some(text) => Some(parse_digits(&text).ok_or_else(|| ParseError::BadBytes(snippet(&text)))?),
        None => has_bytes.then_some(0),
    };
    let referrer = match agent_string(&mut map, "referer")? {
        Some(referrer) => Some(referrer),
        None => agent_string(&mut map, "referrer")?,
    };
    let user_agent = agent_string(&mut map, "agent")?;
    let record = Record {
        client: host.as_deref().unwrap_or_default(),
        authuser: authuser.as_deref(),
        timestamp,
        request: request.as_deref(),
        status,
        bytes,
        referrer: referrer.as_deref(),
        user_agent: user_agent.as_deref(),
        format: "kinesis_agent_json",
    };
    let mut doc = record.into_document(original.to_owned());
    doc.extra = into_extra(map);
    Ok(doc)
}

/// A field of an agent record: a string or `null` (numbers are accepted as their text).
fn agent_string(map: &mut Map<String, Value>, key: &'static str) -> Result<Option<String>, ParseError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(present(&s).is_some().then_some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ParseError::BadField { field: key.to_owned(), problem: "is not a string" }),
    }
}

fn parse_digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

const TIMESTAMP_FIELDS: &[&str] =
    &["@timestamp", "timestamp", "time", "datetime", "date", "time_iso8601", "time_local", "ts"];
const REMOTE_FIELDS: &[&str] = &[
    "client_ip",
    "clientip",
    "clientIp",
    "client",
    "remote_addr",
    "remote_ip",
    "remoteIP",
    "remote_address",
    "ip",
    "c-ip",
];
const FORWARDED_FIELDS: &[&str] =
    &["x_forwarded_for", "http_x_forwarded_for", "xff", "forwarded_for", "X-Forwarded-For"];
const USER_FIELDS: &[&str] = &["user.name", "remote_user", "authuser", "user", "username"];
const REQUEST_FIELDS: &[&str] = &["request", "request_line"];
const TARGET_FIELDS: &[&str] = &["url.original", "url", "request_uri", "uri", "requestUri"];
const PATH_FIELDS: &[&str] = &["url.path", "path", "request_path", "uri_path"];
const QUERY_FIELDS: &[&str] = &["url.query", "query", "query_string", "querystring", "args"];
const METHOD_FIELDS: &[&str] = &["http.request.method", "method", "request_method", "verb", "httpMethod"];
const VERSION_FIELDS: &[&str] = &["http.version", "http_version", "protocol", "server_protocol", "httpVersion"];
const STATUS_FIELDS: &[&str] =
    &["http.response.status_code", "status", "status_code", "statusCode", "response", "sc-status"];
const BYTES_FIELDS: &[&str] =
    &["http.response.body.bytes", "bytes", "body_bytes_sent", "bytes_sent", "response_bytes", "size", "sc-bytes"];
const REFERRER_FIELDS: &[&str] = &["http.request.referrer", "referrer", "referer", "http_referer", "http_referrer"];
const USER_AGENT_FIELDS: &[&str] =
    &["user_agent.original", "user_agent", "http_user_agent", "useragent", "userAgent", "agent", "ua"];
const DESTINATION_FIELDS: &[&str] = &["destination.domain", "vhost", "server_name"];
const DESTINATION_PORT_FIELDS: &[&str] = &["destination.port", "server_port"];

/// A Lambda's record. Fields are taken out of the map as they are mapped, so what remains is exactly
/// what goes to `extra`.
fn lambda(map: Map<String, Value>, original: &str) -> Result<LogDocument, ParseError> {
    let mut f = Fields(map);
    let mut doc = LogDocument { timestamp: f.timestamp()?, ..LogDocument::default() };
    doc.event.original = f.string(&["event.original"]).unwrap_or_else(|| original.to_owned());
    doc.event.dataset = f.string(&["event.dataset"]).map(Cow::Owned);
    doc.event.ingested = f.string(&["event.ingested"]).and_then(|s| time::parse_text_timestamp(&s));

    f.client(&mut doc);
    doc.source.geo = f.geo().map(Arc::new);
    doc.source.asn = f.autonomous_system().map(Arc::new);
    let domain = f.string(DESTINATION_FIELDS);
    let port = f.number(DESTINATION_PORT_FIELDS, |_| ParseError::BadField {
        field: "destination.port".to_owned(),
        problem: "is not a port number",
    })?;
    if domain.is_some() || port.is_some() {
        doc.destination = Some(Destination { domain, port: port.and_then(|p| u16::try_from(p).ok()) });
    }
    doc.user = f.string(USER_FIELDS).map(|name| User { name: Some(name) });

    // A full request line fills whatever the separate fields leave open.
    let request_line = f.string(REQUEST_FIELDS);
    let request = request_line.as_deref().map(fields::split_request).unwrap_or_default();
    let method = f.string(METHOD_FIELDS).or_else(|| request.method.map(str::to_owned));
    doc.http.request.method = method.as_deref().map(fields::method);
    let version = f.string(VERSION_FIELDS).or_else(|| request.version.map(str::to_owned));
    doc.http.version = version.as_deref().map(|v| fields::version(v.strip_prefix("HTTP/").unwrap_or(v)));
    let target = f.string(TARGET_FIELDS).or_else(|| match (request.method, request_line.as_deref()) {
        (Some(_), _) => request.target.map(str::to_owned),
        // `request` holding just a path.
        (None, Some(line)) if line.starts_with('/') => Some(line.to_owned()),
        _ => None,
    });
    doc.url = f.url(target);

    let status = f.number(STATUS_FIELDS, ParseError::BadStatus)?;
    doc.http.response.status_code = match status {
        Some(n) => Some(u16::try_from(n).map_err(|_| ParseError::BadStatus(n.to_string()))?),
        None => None,
    };
    doc.http.response.body.bytes = f.number(BYTES_FIELDS, ParseError::BadBytes)?;
    doc.http.request.referrer = f.string(REFERRER_FIELDS);
    doc.user_agent = f.user_agent();

    f.firesight(&mut doc);
    doc.firesight.status_class = doc.http.response.status_code.and_then(LogDocument::status_class);
    doc.firesight.referrer_host = doc.http.request.referrer.as_deref().and_then(fields::referrer_host);
    doc.firesight.record_format = Some(Cow::Borrowed("json"));
    doc.extra = into_extra(f.0);
    Ok(doc)
}

/// A JSON object whose fields are looked up by ECS path, nested (`{"source":{"ip":..}}`), dotted
/// (`{"source.ip":..}`) or any mix, and removed once mapped.
struct Fields(Map<String, Value>);

impl Fields {
    /// The first of `paths` holding a usable scalar, as a string. Placeholders (`-`, `""`, `null`) are
    /// consumed and skipped; objects and arrays are left alone (they are someone else's field that
    /// happens to share the name, like Filebeat's `agent` object).
    fn string(&mut self, paths: &[&str]) -> Option<String> {
        for path in paths {
            match lookup(&self.0, path) {
                Some(Value::String(_) | Value::Number(_) | Value::Null) => {}
                _ => continue,
            }
            match remove(&mut self.0, path) {
                Some(Value::String(s)) if present(&s).is_some() => return Some(s),
                Some(Value::Number(n)) => return Some(n.to_string()),
                _ => {}
            }
        }
        None
    }

    /// The first of `paths` holding a number or a numeric string; `-` counts as 0 (as in the text
    /// format's size field) and a non-numeric string is an error built by `bad`.
    fn number(&mut self, paths: &[&str], bad: fn(String) -> ParseError) -> Result<Option<u64>, ParseError> {
        for path in paths {
            let parsed = match lookup(&self.0, path) {
                Some(Value::Number(n)) => {
                    match n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                    {
                        Some(n) => Some(n),
                        None => return Err(bad(snippet(&n.to_string()))),
                    }
                }
                Some(Value::String(s)) if s == "-" => Some(0),
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(parse_digits(s.trim()).ok_or_else(|| bad(snippet(s)))?),
                Some(Value::Null) => None,
                _ => continue,
            };
            remove(&mut self.0, path);
            if parsed.is_some() {
                return Ok(parsed);
            }
        }
        Ok(None)
    }

    fn timestamp(&mut self) -> Result<chrono::DateTime<chrono::Utc>, ParseError> {
        let mut unreadable = None;
        for path in TIMESTAMP_FIELDS {
            let parsed = match lookup(&self.0, path) {
                None => continue,
                Some(Value::String(s)) => time::parse_text_timestamp(s),
                Some(Value::Number(n)) => {
                    n.as_i64().and_then(time::epoch_integer).or_else(|| n.as_f64().and_then(time::epoch_float))
                }
                Some(_) => None,
            };
            match parsed {
                Some(t) => {
                    remove(&mut self.0, path);
                    return Ok(t);
                }
                None if unreadable.is_none() => {
                    unreadable = lookup(&self.0, path).map(|v| match v {
                        Value::String(s) => snippet(s),
                        other => snippet(&other.to_string()),
                    });
                }
                None => {}
            }
        }
        Err(unreadable.map_or(ParseError::NoTimestamp, ParseError::BadTimestamp))
    }

    /// `source.*`: taken as given when the record has ECS `source`/`client` fields; otherwise the
    /// client is chosen from the flat remote-address and X-Forwarded-For fields like a text line's.
    fn client(&mut self, doc: &mut LogDocument) {
        let ip = self.string(&["source.ip", "client.ip"]);
        let address = self.string(&["source.address", "client.address"]);
        let domain = self.string(&["source.domain", "client.domain"]);
        if ip.is_some() || address.is_some() {
            doc.source.ip = ip.as_deref().or(address.as_deref()).and_then(fields::parse_ip);
            doc.source.domain = domain.or_else(|| {
                address.as_deref().filter(|a| doc.source.ip.is_none() && fields::is_host_name(a)).map(str::to_owned)
            });
            doc.source.address = address.or(ip);
            return;
        }
        let remote = self.string(REMOTE_FIELDS);
        let forwarded = self.forwarded_for();
        let list = match (forwarded, remote) {
            (Some(forwarded), Some(remote)) => format!("{forwarded}, {remote}"),
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => {
                doc.source.domain = domain;
                return;
            }
        };
        let client = fields::choose_client(None, &list);
        doc.source.ip = client.ip;
        doc.source.domain = domain
            .or_else(|| client.address.filter(|a| client.ip.is_none() && fields::is_host_name(a)).map(str::to_owned));
        doc.source.address = client.address.map(str::to_owned);
        doc.firesight.forwarded_for = client.chain.iter().map(|&a| a.to_owned()).collect();
    }

    /// An X-Forwarded-For value, as the header's comma list or a JSON array of addresses.
    fn forwarded_for(&mut self) -> Option<String> {
        for path in FORWARDED_FIELDS {
            if let Some(Value::Array(items)) = lookup(&self.0, path) {
                if !items.iter().all(Value::is_string) {
                    continue;
                }
                let joined = items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ");
                remove(&mut self.0, path);
                if !joined.is_empty() {
                    return Some(joined);
                }
            }
            if let Some(list) = self.string(&[path]) {
                return Some(list);
            }
        }
        None
    }

    fn url(&mut self, target: Option<String>) -> Url {
        let path = self.string(PATH_FIELDS);
        let query = self.string(QUERY_FIELDS).map(|q| q.strip_prefix('?').map_or_else(|| q.clone(), str::to_owned));
        let extension = self.string(&["url.extension"]).map(Cow::Owned);
        let mut url = match target {
            Some(target) => fields::url_parts(&target),
            None => {
                let original = path.as_ref().map(|p| match &query {
                    Some(q) => format!("{p}?{q}"),
                    None => p.clone(),
                });
                let mut url =
                    Url { extension: path.as_deref().and_then(fields::extension), original, ..Url::default() };
                url.query.clone_from(&query);
                url
            }
        };
        // The Lambda's own split wins over the one derived from the target.
        if path.is_some() {
            url.path = path;
        }
        if query.is_some() {
            url.query = query;
        }
        if extension.is_some() {
            url.extension = extension;
        } else if url.extension.is_none() {
            url.extension = url.path.as_deref().and_then(fields::extension);
        }
        url
    }

    fn user_agent(&mut self) -> Option<UserAgent> {
        let original = self.string(USER_AGENT_FIELDS);
        let name = self.string(&["user_agent.name"]).map(Arc::from);
        let version = self.string(&["user_agent.version"]).map(Arc::from);
        let os = Os {
            name: self.string(&["user_agent.os.name"]),
            version: self.string(&["user_agent.os.version"]),
            full: self.string(&["user_agent.os.full"]),
        };
        let device = self.string(&["user_agent.device.name"]).map(|name| Arc::new(Device { name: Some(name) }));
        let os = (os != Os::default()).then(|| Arc::new(os));
        let ua = UserAgent { original, name, version, os, device };
        (ua != UserAgent::default()).then_some(ua)
    }

    /// ECS `source.geo.*`. A Lambda's flat `country`, `city` or `geoip` object is not ECS and stays in
    /// `extra` as it came: their meaning (name or ISO code? which database?) is the Lambda's.
    fn geo(&mut self) -> Option<Geo> {
        let geo = Geo {
            continent_code: self.string(&["source.geo.continent_code"]),
            continent_name: self.string(&["source.geo.continent_name"]),
            country_iso_code: self.string(&["source.geo.country_iso_code"]),
            country_name: self.string(&["source.geo.country_name"]),
            region_iso_code: self.string(&["source.geo.region_iso_code"]),
            region_name: self.string(&["source.geo.region_name"]),
            city_name: self.string(&["source.geo.city_name"]),
            postal_code: self.string(&["source.geo.postal_code"]),
            timezone: self.string(&["source.geo.timezone"]),
            location: self.location(),
        };
        (geo != Geo::default()).then_some(geo)
    }

    /// A `geo_point` in any of the shapes OpenSearch accepts for one (object, `[lon, lat]`, `"lat,lon"`),
    /// or dotted `location.lat` / `location.lon` numbers.
    fn location(&mut self) -> Option<GeoPoint> {
        const PATH: &str = "source.geo.location";
        let point = match lookup(&self.0, PATH) {
            Some(Value::Object(o)) => {
                match (o.get("lat").and_then(Value::as_f64), o.get("lon").and_then(Value::as_f64)) {
                    (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
                    _ => None,
                }
            }
            Some(Value::Array(a)) => match a.as_slice() {
                [lon, lat] => lon.as_f64().zip(lat.as_f64()).map(|(lon, lat)| GeoPoint { lat, lon }),
                _ => None,
            },
            Some(Value::String(s)) => s
                .split_once(',')
                .and_then(|(lat, lon)| Some(GeoPoint { lat: lat.trim().parse().ok()?, lon: lon.trim().parse().ok()? })),
            _ => None,
        };
        if point.is_some() {
            remove(&mut self.0, PATH);
            return point;
        }
        let lat = lookup(&self.0, "source.geo.location.lat").and_then(Value::as_f64);
        let lon = lookup(&self.0, "source.geo.location.lon").and_then(Value::as_f64);
        let (lat, lon) = lat.zip(lon)?;
        remove(&mut self.0, "source.geo.location.lat");
        remove(&mut self.0, "source.geo.location.lon");
        Some(GeoPoint { lat, lon })
    }

    fn autonomous_system(&mut self) -> Option<AutonomousSystem> {
        let number = match lookup(&self.0, "source.as.number") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        if number.is_some() {
            remove(&mut self.0, "source.as.number");
        }
        let organization = self.string(&["source.as.organization.name"]).map(|name| Organization { name: Some(name) });
        (number.is_some() || organization.is_some()).then_some(AutonomousSystem { number, organization })
    }

    /// `firesight.*` of a record that went through firesight before (a re-ingested export): the derived
    /// fields are recomputed, the others kept.
    fn firesight(&mut self, doc: &mut LogDocument) {
        for derived in ["firesight.status_class", "firesight.referrer_host", "firesight.record_format"] {
            remove(&mut self.0, derived);
        }
        if let Some(Value::Bool(bot)) = lookup(&self.0, "firesight.bot") {
            doc.firesight.bot = Some(*bot);
            remove(&mut self.0, "firesight.bot");
        }
        doc.firesight.visitor = self.string(&["firesight.visitor"]);
        if doc.firesight.forwarded_for.is_empty()
            && let Some(Value::Array(items)) = lookup(&self.0, "firesight.forwarded_for")
            && items.iter().all(Value::is_string)
        {
            doc.firesight.forwarded_for = items.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            remove(&mut self.0, "firesight.forwarded_for");
        }
    }
}

/// The value at an ECS path, trying the dotted key itself and every way of nesting it.
fn lookup<'m>(map: &'m Map<String, Value>, path: &str) -> Option<&'m Value> {
    if let Some(value) = map.get(path) {
        return Some(value);
    }
    for (dot, _) in path.match_indices('.') {
        let (Some(head), Some(rest)) = (path.get(..dot), path.get(dot + 1..)) else {
            continue;
        };
        if let Some(Value::Object(inner)) = map.get(head)
            && let Some(value) = lookup(inner, rest)
        {
            return Some(value);
        }
    }
    None
}

/// Removes the value at an ECS path (see [`lookup`]), and objects it leaves empty.
fn remove(map: &mut Map<String, Value>, path: &str) -> Option<Value> {
    if let Some(value) = map.remove(path) {
        return Some(value);
    }
    for (dot, _) in path.match_indices('.') {
        let (Some(head), Some(rest)) = (path.get(..dot), path.get(dot + 1..)) else {
            continue;
        };
        if let Some(Value::Object(inner)) = map.get_mut(head)
            && let Some(value) = remove(inner, rest)
        {
            if inner.is_empty() {
                map.remove(head);
            }
            return Some(value);
        }
    }
    None
}

/// Top-level names of [`LogDocument`]'s own fields: `extra` is flattened next to them, so a leftover
/// under one of these names would be written twice into the same JSON object.
const DOCUMENT_FIELDS: &[&str] =
    &["@timestamp", "event", "source", "destination", "user", "http", "url", "user_agent", "firesight", "firehose"];

/// What remains of a record after mapping. Leftovers under a document field's name move to dotted
/// keys (`source.foo`), which OpenSearch reads as the same path; a scalar there (a Lambda's
/// `"source": "cloudfront"`) is kept as `source_value`.
fn into_extra(map: Map<String, Value>) -> Map<String, Value> {
    let mut extra = Map::new();
    for (key, value) in map {
        if !DOCUMENT_FIELDS.contains(&key.as_str()) {
            extra.insert(key, value);
            continue;
        }
        match value {
            Value::Object(inner) => flatten_into(&mut extra, &key, inner),
            other => {
                extra.insert(format!("{key}_value"), other);
            }
        }
    }
    extra
}

fn flatten_into(extra: &mut Map<String, Value>, prefix: &str, object: Map<String, Value>) {
    for (key, value) in object {
        let path = format!("{prefix}.{key}");
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten_into(extra, &path, inner),
            other => {
                extra.insert(path, other);
            }
        }
    }
}
