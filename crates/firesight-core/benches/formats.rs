//! The compiled `combined` log format against the hand-written scanner, on the same lines: the real
//! 10,000-line Apache log (`tests/fixtures/access_logs/elastic_examples_apache_logs.log`), each line
//! parsed into a document (`event.original` copied by both), alternating rounds on one core.
//!
//! `cargo bench -p firesight-core --bench formats [ROUNDS]` prints lines/s of each and the ratio
//! (compiled / hand-written; the goal is at least 0.8).

use std::hint::black_box;
use std::time::{Duration, Instant};

use firesight_core::parse::{LogFormat, parse_line};

fn main() {
    let rounds: usize =
        std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(20);
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/access_logs/elastic_examples_apache_logs.log");
    let log = std::fs::read_to_string(path).expect("the real log");
    let lines: Vec<&str> = log.lines().collect();
    let combined = LogFormat::compile("combined").expect("the preset compiles");

    let scan = |lines: &[&str]| {
        let mut ok = 0usize;
        for line in lines {
            ok += usize::from(black_box(parse_line(black_box(line))).is_ok());
        }
        ok
    };
    let compiled = |lines: &[&str]| {
        let mut ok = 0usize;
        for line in lines {
            ok += usize::from(black_box(combined.parse(black_box(line))).is_ok());
        }
        ok
    };
    assert_eq!(scan(&lines), compiled(&lines), "both read the same lines");

    let (mut hand, mut format) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let started = Instant::now();
        black_box(scan(&lines));
        hand += started.elapsed();
        let started = Instant::now();
        black_box(compiled(&lines));
        format += started.elapsed();
    }
    let n = (lines.len() * rounds) as f64;
    let (hand_rate, format_rate) = (n / hand.as_secs_f64(), n / format.as_secs_f64());
    println!("hand-written combined scanner: {hand_rate:.0} lines/s");
    println!("compiled `combined` format:    {format_rate:.0} lines/s");
    println!(
        "ratio compiled / hand-written: {:.2}x ({rounds} rounds of {} lines)",
        format_rate / hand_rate,
        lines.len()
    );
}
