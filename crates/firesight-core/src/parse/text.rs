//! The Apache/Nginx text line scanner (combined and common log format, with the real-world prefixes
//! described in [`super::fields::client_part`]).
//!
//! This is the hot path of ingestion, so it is a single left-to-right pass over the bytes with
//! `memchr`, borrowing every field from the line; the only allocations are the document's own strings.

use memchr::{memchr, memchr_iter, memchr2};

use super::error::{ParseError, snippet, trim_line_end};
use super::record::Record;
use super::time;
use crate::document::LogDocument;

/// Parses one Apache/Nginx combined or common log line.
///
/// # Errors
///
/// A [`ParseError`] naming the first field that is missing, unterminated or unreadable.
pub fn parse_text_line(line: &str) -> Result<LogDocument, ParseError> {
    let line = trim_line_end(line);
    let record = scan(line.trim_start())?;
    Ok(record.into_document(line.to_owned()))
}

/// Splits a line into its fields without allocating.
pub(crate) fn scan(line: &str) -> Result<Record<'_>, ParseError> {
    let b = line.as_bytes();
    if line.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    // The timestamp's `[` is the anchor: everything before it is the variable-length client part.
    let open = memchr_iter(b'[', b)
        .find(|&i| i > 0 && matches!(b.get(i - 1), Some(b' ' | b'\t')))
        .ok_or(ParseError::Malformed("no [timestamp] found"))?;
    let head = line.get(..open).unwrap_or_default().trim_end();
    let (head, authuser) = split_last_token(head);
    let (client, _ident) = split_last_token(head);
    if client.is_empty() {
        return Err(ParseError::Malformed("expected 'client ident authuser' before the timestamp"));
    }

    let ts_start = open + 1;
    let ts_len = memchr(b']', b.get(ts_start..).unwrap_or_default()).ok_or(ParseError::Unterminated("timestamp"))?;
    let ts_text = line.get(ts_start..ts_start + ts_len).unwrap_or_default();
    let timestamp = time::parse_clf(ts_text).ok_or_else(|| ParseError::BadTimestamp(snippet(ts_text)))?;

    let mut pos = skip_blanks(b, ts_start + ts_len + 1);
    if b.get(pos) != Some(&b'"') {
        return Err(ParseError::Missing("quoted request after the timestamp"));
    }
    let (request, next) = quoted(line, pos, "request")?;

    pos = skip_blanks(b, next);
    let (status_text, next) = token(line, pos);
    if status_text.is_empty() {
        return Err(ParseError::Missing("status"));
    }
    let status = digits(status_text)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| ParseError::BadStatus(snippet(status_text)))?;

    pos = skip_blanks(b, next);
    let (bytes_text, next) = token(line, pos);
    let bytes = match bytes_text {
        "" => return Err(ParseError::Missing("response size")),
        "-" => 0,
        _ => digits(bytes_text).ok_or_else(|| ParseError::BadBytes(snippet(bytes_text)))?,
    };

    // Combined format adds two quoted fields; whatever follows them (Nginx's trailing
    // `"$http_x_forwarded_for"`, timings, cookies) is not interpreted, like Filebeat.
    pos = skip_blanks(b, next);
    let mut referrer = None;
    let mut user_agent = None;
    if b.get(pos) == Some(&b'"') {
        let (value, next) = quoted(line, pos, "referrer")?;
        referrer = Some(value);
        pos = skip_blanks(b, next);
        if b.get(pos) == Some(&b'"') {
            user_agent = Some(quoted(line, pos, "user agent")?.0);
        }
    }

    Ok(Record {
        client,
        authuser: Some(authuser),
        timestamp,
        request: Some(request),
        status: Some(status),
        bytes: Some(bytes),
        format: if referrer.is_some() { "combined" } else { "common" },
        referrer,
        user_agent,
    })
}

/// `("a b", "c")` for `"a b c"`; `("", "abc")` when there is one token.
fn split_last_token(s: &str) -> (&str, &str) {
    // `ident` and `authuser` are a few bytes: a plain loop beats memchr's SIMD set-up here.
    match s.bytes().rposition(|c| c == b' ' || c == b'\t') {
        Some(i) => (s.get(..i).unwrap_or_default().trim_end(), s.get(i + 1..).unwrap_or_default()),
        None => ("", s),
    }
}

fn skip_blanks(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    pos
}

/// The blank-delimited token at `pos` and the position after it.
fn token(line: &str, pos: usize) -> (&str, usize) {
    let rest = line.get(pos..).unwrap_or_default();
    // Status and size are a few digits: a plain loop beats memchr's SIMD set-up here.
    let len = rest.bytes().position(|c| c == b' ' || c == b'\t').unwrap_or(rest.len());
    (rest.get(..len).unwrap_or_default(), pos + len)
}

/// The inside of the quoted field starting at `open` (a `"`), as written, and the position after the
/// closing quote.
///
/// Apache writes `"` as `\"` and `\` as `\\`, so a backslash always skips the next byte. A quote that
/// is not followed by a blank or the end of the line is taken to be part of the value: some servers
/// write quotes inside the user agent without escaping them.
fn quoted<'a>(line: &'a str, open: usize, field: &'static str) -> Result<(&'a str, usize), ParseError> {
    let b = line.as_bytes();
    let mut pos = open + 1;
    loop {
        let rest = b.get(pos..).ok_or(ParseError::Unterminated(field))?;
        let found = pos + memchr2(b'"', b'\\', rest).ok_or(ParseError::Unterminated(field))?;
        if b.get(found) == Some(&b'\\') {
            pos = found + 2;
            continue;
        }
        if matches!(b.get(found + 1), None | Some(b' ' | b'\t')) {
            return Ok((line.get(open + 1..found).unwrap_or_default(), found + 1));
        }
        pos = found + 1;
    }
}

/// A non-empty run of ASCII digits (no sign, unlike `str::parse`).
pub(crate) fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, c| c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_handle_escapes() {
        let line = r#""a \"quoted\" ua" next"#;
        assert_eq!(quoted(line, 0, "user agent"), Ok((r#"a \"quoted\" ua"#, 17)));
        let line = r#""ends with backslash \\" x"#;
        assert_eq!(quoted(line, 0, "referrer").map(|(v, _)| v), Ok(r#"ends with backslash \\"#));
        let line = r#""Mozilla "compatible"; X" "next""#;
        assert_eq!(quoted(line, 0, "user agent").map(|(v, _)| v), Ok(r#"Mozilla "compatible"; X"#));
        assert_eq!(quoted(r#""""#, 0, "request"), Ok(("", 2)));
        assert_eq!(quoted(r#""open"#, 0, "user agent"), Err(ParseError::Unterminated("user agent")));
        assert_eq!(quoted(r#""open\"#, 0, "user agent"), Err(ParseError::Unterminated("user agent")));
        assert_eq!(quoted(r#"""#, 0, "request"), Err(ParseError::Unterminated("request")));
    }

    #[test]
    fn digit_runs() {
        assert_eq!(digits("0"), Some(0));
        assert_eq!(digits("203023"), Some(203_023));
        assert_eq!(digits("18446744073709551615"), None);
        for bad in ["", "-", "+200", "2x0", " 200", "1e3"] {
            assert_eq!(digits(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn field_scan_of_a_combined_line() {
        let line =
            r#"1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://x/" "UA 1.0""#;
        let r = scan(line).expect("parses");
        assert_eq!(r.client, "1.2.3.4");
        assert_eq!(r.authuser, Some("frank"));
        assert_eq!(r.request, Some("GET /a.gif HTTP/1.0"));
        assert_eq!((r.status, r.bytes), (Some(200), Some(2326)));
        assert_eq!((r.referrer, r.user_agent, r.format), (Some("http://x/"), Some("UA 1.0"), "combined"));
    }

    #[test]
    fn tabs_and_repeated_blanks_are_tolerated() {
        let line = "1.2.3.4 -  -  [10/Oct/2000:13:55:36 -0700]  \"GET / HTTP/1.0\"\t200  -   \"-\"  \"-\"  ";
        let r = scan(line).expect("parses");
        assert_eq!((r.client, r.authuser, r.status, r.bytes), ("1.2.3.4", Some("-"), Some(200), Some(0)));
        assert_eq!((r.referrer, r.user_agent), (Some("-"), Some("-")));
    }

    #[test]
    fn a_referrer_without_user_agent_is_still_combined() {
        let line = r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5 "http://x/""#;
        let r = scan(line).expect("parses");
        assert_eq!((r.referrer, r.user_agent, r.format), (Some("http://x/"), None, "combined"));
    }
}
