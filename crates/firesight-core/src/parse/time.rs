//! Timestamps of access-log records, turned into UTC: the Apache/Nginx `[10/Oct/2000:13:55:36 -0700]`
//! form of text lines and Kinesis Agent records, and the ISO-8601 / RFC 3339 / RFC 2822 strings and epoch
//! numbers that enrichment Lambdas write.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses the inside of the brackets of an Apache `%t` / Nginx `$time_local` field.
pub(crate) fn parse_clf(s: &str) -> Option<DateTime<Utc>> {
    // Every line carries one of these, so the fixed-width form avoids chrono's format interpreter;
    // anything else (a one-digit day, fractional seconds) falls through to the general parser.
    if let Some(t) = clf_fixed(s.as_bytes()) {
        return Some(t);
    }
    DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S%.f %z").ok().map(|t| t.with_timezone(&Utc))
}

/// `dd/Mon/yyyy:HH:MM:SS +zzzz`, exactly 26 bytes.
fn clf_fixed(b: &[u8]) -> Option<DateTime<Utc>> {
    let &[
        d0,
        d1,
        b'/',
        m0,
        m1,
        m2,
        b'/',
        y0,
        y1,
        y2,
        y3,
        b':',
        h0,
        h1,
        b':',
        n0,
        n1,
        b':',
        s0,
        s1,
        b' ',
        sign,
        oh0,
        oh1,
        om0,
        om1,
    ] = <&[u8; 26]>::try_from(b).ok()?
    else {
        return None;
    };
    let day = two_digits(d0, d1)?;
    let month = month_number([m0, m1, m2])?;
    let year = i64::from(two_digits(y0, y1)?) * 100 + i64::from(two_digits(y2, y3)?);
    let hour = two_digits(h0, h1)?;
    let minute = two_digits(n0, n1)?;
    let second = two_digits(s0, s1)?;
    let offset_hours = two_digits(oh0, oh1)?;
    let offset_minutes = two_digits(om0, om1)?;
    let sign: i64 = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if offset_hours > 23 || offset_minutes > 59 {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3_600
        + i64::from(minute) * 60
        + i64::from(second);
    let offset = sign * (i64::from(offset_hours) * 3_600 + i64::from(offset_minutes) * 60);
    DateTime::from_timestamp(local - offset, 0)
}

fn two_digits(a: u8, b: u8) -> Option<u32> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
}

fn month_number(name: [u8; 3]) -> Option<u32> {
    // Apache and Nginx always write `Oct`; the case folding only costs a few ORs and accepts `OCT`.
    Some(match [name[0] | 0x20, name[1] | 0x20, name[2] | 0x20] {
        [b'j', b'a', b'n'] => 1,
        [b'f', b'e', b'b'] => 2,
        [b'm', b'a', b'r'] => 3,
        [b'a', b'p', b'r'] => 4,
        [b'm', b'a', b'y'] => 5,
        [b'j', b'u', b'n'] => 6,
        [b'j', b'u', b'l'] => 7,
        [b'a', b'u', b'g'] => 8,
        [b's', b'e', b'p'] => 9,
        [b'o', b'c', b't'] => 10,
        [b'n', b'o', b'v'] => 11,
        [b'd', b'e', b'c'] => 12,
        _ => return None,
    })
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A timestamp string of a JSON record: RFC 3339 / ISO-8601 (a missing offset means UTC), the Apache
/// form, RFC 2822, or an epoch number written as a string.
pub(crate) fn parse_text_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(t) = parse_clf(s) {
        return Some(t);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(n) = s.parse::<i64>() {
        return epoch_integer(n);
    }
    s.parse::<f64>().ok().and_then(epoch_float)
}

// Epoch numbers come in seconds, milliseconds, microseconds or nanoseconds depending on the Lambda;
// the magnitude tells them apart for any date between 1973 and 5138. Smaller numbers are refused: no
// access log predates 1973, and a `time` field that small is a request duration, not a date.
const SECONDS_FROM: i64 = 100_000_000;
const MILLIS_FROM: i64 = 100_000_000_000;
const MICROS_FROM: i64 = 100_000_000_000_000;
const NANOS_FROM: i64 = 100_000_000_000_000_000;

/// An integer epoch timestamp in seconds, milliseconds, microseconds or nanoseconds.
pub(crate) fn epoch_integer(n: i64) -> Option<DateTime<Utc>> {
    let magnitude = n.unsigned_abs();
    if magnitude < SECONDS_FROM.unsigned_abs() {
        None
    } else if magnitude < MILLIS_FROM.unsigned_abs() {
        DateTime::from_timestamp(n, 0)
    } else if magnitude < MICROS_FROM.unsigned_abs() {
        DateTime::from_timestamp_millis(n)
    } else if magnitude < NANOS_FROM.unsigned_abs() {
        DateTime::from_timestamp_micros(n)
    } else {
        Some(DateTime::from_timestamp_nanos(n))
    }
}

/// A fractional epoch timestamp (`1431856703.25`), scaled like [`epoch_integer`].
pub(crate) fn epoch_float(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() {
        return None;
    }
    let magnitude = n.abs();
    if magnitude < SECONDS_FROM as f64 {
        return None;
    }
    let seconds = if magnitude < MILLIS_FROM as f64 {
        n
    } else if magnitude < MICROS_FROM as f64 {
        n / 1e3
    } else if magnitude < NANOS_FROM as f64 {
        n / 1e6
    } else {
        n / 1e9
    };
    let whole = seconds.floor();
    // Rounding to whole microseconds hides the binary representation error of the fraction.
    let micros = ((seconds - whole) * 1e6).round() as u32;
    DateTime::from_timestamp(whole as i64, 0)
        .and_then(|t| t.checked_add_signed(chrono::TimeDelta::microseconds(micros.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("test timestamp")
    }

    #[test]
    fn apache_timestamps_become_utc() {
        assert_eq!(parse_clf("10/Oct/2000:13:55:36 -0700"), Some(utc("2000-10-10T20:55:36Z")));
        assert_eq!(parse_clf("17/May/2015:10:05:03 +0000"), Some(utc("2015-05-17T10:05:03Z")));
        assert_eq!(parse_clf("07/Dec/2016:11:05:07 +0100"), Some(utc("2016-12-07T10:05:07Z")));
        assert_eq!(parse_clf("01/Jan/2020:00:30:00 +0545"), Some(utc("2019-12-31T18:45:00Z")));
        assert_eq!(parse_clf("31/Dec/1999:23:59:59 -1200"), Some(utc("2000-01-01T11:59:59Z")));
        assert_eq!(parse_clf("29/Feb/2016:12:00:00 +0000"), Some(utc("2016-02-29T12:00:00Z")));
        assert_eq!(parse_clf("01/Mar/1969:00:00:00 +0000"), Some(utc("1969-03-01T00:00:00Z")));
    }

    #[test]
    fn fixed_width_path_agrees_with_chrono_on_every_day() {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let mut checked = 0;
        for year in [1900, 1970, 1999, 2000, 2015, 2024, 2100, 2400] {
            for (m, name) in months.iter().enumerate() {
                for day in 1..=31 {
                    for (time, offset) in [("00:00:00", "+0000"), ("13:55:36", "-0700"), ("23:59:59", "+1400")] {
                        let s = format!("{day:02}/{name}/{year}:{time} {offset}");
                        let chrono =
                            DateTime::parse_from_str(&s, "%d/%b/%Y:%H:%M:%S %z").ok().map(|t| t.with_timezone(&Utc));
                        assert_eq!(clf_fixed(s.as_bytes()), chrono, "{s} (month {})", m + 1);
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 8 * 12 * 31 * 3);
    }

    #[test]
    fn unusual_apache_forms_use_the_general_parser() {
        assert_eq!(parse_clf("1/Oct/2000:13:55:36 -0700"), Some(utc("2000-10-01T20:55:36Z")));
        assert_eq!(parse_clf("10/Oct/2000:13:55:36.250 +0000"), Some(utc("2000-10-10T13:55:36.250Z")));
        assert_eq!(parse_clf("10/OCT/2000:13:55:36 +0000"), Some(utc("2000-10-10T13:55:36Z")));
    }

    #[test]
    fn impossible_apache_timestamps_are_refused() {
        for bad in [
            "",
            "30/Feb/2016:12:00:00 +0000",
            "29/Feb/2015:12:00:00 +0000",
            "00/Jan/2015:12:00:00 +0000",
            "10/Foo/2000:13:55:36 -0700",
            "10/Oct/2000:24:00:00 -0700",
            "10/Oct/2000:13:60:36 -0700",
            "10/Oct/2000:13:55:36 0700",
            "10/Oct/2000 13:55:36 -0700",
            "10/Oct/2000:13:55:36 -07000",
            "1x/Oct/2000:13:55:36 -0700",
        ] {
            assert_eq!(parse_clf(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn json_timestamp_strings() {
        let want = utc("2015-05-17T10:05:03Z");
        for s in [
            "2015-05-17T10:05:03Z",
            "2015-05-17T10:05:03+00:00",
            "2015-05-17T12:05:03+02:00",
            "2015-05-17T12:05:03+0200",
            "2015-05-17T10:05:03.000Z",
            "2015-05-17T10:05:03",
            "2015-05-17 10:05:03",
            "2015-05-17 10:05:03 +0000",
            "17/May/2015:10:05:03 +0000",
            "Sun, 17 May 2015 10:05:03 +0000",
            "1431857103",
            "1431857103000",
            " 1431857103 ",
        ] {
            assert_eq!(parse_text_timestamp(s), Some(want), "{s:?}");
        }
        assert_eq!(parse_text_timestamp("2015-05-17T10:05:03.123456Z"), Some(utc("2015-05-17T10:05:03.123456Z")));
        for bad in ["", "yesterday", "2015-13-01T00:00:00Z", "NaN", "inf"] {
            assert_eq!(parse_text_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epoch_numbers_of_every_unit() {
        let want = utc("2015-05-17T10:05:03Z");
        assert_eq!(epoch_integer(1_431_857_103), Some(want));
        assert_eq!(epoch_integer(1_431_857_103_000), Some(want));
        assert_eq!(epoch_integer(1_431_857_103_000_000), Some(want));
        assert_eq!(epoch_integer(1_431_857_103_000_000_000), Some(want));
        assert_eq!(epoch_float(1_431_857_103.25), Some(utc("2015-05-17T10:05:03.25Z")));
        assert_eq!(epoch_float(1_431_857_103_250.0), Some(utc("2015-05-17T10:05:03.25Z")));
        assert_eq!(epoch_float(f64::NAN), None);
        assert_eq!(epoch_float(0.123), None);
        assert_eq!(epoch_integer(0), None);
        assert_eq!(epoch_integer(-1_431_857_103), Some(utc("1924-08-17T13:54:57Z")));
    }
}
