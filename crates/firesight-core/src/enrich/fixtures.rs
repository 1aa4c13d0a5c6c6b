//! Test-only access to the enrichment fixtures under `tests/fixtures/` (committed) and to the
//! GeoLite2-City database that `dev/fixtures.sh` downloads (not committed).

use std::path::{Path, PathBuf};

use super::GeoIp;

pub(crate) const GEOIP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/geoip");
pub(crate) const USER_AGENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/user_agents");

pub(crate) fn geoip_path(name: &str) -> PathBuf {
    PathBuf::from(GEOIP_DIR).join(name)
}

pub(crate) fn user_agents_path(name: &str) -> PathBuf {
    PathBuf::from(USER_AGENTS_DIR).join(name)
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The real GeoLite2-City 2019-12-24 database. A missing file fails the test rather than skipping
/// it: a skipped comparison would let a GeoIP regression through unnoticed.
pub(crate) fn geolite2_city() -> GeoIp {
    let path = std::env::var_os("FIRESIGHT_TEST_GEOLITE2_CITY").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.dev/fixtures/GeoLite2-City.mmdb"))
    });
    assert!(
        path.is_file(),
        "GeoLite2-City database not found at {}: run dev/fixtures.sh (or set \
         FIRESIGHT_TEST_GEOLITE2_CITY to the file)",
        path.display()
    );
    GeoIp::open(&path, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Rows of a CSV file with a header line, as maps from column name to value. Handles the RFC 4180
/// subset the fixtures use: quoted fields with commas and doubled quotes, no newlines inside quotes.
pub(crate) fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = split_csv_line(lines.next().expect("CSV has a header"));
    lines
        .map(|line| {
            let fields = split_csv_line(line);
            assert_eq!(fields.len(), header.len(), "CSV row has a wrong field count: {line}");
            header.iter().cloned().zip(fields).collect()
        })
        .collect()
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// `None` for an empty CSV or YAML value, the way the fixtures write "absent".
pub(crate) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[test]
fn csv_splits_quoted_fields() {
    assert_eq!(split_csv_line(r#"a,"b, c","d ""e""",,f"#), ["a", "b, c", r#"d "e""#, "", "f"]);
}
