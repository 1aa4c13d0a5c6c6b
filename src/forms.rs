//! The forms of text values the API accepts, written once as regular expressions in the common subset of
//! ECMA-262, Python and Rust regex syntax: the OpenAPI document states them as `pattern`, and the server
//! checks the same expression before it parses. A client generated from the spec, or a fuzzer, therefore
//! never meets a value the spec allows and the server refuses, nor the reverse.
//!
//! Each form is exact, not merely plausible: the time pattern admits no 31 April and no 29 February of
//! a common year, the duration patterns admit exactly the whole numbers within their bounds.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use crate::duration::Unit;

/// A form: its pattern and what a refusal says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub pattern: &'static str,
    pub message: &'static str,
}

impl Form {
    pub fn matches(&self, value: &str) -> bool {
        compiled(self.pattern).is_match(value)
    }
}

/// Whether `value` matches `pattern` (compiled once per pattern for the life of the process).
pub fn matches(pattern: &str, value: &str) -> bool {
    compiled(pattern).is_match(value)
}

fn compiled(pattern: &str) -> Regex {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().expect("pattern cache poisoned");
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}")))
        .clone()
}

/// A point in time: RFC 3339 with a `T`, seconds, optional fraction and a `Z` or `±hh:mm` offset, years
/// 1970 to 2999, a real calendar date; or `now`, or `now-<n><unit>` reaching back at most about 30
/// years (units s, m, h, d, w).
pub const TIME: Form = Form {
    pattern: concat!(
        "^(now(-([0-9]{1,9}s|[0-9]{1,7}m|[0-9]{1,5}h|[0-9]{1,4}d|[0-9]{1,3}w))?|",
        "((19[7-9][0-9]|2[0-9]{3})-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])",
        "|(19[7-9][0-9]|2[0-9]{3})-(0[469]|11)-(0[1-9]|[12][0-9]|30)",
        "|(19[7-9][0-9]|2[0-9]{3})-02-(0[1-9]|1[0-9]|2[0-8])",
        "|(19(7[26]|8[048]|9[26])|2[0-9](0[48]|[2468][048]|[13579][26])|2[048]00)-02-29)",
        "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$",
    ),
    message: "must be an RFC 3339 time from 1970 to 2999 (2026-11-25T10:00:00Z) or relative like now-24h \
              (units s, m, h, d, w; at most about 30 years back)",
};

/// An IPv4 address, strictly: four decimal octets without leading zeros.
macro_rules! ipv4 {
    () => {
        "((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    };
}

/// An IPv6 address in any of its compressed forms, with or without an IPv4 tail.
macro_rules! ipv6 {
    () => {
        concat!(
            "(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
            "|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
            "|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
            "|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
            "|:((:[0-9a-fA-F]{1,4}){1,7}|:)|([0-9a-fA-F]{1,4}:){6}",
            ipv4!(),
            "|::(ffff(:0{1,4})?:)?",
            ipv4!(),
            "|([0-9a-fA-F]{1,4}:){1,4}:",
            ipv4!(),
            ")"
        )
    };
}

/// An IPv4 or IPv6 address, or either as a CIDR block.
pub const CLIENT_IP: Form = Form {
    pattern: concat!(
        "^(",
        ipv4!(),
        "(/([0-9]|[12][0-9]|3[0-2]))?|",
        ipv6!(),
        "(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?)$"
    ),
    message: "must be an IP address or a CIDR block such as 10.0.0.0/8",
};

/// The id of a live-tail event, sent back as `Last-Event-ID`: the sending process's epoch (8 lower-case
/// hex digits) and the event's sequence number.
pub const TAIL_EVENT_ID: Form = Form {
    pattern: "^[0-9a-f]{8}-[0-9]{1,19}$",
    message: "must be the id of an event a live tail sent, such as 3f9a0c1b-42",
};

/// A webhook target: `http` or `https`, a host name whose last label starts with a letter, an IPv4
/// address or a bracketed IPv6 address, an optional port, then a path and query of URL characters. No
/// credentials (no `@` before the path).
pub const WEBHOOK_URL: Form = Form {
    pattern: concat!(
        "^https?://(",
        "([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
        "|",
        ipv4!(),
        "|\\[",
        ipv6!(),
        "\\]",
        ")(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
        "(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$",
    ),
    message: "must be an absolute http or https URL without credentials, such as https://hooks.example.com/firesight",
};

/// Text with at least one character that is not ASCII white space (what is trimmed), and no NUL
/// (which PostgreSQL cannot store in text).
pub const NOT_BLANK: &str = "^[^\\x00]*[^\\t\\n\\f\\r \\x00][^\\x00]*$";
/// Any text without NUL.
pub const NO_NUL: &str = "^[^\\x00]*$";

/// A regular expression (without anchors) matching exactly the decimal numbers from `lo` to `hi`,
/// without leading zeros.
pub fn int_range(lo: u64, hi: u64) -> String {
    assert!(lo <= hi, "empty range {lo}..={hi}");
    let mut alternatives = Vec::new();
    let (lo_len, hi_len) = (digits(lo), digits(hi));
    for len in lo_len..=hi_len {
        let first = if len == 1 { 0 } else { 10u64.pow(len - 1) };
        let last = 10u64.pow(len) - 1;
        let (a, b) = (lo.max(first), hi.min(last));
        if a <= b {
            same_length(&a.to_string(), &b.to_string(), &mut alternatives, String::new());
        }
    }
    format!("({})", alternatives.join("|"))
}

fn digits(n: u64) -> u32 {
    n.checked_ilog10().unwrap_or(0) + 1
}

/// Appends to `out` the alternatives matching `prefix` followed by the numbers from `lo` to `hi`, which
/// have the same length.
fn same_length(lo: &str, hi: &str, out: &mut Vec<String>, prefix: String) {
    let n = lo.len();
    if n == 0 {
        out.push(prefix);
        return;
    }
    if lo.bytes().all(|c| c == b'0') && hi.bytes().all(|c| c == b'9') {
        out.push(format!("{prefix}[0-9]{{{n}}}"));
        return;
    }
    let (a, b) = (lo.as_bytes()[0] - b'0', hi.as_bytes()[0] - b'0');
    if a == b {
        same_length(&lo[1..], &hi[1..], out, format!("{prefix}{a}"));
        return;
    }
    let rest = n - 1;
    same_length(&lo[1..], &"9".repeat(rest), out, format!("{prefix}{a}"));
    if b - a > 1 {
        let middle = if b - a == 2 { format!("{}", a + 1) } else { format!("[{}-{}]", a + 1, b - 1) };
        out.push(if rest == 0 { format!("{prefix}{middle}") } else { format!("{prefix}{middle}[0-9]{{{rest}}}") });
    }
    same_length(&"0".repeat(rest), &hi[1..], out, format!("{prefix}{b}"));
}

/// The anchored pattern of a duration from `min_secs` to `max_secs` written as a whole number and one
/// of `units`: exactly the texts [`crate::duration::parse`] reads as a duration within the bounds.
pub fn duration(min_secs: u64, max_secs: u64, units: &[Unit]) -> String {
    let alternatives: Vec<String> = units
        .iter()
        .filter_map(|unit| {
            let secs = unit.secs();
            let (lo, hi) = (min_secs.div_ceil(secs), max_secs / secs);
            (lo <= hi).then(|| format!("{}{}", int_range(lo, hi), unit.suffix()))
        })
        .collect();
    format!("^({})$", alternatives.join("|"))
}

#[cfg(test)]
mod tests;
