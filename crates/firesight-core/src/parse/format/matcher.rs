//! The compiled format run over a line: one left-to-right pass, each variable ending at the literal
//! that follows it, found with `memchr`; values are borrowed from the line.

use memchr::{memchr, memchr2};

use super::LogFormat;
use super::syntax::{Step, Var};
use super::values::Captured;
use crate::parse::ParseError;
use crate::parse::error::snippet;

impl LogFormat {
    /// Splits a line into the format's values.
    pub(super) fn capture<'a>(&self, line: &'a str, captured: &mut Captured<'a>) -> Result<(), ParseError> {
        if line.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        let b = line.as_bytes();
        if !has_at(b, 0, self.head.as_bytes()) {
            return Err(mismatch(&self.head, line));
        }
        let mut pos = self.head.len();
        let last = self.steps.len() - 1;
        for (i, step) in self.steps.iter().enumerate() {
            let end = if i == last { last_end(step, line, pos)? } else { step_end(step, b, pos)? };
            let value = line.get(pos..end).unwrap_or_default();
            captured.set(i, &step.var, value)?;
            pos = end + step.until.len();
        }
        Ok(())
    }
}

/// Whether `literal` is at `at` in `b`. Literals between variables are a few bytes: a loop, not a
/// call to `memcmp`.
#[inline]
fn has_at(b: &[u8], at: usize, literal: &[u8]) -> bool {
    match b.get(at..at + literal.len()) {
        Some(here) => here.iter().zip(literal).all(|(x, y)| x == y),
        None => false,
    }
}

fn mismatch(expected: &str, found: &str) -> ParseError {
    ParseError::Mismatch { expected: snippet(expected), found: snippet(found) }
}

/// Where the last variable ends: where the format's trailing literal ends the line.
fn last_end(step: &Step, line: &str, pos: usize) -> Result<usize, ParseError> {
    let fits = line.len() >= pos + step.until.len();
    if !fits || !has_at(line.as_bytes(), line.len() - step.until.len(), step.until.as_bytes()) {
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
    let mut from = pos;
    if step.var == Var::TimeLocal {
        // `10/Oct/2000:13:55:36 -0700` is 26 bytes in every line nginx and Apache write; otherwise it
        // holds one blank of its own, which is not its end.
        if has_at(b, pos + CLF_LEN, until) {
            return Ok(pos + CLF_LEN);
        }
        if first == b' ' {
            from = memchr(b' ', b.get(pos..).unwrap_or_default()).map_or(pos, |at| pos + at + 1);
        }
    }
    let list = matches!(step.var, Var::Upstream(_));
    loop {
        // Unquoted values are a few bytes (an address, a status, a size): a plain loop beats memchr's
        // SIMD set-up there.
        let at = from + b.get(from..).ok_or_else(not_found)?.iter().position(|&c| c == first).ok_or_else(not_found)?;
        if has_at(b, at, until) {
            // An upstream list's own separators (`0.010, 0.020 : 0.030`) are not the end of it.
            let inside_list = list
                && first == b' '
                && (b.get(at.wrapping_sub(1)) == Some(&b',')
                    || has_at(b, at, b" : ")
                    || (at >= 2 && b.get(at - 2..at) == Some(b" :")));
            if !inside_list {
                return Ok(at);
            }
        }
        from = at + 1;
    }
}

/// Length of `dd/Mon/yyyy:HH:MM:SS +zzzz`.
const CLF_LEN: usize = 26;

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
        if has_at(b, found, until) {
            return Some(found);
        }
        at = found + 1;
    }
}
