use std::net::IpAddr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use ipnet::IpNet;

use super::*;
use crate::duration::{UP_TO_DAYS, UP_TO_WEEKS};

fn anchored(body: &str) -> String {
    format!("^{body}$")
}

#[test]
fn integer_ranges_match_exactly_their_numbers() {
    for (lo, hi) in [(0, 0), (0, 9), (1, 7), (10, 604_800), (1, 10_080), (0, 168), (7, 1234), (99, 101), (1, 1_000_000)]
    {
        let pattern = anchored(&int_range(lo, hi));
        let top = (hi + 2_000).min(1_100_000);
        for n in 0..=top {
            assert_eq!(matches(&pattern, &n.to_string()), (lo..=hi).contains(&n), "{n} against {lo}..={hi}: {pattern}");
        }
        assert!(!matches(&pattern, &format!("0{lo}")), "no leading zero: {pattern}");
    }
}

#[test]
fn duration_patterns_admit_exactly_what_the_parser_reads_within_bounds() {
    for (min, max) in [(10, 7 * 86_400), (0, 7 * 86_400), (60, 366 * 86_400)] {
        let pattern = duration(min, max, UP_TO_DAYS);
        for unit in ["s", "m", "h", "d", "w", "x"] {
            for n in (0..700_000u64).step_by(97).chain(0..200) {
                let text = format!("{n}{unit}");
                let parsed = crate::duration::parse(&text, UP_TO_DAYS).map(|d| d.as_secs());
                let within = parsed.is_some_and(|s| (min..=max).contains(&s));
                assert_eq!(matches(&pattern, &text), within, "{text} in {min}..={max}");
            }
        }
    }
    assert!(!matches(&duration(10, 60, UP_TO_WEEKS), "1w"));
}

#[test]
fn the_time_form_admits_real_dates_only() {
    let mut day = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    while day.year() < 3000 {
        let text = format!("{}T00:00:00Z", day.format("%Y-%m-%d"));
        assert!(TIME.matches(&text), "{text}");
        day += Duration::days(if day.year() < 2101 { 1 } else { 13 });
    }
    for text in [
        "2026-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:60Z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",
        "now-",
        "now-1y",
        "now+1h",
        " now",
        "now-9999999999s",
    ] {
        assert!(!TIME.matches(text), "{text}");
    }
    for text in ["2000-02-29T10:00:00.123456789+05:30", "2024-02-29T00:00:00Z", "2999-12-31T23:59:59-23:59"] {
        assert!(TIME.matches(text), "{text}");
        DateTime::parse_from_rfc3339(text).unwrap();
    }
    for text in ["now", "now-0s", "now-999999999s", "now-9999999m", "now-99999h", "now-9999d", "now-999w"] {
        assert!(TIME.matches(text), "{text}");
    }
    // The furthest relative time stays after 1970 for decades.
    let furthest = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() - Duration::seconds(999_999_999);
    assert!(furthest.timestamp() > 0);
}

#[test]
fn the_client_ip_form_admits_what_the_address_parser_reads() {
    for text in [
        "10.0.0.1",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "255.255.255.255/32",
        "::",
        "::1",
        "::/0",
        "2001:db8::/32",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "1::8",
        "::ffff:10.0.0.1",
        "::ffff:0:10.0.0.1",
        "64:ff9b::192.0.2.1",
        "1:2:3:4:5:6:1.2.3.4",
        "fe80::1/128",
        "::10.0.0.1",
    ] {
        assert!(CLIENT_IP.matches(text), "{text}");
        let parsed = text.parse::<IpNet>().is_ok() || text.parse::<IpAddr>().is_ok();
        assert!(parsed, "the parser refuses {text}");
    }
    for text in ["256.0.0.1", "01.2.3.4", "10.0.0.0/33", "1:2:3:4:5:6:7:8:9", "::1/129", "fe80::1%eth0", "10.0.0", ""] {
        assert!(!CLIENT_IP.matches(text), "{text}");
    }
}

#[test]
fn the_webhook_url_form_admits_what_the_url_parser_reads_as_http() {
    for text in [
        "https://hooks.example.com/firesight",
        "http://10.0.0.5:8080/hook?x=1",
        "http://[::1]:9/",
        "http://localhost",
        "https://a-b.c0/p%20q/~x?y=z&w",
        "http://x:65535",
    ] {
        assert!(WEBHOOK_URL.matches(text), "{text}");
        let url = url::Url::parse(text).unwrap();
        assert!(url.host().is_some() && url.username().is_empty(), "{text}");
    }
    for text in [
        "ftp://x.org/",
        "http://user:pw@x.org/",
        "http://x.org:65536/",
        "http://999.1.1.1/",
        "http://x.123/",
        " http://x.org/",
        "http://x.org/ a",
        "http://-x.org/",
    ] {
        assert!(!WEBHOOK_URL.matches(text), "{text}");
    }
}
