//! Parser tests against real logs (copied under `tests/fixtures/access_logs/`, see its README) and
//! hand-written JSON records: the real Apache log line by line ([`real_log`]), the text-format edge
//! cases and errors ([`text`]), Kinesis Agent and Lambda JSON records ([`json`]), configured log
//! formats ([`format`]).

mod format;
mod json;
mod real_log;
mod text;

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/access_logs");

fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn elastic_log() -> String {
    fixture("elastic_examples_apache_logs.log")
}

/// The 1-based line `n` of the real log.
fn elastic_line(log: &str, n: usize) -> &str {
    log.lines().nth(n - 1).expect("line exists")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test timestamp").with_timezone(&Utc)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn parsed(line: &str) -> LogDocument {
    parse_line(line).unwrap_or_else(|e| panic!("{line:?} did not parse: {e}"))
}
