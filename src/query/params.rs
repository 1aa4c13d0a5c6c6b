//! The query language's values as written in a request: times (`now-24h` or RFC 3339) and ranges,
//! bucket widths, status codes and classes, client addresses and dimension names. Pure functions; the
//! HTTP edge (`crate::http::params`) declares which parameter holds which and names it in errors.
//! Relative times resolve against a clock aligned to the configured granularity, so equal dashboards
//! opened seconds apart ask (and cache) the same query.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;

use super::model::{Dimension, StatusFilter, TimeRange};
use crate::duration;

/// A refused parameter: its name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct ParamError {
    pub param: String,
    pub reason: String,
}

pub fn err(param: &str, reason: impl Into<String>) -> ParamError {
    ParamError { param: param.to_owned(), reason: reason.into() }
}

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

/// `from` and `to`: defaults, relative times, and the longest span.
pub fn range(from: Option<&str>, to: Option<&str>, resolve: &Resolve) -> Result<TimeRange, ParamError> {
    let to = match to {
        None => resolve.aligned_now(),
        Some(v) => time("to", v, resolve)?,
    };
    let from = match from {
        None => to - resolve.default_span,
        Some(v) => time("from", v, resolve)?,
    };
    if from >= to {
        return Err(err("from", "must be before `to`"));
    }
    if to - from > resolve.max_span {
        return Err(err("from", format!("the range may span at most {} days", resolve.max_span.num_days())));
    }
    Ok(TimeRange { from, to })
}

/// A status code (`404`) or class (`4xx`).
pub fn status(param: &str, v: &str) -> Result<StatusFilter, ParamError> {
    let bad = || err(param, "must be a status code (100-599) or a class such as 4xx");
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

/// An address (a /32 or /128) or a CIDR block, truncated to its network. An IPv4-mapped IPv6 block
/// (`::ffff:10.0.0.0/104`) becomes the IPv4 block it names (`10.0.0.0/8`): the stores keep IPv4
/// addresses as IPv4, and OpenSearch refuses CIDR notation on a mapped address as ambiguous.
pub fn client_ip(param: &str, v: &str) -> Result<IpNet, ParamError> {
    let net = match v.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => v
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| err(param, "must be an IP address or a CIDR block such as 10.0.0.0/8"))?,
    };
    Ok(unmapped(net))
}

fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

/// RFC 3339, `now`, or `now-<n><unit>` with unit `s`, `m`, `h`, `d`, `w`.
fn time(param: &str, v: &str, resolve: &Resolve) -> Result<DateTime<Utc>, ParamError> {
    let bad = || err(param, crate::forms::TIME.message);
    if !crate::forms::TIME.matches(v) {
        return Err(bad());
    }
    if let Some(rest) = v.strip_prefix("now") {
        let now = resolve.aligned_now();
        if rest.is_empty() {
            return Ok(now);
        }
        let ago = rest.strip_prefix('-').and_then(|d| duration::parse(d, duration::UP_TO_WEEKS)).ok_or_else(bad)?;
        if ago.as_secs() > 100 * 365 * 86_400 {
            return Err(bad());
        }
        return Ok(now - Duration::seconds(ago.as_secs() as i64));
    }
    DateTime::parse_from_rfc3339(v).map(|t| t.to_utc()).map_err(|_| bad())
}

/// `interval`: `auto` (or absent) or a width like `30s`, `5m`, `1h`, `1d` → seconds. `auto` picks a
/// round width giving at most ~`target` buckets.
pub fn interval(value: Option<&str>, range: &TimeRange, target: u64, max_buckets: u64) -> Result<u64, ParamError> {
    let span = range.span().num_seconds().max(1) as u64;
    let secs = match value {
        None | Some("auto") => {
            const ROUND: [u64; 14] =
                [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400];
            ROUND.into_iter().find(|w| span / w <= target).unwrap_or(7 * 86_400)
        }
        Some(v) => {
            let bad = || err("interval", "must be auto or a width like 30s, 5m, 1h, 1d");
            let secs =
                duration::parse(v, duration::UP_TO_DAYS).map(|d| d.as_secs()).filter(|s| *s > 0).ok_or_else(bad)?;
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

/// A fixed clock for tests: 2026-11-26T10:00:07Z, aligned to 10 s, ranges up to 366 days.
#[cfg(test)]
pub(crate) fn test_resolve() -> Resolve {
    Resolve {
        now: DateTime::parse_from_rfc3339("2026-11-26T10:00:07Z").unwrap().to_utc(),
        align_secs: 10,
        max_span: Duration::days(366),
        default_span: Duration::hours(24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve() -> Resolve {
        test_resolve()
    }

    #[test]
    fn defaults_to_the_last_24_hours_aligned() {
        let r = range(None, None, &resolve()).unwrap();
        assert_eq!(r.to.to_rfc3339(), "2026-11-26T10:00:10+00:00");
        assert_eq!(r.from.to_rfc3339(), "2026-11-25T10:00:10+00:00");
    }

    #[test]
    fn relative_and_absolute_times() {
        let r = range(Some("now-15m"), Some("now"), &resolve()).unwrap();
        assert_eq!(r.span(), Duration::minutes(15));
        let r = range(Some("2026-11-01T00:00:00Z"), Some("2026-11-02T00:00:00+01:00"), &resolve()).unwrap();
        assert_eq!(r.to.to_rfc3339(), "2026-11-01T23:00:00+00:00");
        assert_eq!(range(Some("yesterday"), None, &resolve()).unwrap_err().param, "from");
        assert_eq!(range(Some("now-2y"), None, &resolve()).unwrap_err().param, "from");
        assert_eq!(range(Some("now-1h"), Some("now-2h"), &resolve()).unwrap_err().param, "from");
        assert!(range(Some("now-400d"), None, &resolve()).unwrap_err().reason.contains("366 days"));
        assert_eq!(range(Some("now-2w"), None, &resolve()).unwrap().span(), Duration::weeks(2));
    }

    #[test]
    fn intervals_are_bounded() {
        let range = TimeRange { from: resolve().now - Duration::hours(24), to: resolve().now };
        assert_eq!(interval(Some("1h"), &range, 100, 2000).unwrap(), 3600);
        assert_eq!(interval(None, &range, 100, 2000).unwrap(), 1800);
        assert!(interval(Some("1s"), &range, 100, 2000).unwrap_err().reason.contains("86400 buckets"));
        assert!(interval(Some("0m"), &range, 100, 2000).is_err());
        assert!(interval(Some("1w"), &range, 100, 2000).is_err());
    }

    #[test]
    fn mapped_ipv4_blocks_become_ipv4() {
        let ip = |v| client_ip("client_ip", v).unwrap().to_string();
        assert_eq!(ip("::ffff:107.250.244.0/126"), "107.250.244.0/30");
        assert_eq!(ip("::ffff:66.249.73.7/120"), "66.249.73.0/24");
        assert_eq!(ip("::ffff:0:0/96"), "0.0.0.0/0");
        assert_eq!(ip("::ffff:83.149.9.216"), "83.149.9.216/32");
        // Wider than the mapped range, or not mapped at all: left as IPv6.
        assert_eq!(ip("::ffff:0:0/95"), "::fffe:0:0/95");
        assert_eq!(ip("::195.253.144.215"), "::c3fd:90d7/128");
        assert_eq!(ip("2001:db8::1/32"), "2001:db8::/32");
    }
}
