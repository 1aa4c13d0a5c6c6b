//! The fixed data set every bench starts from: the real 10,000-line Apache log in `tests/fixtures`
//! and the GeoLite2-City database `dev/fixtures.sh` fetches.

use std::path::PathBuf;

/// The service's allocator (see `src/main.rs`), in every bench that measures the service.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub fn real_log() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/access_logs/elastic_examples_apache_logs.log");
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).lines().map(str::to_owned).collect()
}

pub fn geolite() -> PathBuf {
    let path = std::env::var_os("FIRESIGHT_TEST_GEOLITE2_CITY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.dev/fixtures/GeoLite2-City.mmdb")));
    assert!(path.is_file(), "run dev/fixtures.sh first ({} missing)", path.display());
    path
}

/// The process's peak resident memory so far (`VmHWM`), in MiB.
#[allow(dead_code)] // not every bench prints it
pub fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}
