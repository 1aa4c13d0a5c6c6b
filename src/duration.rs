//! Durations as people write them in configuration, rules and query strings: a whole number and one
//! unit, `30s`, `5m`, `2h`, `1d`, `1w`. The one parser every part of firesight uses; each caller
//! states which units and which bounds it accepts.

use std::time::Duration;

/// A unit of a written duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
}

impl Unit {
    fn of(suffix: &str) -> Option<Unit> {
        Some(match suffix {
            "s" => Unit::Second,
            "m" => Unit::Minute,
            "h" => Unit::Hour,
            "d" => Unit::Day,
            "w" => Unit::Week,
            _ => return None,
        })
    }

    /// How the unit is written.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Second => "s",
            Unit::Minute => "m",
            Unit::Hour => "h",
            Unit::Day => "d",
            Unit::Week => "w",
        }
    }

    pub fn secs(self) -> u64 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3600,
            Unit::Day => 86_400,
            Unit::Week => 7 * 86_400,
        }
    }
}

/// Units up to days: `s`, `m`, `h`, `d` (rules, retry schedules, bucket widths).
pub const UP_TO_DAYS: &[Unit] = &[Unit::Second, Unit::Minute, Unit::Hour, Unit::Day];
/// Units up to weeks: `s`, `m`, `h`, `d`, `w` (relative times such as `now-2w`).
pub const UP_TO_WEEKS: &[Unit] = &[Unit::Second, Unit::Minute, Unit::Hour, Unit::Day, Unit::Week];

/// Parses `<whole number><unit>` with one of `units`, surrounding spaces ignored; `None` for anything
/// else, a unit not in `units`, or a number of seconds that overflows.
pub fn parse(text: &str, units: &[Unit]) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit = Unit::of(suffix).filter(|u| units.contains(u))?;
    n.checked_mul(unit.secs()).map(Duration::from_secs)
}

/// The shortest spelling of a whole number of seconds, in units up to days: `300` is `5m`.
pub fn format(secs: u64) -> String {
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_numbers_with_one_allowed_unit() {
        assert_eq!(parse("30s", UP_TO_DAYS), Some(Duration::from_secs(30)));
        assert_eq!(parse(" 5m ", UP_TO_DAYS), Some(Duration::from_secs(300)));
        assert_eq!(parse("2h", UP_TO_DAYS), Some(Duration::from_secs(7200)));
        assert_eq!(parse("1d", UP_TO_DAYS), Some(Duration::from_secs(86_400)));
        assert_eq!(parse("0s", UP_TO_DAYS), Some(Duration::ZERO));
        assert_eq!(parse("1w", UP_TO_WEEKS), Some(Duration::from_secs(604_800)));
        for bad in [
            "1w",
            "5w",
            "99999999999999999999d",
            "",
            "s",
            "5",
            "-5m",
            "5 m",
            "1.5h",
            "5mm",
            "99999999999999999999s",
            "18446744073709551615m",
        ] {
            assert_eq!(parse(bad, UP_TO_DAYS), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_the_shortest_spelling_and_round_trips() {
        for (secs, text) in
            [(0, "0s"), (45, "45s"), (300, "5m"), (5400, "90m"), (7200, "2h"), (259_200, "3d"), (600, "10m")]
        {
            assert_eq!(format(secs), text);
            assert_eq!(parse(text, UP_TO_DAYS), Some(Duration::from_secs(secs)));
        }
    }
}
