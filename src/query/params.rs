//! Query-string parameters → the query model. Every parameter is checked: unknown names and bad values
//! are refused with the parameter's name and what it accepts, so a dashboard author sees their typo
//! instead of silently unfiltered numbers. Relative times (`now-24h`) resolve against a clock aligned to
//! the configured granularity, so equal dashboards opened seconds apart ask (and cache) the same query.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;

use super::model::{Dimension, Filters, Query, StatusFilter, TimeRange};

/// A refused parameter: its name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct ParamError {
    pub param: String,
    pub reason: String,
}

fn err(param: &str, reason: impl Into<String>) -> ParamError {
    ParamError { param: param.to_owned(), reason: reason.into() }
}

/// Names of the filter parameters every endpoint accepts.
pub const FILTER_PARAMS: [&str; 16] = [
    "from",
    "to",
    "status",
    "method",
    "path",
    "path_prefix",
    "country",
    "city",
    "browser",
    "os",
    "device",
    "bot",
    "client_ip",
    "referrer_host",
    "q",
    "compare",
];

/// Limits and clock for resolving parameters.
#[derive(Debug, Clone, Copy)]
pub struct Resolve {
    pub now: DateTime<Utc>,
    /// Relative times are aligned up to a multiple of this many seconds.
    pub align_secs: i64,
    /// Longest accepted range.
    pub max_span: Duration,
    /// Range when `from` is absent (ending at `to`).
    pub default_span: Duration,
}

impl Resolve {
    fn aligned_now(&self) -> DateTime<Utc> {
        let g = self.align_secs.max(1);
        let secs = self.now.timestamp();
        let up = if secs.rem_euclid(g) == 0 && self.now.timestamp_subsec_nanos() == 0 {
            secs
        } else {
            secs - secs.rem_euclid(g) + g
        };
        DateTime::from_timestamp(up, 0).unwrap_or(self.now)
    }
}

/// The raw `(name, value)` pairs of a query string, consumed as they are recognised.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Names the parsers asked for; every one is a literal of theirs.
    used: BTreeSet<&'static str>,
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs, used: BTreeSet::new() }
    }

    pub fn parse_query_string(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            .unwrap_or_default();
        Self::new(pairs)
    }

    /// Every value of a repeatable parameter; comma-separated values count as several.
    pub fn all(&mut self, name: &'static str) -> Vec<String> {
        self.used.insert(name);
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The single value of a parameter; repeating it is an error.
    pub fn one(&mut self, name: &'static str) -> Result<Option<String>, ParamError> {
        self.used.insert(name);
        let mut values = self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
        let first = values.next();
        if values.next().is_some() {
            return Err(err(name, "give it once"));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Fails on the first parameter no parser asked for, listing what this endpoint accepts.
    pub fn finish(&self) -> Result<(), ParamError> {
        if let Some((name, _)) = self.pairs.iter().find(|(k, _)| !self.used.contains(k.as_str())) {
            let allowed: Vec<&str> = self.used.iter().copied().collect();
            return Err(err(name, format!("unknown parameter; this endpoint accepts: {}", allowed.join(", "))));
        }
        Ok(())
    }

    pub fn u32_in(&mut self, name: &'static str, default: u32, min: u32, max: u32) -> Result<u32, ParamError> {
        match self.one(name)? {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(err(name, format!("must be an integer from {min} to {max}"))),
            },
        }
    }

    pub fn choice<'a>(&mut self, name: &'static str, allowed: &[&'a str]) -> Result<Option<&'a str>, ParamError> {
        match self.one(name)? {
            None => Ok(None),
            Some(v) => allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(&v))
                .copied()
                .map(Some)
                .ok_or_else(|| err(name, format!("must be one of: {}", allowed.join(", ")))),
        }
    }
}

/// Whether the request asks for the previous period beside the current one.
pub fn compare(params: &mut Params) -> Result<bool, ParamError> {
    Ok(params.choice("compare", &["previous_period"])?.is_some())
}

/// The time range and filters shared by every endpoint.
pub fn query(params: &mut Params, resolve: &Resolve) -> Result<Query, ParamError> {
    let range = range(params, resolve)?;
    let mut f = Filters::default();
    for v in params.all("status") {
        f.status.push(status(&v)?);
    }
    for v in params.all("method") {
        if v.len() > 16 || !v.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(err("method", "must be an HTTP method such as GET"));
        }
        f.method.push(v.to_ascii_uppercase());
    }
    f.path = bounded(params.all("path"), "path")?;
    f.path_prefix = params.one("path_prefix")?;
    for v in params.all("country") {
        if v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(err("country", "must be an ISO 3166-1 alpha-2 code such as DE"));
        }
        f.country.push(v.to_ascii_uppercase());
    }
    f.city = bounded(params.all("city"), "city")?;
    f.browser = bounded(params.all("browser"), "browser")?;
    f.os = bounded(params.all("os"), "os")?;
    f.device = bounded(params.all("device"), "device")?;
    f.bot = params.choice("bot", &["true", "false"])?.map(|v| v == "true");
    for v in params.all("client_ip") {
        f.client_ip.push(client_ip(&v)?);
    }
    f.referrer_host =
        bounded(params.all("referrer_host"), "referrer_host")?.into_iter().map(|h| h.to_ascii_lowercase()).collect();
    f.q = params.one("q")?;
    if f.q.as_ref().is_some_and(|q| q.len() > 256) {
        return Err(err("q", "at most 256 characters"));
    }
    f.normalise();
    Ok(Query { range, filters: f })
}

/// `from` and `to` alone: defaults, relative times, and the longest span.
pub fn range(params: &mut Params, resolve: &Resolve) -> Result<TimeRange, ParamError> {
    let to = match params.one("to")? {
        None => resolve.aligned_now(),
        Some(v) => time("to", &v, resolve)?,
    };
    let from = match params.one("from")? {
        None => to - resolve.default_span,
        Some(v) => time("from", &v, resolve)?,
    };
    if from >= to {
        return Err(err("from", "must be before `to`"));
    }
    if to - from > resolve.max_span {
        return Err(err("from", format!("the range may span at most {} days", resolve.max_span.num_days())));
    }
    Ok(TimeRange { from, to })
}

/// Caps the number of values per filter so one request cannot build an unbounded backend query.
pub fn bounded(values: Vec<String>, name: &str) -> Result<Vec<String>, ParamError> {
    const MAX_VALUES: usize = 100;
    if values.len() > MAX_VALUES {
        return Err(err(name, format!("at most {MAX_VALUES} values")));
    }
    if values.iter().any(|v| v.len() > 1024) {
        return Err(err(name, "values are at most 1024 characters"));
    }
    Ok(values)
}

fn status(v: &str) -> Result<StatusFilter, ParamError> {
    let bad = || err("status", "must be a status code (100-599) or a class such as 4xx");
    let lower = v.to_ascii_lowercase();
    if let Some(digit) = lower.strip_suffix("xx") {
        return match digit.parse::<u8>() {
            Ok(d @ 1..=5) => Ok(StatusFilter::Class(d)),
            _ => Err(bad()),
        };
    }
    match v.parse::<u16>() {
        Ok(code @ 100..=599) => Ok(StatusFilter::Code(code)),
        _ => Err(bad()),
    }
}

fn client_ip(v: &str) -> Result<IpNet, ParamError> {
    if let Ok(net) = v.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    v.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| err("client_ip", "must be an IP address or a CIDR block such as 10.0.0.0/8"))
}

/// RFC 3339, `now`, or `now-<n><unit>` with unit `s`, `m`, `h`, `d`, `w`.
fn time(param: &str, v: &str, resolve: &Resolve) -> Result<DateTime<Utc>, ParamError> {
    let bad =
        || err(param, "must be an RFC 3339 time (2026-11-25T10:00:00Z) or relative like now-24h (units s, m, h, d, w)");
    if let Some(rest) = v.strip_prefix("now") {
        let now = resolve.aligned_now();
        if rest.is_empty() {
            return Ok(now);
        }
        let rest = rest.strip_prefix('-').ok_or_else(bad)?;
        let (num, unit) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        let secs = n.checked_mul(unit_secs).filter(|s| *s <= 100 * 365 * 86_400).ok_or_else(bad)?;
        return Ok(now - Duration::seconds(secs));
    }
    DateTime::parse_from_rfc3339(v).map(|t| t.to_utc()).map_err(|_| bad())
}

/// `interval`: `auto` or a width like `30s`, `5m`, `1h`, `1d` → seconds. `auto` picks a round width
/// giving at most ~`target` buckets.
pub fn interval(params: &mut Params, range: &TimeRange, target: u64, max_buckets: u64) -> Result<u64, ParamError> {
    let span = range.span().num_seconds().max(1) as u64;
    let secs = match params.one("interval")?.as_deref() {
        None | Some("auto") => {
            const ROUND: [u64; 14] =
                [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400];
            ROUND.into_iter().find(|w| span / w <= target).unwrap_or(7 * 86_400)
        }
        Some(v) => {
            let bad = || err("interval", "must be auto or a width like 30s, 5m, 1h, 1d");
            let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let (num, unit) = v.split_at(split);
            let n: u64 = num.parse().map_err(|_| bad())?;
            let unit = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(bad()),
            };
            let secs = n.checked_mul(unit).filter(|s| *s > 0).ok_or_else(bad)?;
            if span.div_ceil(secs) > max_buckets {
                return Err(err(
                    "interval",
                    format!(
                        "gives {} buckets over this range; at most {max_buckets} (use a wider interval)",
                        span.div_ceil(secs)
                    ),
                ));
            }
            secs
        }
    };
    Ok(secs)
}

/// A dimension name, for error messages listing every valid one.
pub fn dimension(param: &str, v: &str) -> Result<Dimension, ParamError> {
    Dimension::parse(v).ok_or_else(|| {
        let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).collect();
        err(param, format!("must be one of: {}", names.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve() -> Resolve {
        Resolve {
            now: DateTime::parse_from_rfc3339("2026-11-26T10:00:07Z").unwrap().to_utc(),
            align_secs: 10,
            max_span: Duration::days(366),
            default_span: Duration::hours(24),
        }
    }

    fn parse(qs: &str) -> Result<Query, ParamError> {
        let mut p = Params::parse_query_string(Some(qs));
        let q = query(&mut p, &resolve())?;
        compare(&mut p)?;
        p.finish()?;
        Ok(q)
    }

    #[test]
    fn defaults_to_the_last_24_hours_aligned() {
        let q = parse("").unwrap();
        assert_eq!(q.range.to.to_rfc3339(), "2026-11-26T10:00:10+00:00");
        assert_eq!(q.range.from.to_rfc3339(), "2026-11-25T10:00:10+00:00");
    }

    #[test]
    fn relative_and_absolute_times() {
        let q = parse("from=now-15m&to=now").unwrap();
        assert_eq!(q.range.span(), Duration::minutes(15));
        let q = parse("from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00%2B01:00").unwrap();
        assert_eq!(q.range.to.to_rfc3339(), "2026-11-01T23:00:00+00:00");
        assert_eq!(parse("from=yesterday").unwrap_err().param, "from");
        assert_eq!(parse("from=now-2y").unwrap_err().param, "from");
        assert_eq!(parse("from=now-1h&to=now-2h").unwrap_err().param, "from");
        assert!(parse("from=now-400d").unwrap_err().reason.contains("366 days"));
    }

    #[test]
    fn filters_are_validated_and_normalised() {
        let q =
            parse("status=5xx&status=404,200&method=get&country=de&country=FR&client_ip=10.1.2.3/8&bot=false").unwrap();
        let f = &q.filters;
        assert_eq!(f.status, [StatusFilter::Code(200), StatusFilter::Code(404), StatusFilter::Class(5)]);
        assert_eq!(f.method, ["GET"]);
        assert_eq!(f.country, ["DE", "FR"]);
        assert_eq!(f.client_ip[0].to_string(), "10.0.0.0/8");
        assert_eq!(f.bot, Some(false));
        // Same filters in another order make the same query (one cache entry).
        assert_eq!(
            parse("country=FR&country=de&status=404&status=5xx,200&method=GET&client_ip=10.0.0.0/8&bot=false").unwrap(),
            q
        );
    }

    #[test]
    fn bad_values_name_the_parameter_and_what_it_accepts() {
        for (qs, param, hint) in [
            ("status=6xx", "status", "4xx"),
            ("status=abc", "status", "status code"),
            ("country=Germany", "country", "alpha-2"),
            ("client_ip=10.0.0.300", "client_ip", "CIDR"),
            ("bot=maybe", "bot", "true, false"),
            ("compare=last_year", "compare", "previous_period"),
            ("statuss=404", "statuss", "accepts: "),
            ("from=now-1h&from=now-2h", "from", "once"),
        ] {
            let e = parse(qs).unwrap_err();
            assert_eq!(e.param, param, "{qs}");
            assert!(e.reason.contains(hint), "{qs}: {}", e.reason);
        }
    }

    #[test]
    fn intervals_are_bounded() {
        let range = TimeRange { from: resolve().now - Duration::hours(24), to: resolve().now };
        let mut p = Params::parse_query_string(Some("interval=1h"));
        assert_eq!(interval(&mut p, &range, 100, 2000).unwrap(), 3600);
        let mut p = Params::parse_query_string(Some(""));
        assert_eq!(interval(&mut p, &range, 100, 2000).unwrap(), 1800);
        let mut p = Params::parse_query_string(Some("interval=1s"));
        assert!(interval(&mut p, &range, 100, 2000).unwrap_err().reason.contains("86400 buckets"));
        let mut p = Params::parse_query_string(Some("interval=0m"));
        assert!(interval(&mut p, &range, 100, 2000).is_err());
    }
}
