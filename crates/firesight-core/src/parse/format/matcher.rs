//! The compiled format run over a line: one left-to-right pass, each variable ending at the literal
//! that follows it, found with `memchr`; values are borrowed from the line.

use memchr::{memchr, memchr2};

use super::syntax::{UpstreamTime, Var};
use super::values::Captured;
use super::{LogFormat, Step};
use crate::parse::ParseError;
use crate::parse::error::snippet;

impl LogFormat {
    /// Splits a line into the format's values.
    pub(super) fn capture<'a>(&self, line: &'a str) -> Result<Captured<'a>, ParseError> {
        if line.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        if !line.starts_with(&*self.head) {
            return Err(mismatch(&self.head, line));
        }
        let b = line.as_bytes();
        let mut captured = Captured::default();
        let mut pos = self.head.len();
        let last = self.steps.len() - 1;
        for (i, step) in self.steps.iter().enumerate() {
            let end = if i == last { last_end(step, line, pos)? } else { step_end(step, b, pos)? };
            let value = line.get(pos..end).unwrap_or_default();
            captured.set(i, &step.var, value)?;
            pos = end + step.until.len();
        }
        Ok(captured)
    }
}

fn mismatch(expected: &str, found: &str) -> ParseError {
    ParseError::Mismatch { expected: snippet(expected), found: snippet(found) }
}

/// Where the last variable ends: where the format's trailing literal ends the line.
fn last_end(step: &Step, line: &str, pos: usize) -> Result<usize, ParseError> {
    let rest = line.get(pos..).unwrap_or_default();
    if !rest.ends_with(&*step.until) {
        let tail = line.len().saturating_sub(step.until.len()).max(pos);
        return Err(mismatch(&step.until, line.get(tail..).unwrap_or_default()));
    }
    let end = line.len() - step.until.len();
    if step.quoted {
        // A quoted value never holds an unescaped `" "`: that is one more field than the format has.
        let value = line.get(pos..end).unwrap_or_default().as_bytes();
        let mut at = 0;
        while let Some(found) = memchr2(b'"', b'\\', value.get(at..).unwrap_or_default()).map(|f| f + at) {
            if value.get(found) == Some(&b'\\') {
                at = found + 2;
                continue;
            }
            if matches!(value.get(found + 1), Some(b' ' | b'\t')) && value.get(found + 2) == Some(&b'"') {
                return Err(mismatch(&step.until, line.get(pos + found..).unwrap_or_default()));
            }
            at = found + 1;
        }
    }
    Ok(end)
}

/// Where a variable followed by more of the line ends.
fn step_end(step: &Step, b: &[u8], pos: usize) -> Result<usize, ParseError> {
    let until = step.until.as_bytes();
    let not_found = || mismatch(&step.until, std::str::from_utf8(b.get(pos..).unwrap_or_default()).unwrap_or_default());
    if step.quoted {
        return quoted_end(b, pos, until).ok_or_else(not_found);
    }
    let first = until[0];
    let mut from = match step.var {
        // `10/Oct/2000:13:55:36 -0700` holds one blank of its own.
        Var::TimeLocal if first == b' ' => {
            memchr(b' ', b.get(pos..).unwrap_or_default()).map_or(pos, |at| pos + at + 1)
        }
        _ => pos,
    };
    let list = matches!(step.var, Var::Upstream(_));
    loop {
        let at = from + memchr(first, b.get(from..).ok_or_else(not_found)?).ok_or_else(not_found)?;
        let here = b.get(at..).unwrap_or_default();
        if here.starts_with(until) {
            // An upstream list's own separators (`0.010, 0.020 : 0.030`) are not the end of it.
            let inside_list = list
                && first == b' '
                && (b.get(at.wrapping_sub(1)) == Some(&b',')
                    || here.starts_with(b" : ")
                    || (at >= 2 && b.get(at - 2..at) == Some(b" :")));
            if !inside_list {
                return Ok(at);
            }
        }
        from = at + 1;
    }
}

/// The end of a quoted value starting at `pos` (after its opening quote): the first `"` not escaped by
/// `\` at which `until` (which starts with that quote) is found.
fn quoted_end(b: &[u8], pos: usize, until: &[u8]) -> Option<usize> {
    let mut at = pos;
    loop {
        let found = at + memchr2(b'"', b'\\', b.get(at..)?)?;
        if b.get(found) == Some(&b'\\') {
            at = found + 2;
            continue;
        }
        if b.get(found..)?.starts_with(until) {
            return Some(found);
        }
        at = found + 1;
    }
}

/// The upstream kind's display name, for errors.
pub(super) fn upstream_name(kind: UpstreamTime) -> &'static str {
    match kind {
        UpstreamTime::Response => "upstream_response_time",
        UpstreamTime::Connect => "upstream_connect_time",
        UpstreamTime::Header => "upstream_header_time",
    }
}
