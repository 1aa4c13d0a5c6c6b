//! Configured log formats (`FIRESIGHT_PARSE__LOG_FORMAT`): a preset name, or a format string in the
//! server's own language, compiled once into a matcher.
//!
//! The language is told by its sigils: nginx `log_format` variables start with `$`, Apache `LogFormat`
//! directives with `%`; when a string has both, the one whose first variable comes first wins.
//! A bare word is a preset ([`PRESETS`]); `auto` is no format at all (the auto-detection of
//! [`super::parse_line`]).
//!
//! A compiled format is the literal text before the first variable, then one step per variable: the
//! variable and the literal that follows it. Matching walks the line once: each variable ends where its
//! following literal is found (`memchr` for its first byte); a variable between quotes (`"$request"`)
//! ends at the first closing quote not escaped with `\` that is followed by the rest of that literal,
//! as the hand-written scanner reads quoted fields; the last variable runs to where the format's
//! trailing literal ends the line. A line that does not have the format's literals where the format
//! puts them is a [`ParseError::Mismatch`]; there is no fallback to auto-detection (a source with
//! several formats gets one per source, or `auto`).
//!
//! What each variable fills is listed in the README ("Log formats"); variables firesight has no field
//! for are kept in the document under their own name (nginx's, without the `$`; for Apache, the
//! nginx name of the same value: `%{X-Request-Id}i` is `http_x_request_id`).

mod error;
mod matcher;
mod presets;
mod syntax;
mod values;

pub use error::FormatError;
pub use presets::PRESETS;

use std::collections::HashMap;
use std::sync::Arc;

use self::syntax::{Piece, Step};
use self::values::Captured;
use super::ParseError;
use crate::document::LogDocument;

/// A log format compiled into a matcher.
#[derive(Debug, Clone)]
pub struct LogFormat {
    /// `firesight.record_format` of its documents.
    label: &'static str,
    /// The setting as given.
    spec: String,
    head: Box<str>,
    steps: Box<[Step]>,
}

impl LogFormat {
    /// A setting's format: `None` for `auto` (or an empty setting).
    ///
    /// # Errors
    ///
    /// As [`LogFormat::compile`].
    pub fn from_setting(spec: &str) -> Result<Option<LogFormat>, FormatError> {
        match spec.trim() {
            "" | "auto" => Ok(None),
            _ => Self::compile(spec).map(Some),
        }
    }

    /// Compiles a preset name or a format string.
    ///
    /// # Errors
    ///
    /// A [`FormatError`] for an unknown preset, a string without variables, two variables with nothing
    /// between them, or an unclosed `${`/`%{`.
    pub fn compile(spec: &str) -> Result<LogFormat, FormatError> {
        let trimmed = spec.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let (name, text) = presets::PRESETS
                .iter()
                .find(|(name, _)| *name == trimmed)
                .ok_or_else(|| FormatError::UnknownPreset(trimmed.to_owned()))?;
            let mut format = Self::compile(text)?;
            format.label = name;
            format.spec = spec.to_owned();
            return Ok(format);
        }
        let (pieces, label) = match (first_nginx_var(spec), first_apache_directive(spec)) {
            (Some(n), Some(a)) if a < n => (syntax::apache(spec)?, "apache_log_format"),
            (Some(_), _) => (syntax::nginx(spec)?, "nginx_log_format"),
            (None, Some(_)) => (syntax::apache(spec)?, "apache_log_format"),
            (None, None) => return Err(FormatError::NoVariables),
        };
        Self::from_pieces(pieces, label, spec)
    }

    fn from_pieces(pieces: Vec<Piece>, label: &'static str, spec: &str) -> Result<LogFormat, FormatError> {
        let mut head = String::new();
        let mut steps: Vec<Step> = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Literal(text) => match steps.last_mut() {
                    Some(step) => {
                        let mut until = std::mem::take(&mut step.until).into_string();
                        until.push_str(&text);
                        step.until = until.into();
                    }
                    None => head.push_str(&text),
                },
                Piece::Var(var) => {
                    if let Some(previous) = steps.last().filter(|s| s.until.is_empty()) {
                        return Err(FormatError::Adjacent(format!("{:?}", previous.var), format!("{var:?}")));
                    }
                    steps.push(Step { var, until: "".into(), quoted: false });
                }
            }
        }
        if steps.is_empty() {
            return Err(FormatError::NoVariables);
        }
        for i in 0..steps.len() {
            let before: &str = if i == 0 { &head } else { &steps[i - 1].until };
            let quoted = before.ends_with('"') && steps[i].until.starts_with('"');
            steps[i].quoted = quoted;
        }
        Ok(LogFormat { label, spec: spec.to_owned(), head: head.into(), steps: steps.into() })
    }

    /// The label its documents carry in `firesight.record_format`.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The setting it was compiled from.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Parses one line written in this format.
    ///
    /// # Errors
    ///
    /// A [`ParseError`]: [`ParseError::Mismatch`] when the line does not follow the format, the
    /// field's own error when a value cannot be read (a status that is not a number, ...).
    pub fn parse(&self, line: &str) -> Result<LogDocument, ParseError> {
        let line = super::error::trim_line_end(line);
        let mut captured = Captured::default();
        self.capture(line, &mut captured)?;
        Ok(captured.into_document(self.label, &self.steps, line.to_owned()))
    }

    /// [`LogFormat::parse`] keeping `line` as `event.original` without a copy.
    pub(crate) fn parse_owned(&self, mut line: String) -> Result<LogDocument, (ParseError, String)> {
        let len = super::error::trim_line_end(&line).len();
        line.truncate(len);
        let mut captured = Captured::default();
        match self.capture(&line, &mut captured) {
            Ok(()) => {
                let mut doc = captured.into_document(self.label, &self.steps, String::new());
                doc.event.original = line;
                Ok(doc)
            }
            Err(e) => Err((e, line)),
        }
    }
}

fn first_nginx_var(spec: &str) -> Option<usize> {
    let b = spec.as_bytes();
    memchr::memchr_iter(b'$', b)
        .find(|&i| b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'_' | b'{')))
}

fn first_apache_directive(spec: &str) -> Option<usize> {
    let b = spec.as_bytes();
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'%', b.get(i..)?).map(|at| at + i) {
        match b.get(at + 1) {
            Some(b'%') => i = at + 2,
            Some(c) if c.is_ascii_alphabetic() || matches!(c, b'{' | b'<' | b'>' | b'!' | b'0'..=b'9' | b'^') => {
                return Some(at);
            }
            _ => i = at + 1,
        }
    }
    None
}

/// The formats of a deployment: one for every source without its own, and one per source, keyed by
/// Firehose delivery stream or Kinesis data stream (ARN or name). `None` is auto-detection.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    default: Option<Arc<LogFormat>>,
    sources: HashMap<String, Option<Arc<LogFormat>>>,
}

impl Formats {
    /// The formats of the settings: the default and `(source, format)` pairs.
    ///
    /// # Errors
    ///
    /// The first setting that does not compile, with its key (`log_format` or the source).
    pub fn from_settings<'a>(
        default: Option<&str>,
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Formats, (String, FormatError)> {
        let default = match default {
            Some(spec) => LogFormat::from_setting(spec).map_err(|e| ("log_format".to_owned(), e))?.map(Arc::new),
            None => None,
        };
        let mut map = HashMap::new();
        for (source, spec) in sources {
            let format = LogFormat::from_setting(spec).map_err(|e| (source.to_owned(), e))?;
            map.insert(source.to_owned(), format.map(Arc::new));
        }
        Ok(Formats { default, sources: map })
    }

    /// One format for every source.
    pub fn single(format: Option<LogFormat>) -> Formats {
        Formats { default: format.map(Arc::new), sources: HashMap::new() }
    }

    /// The format for every source without its own.
    pub fn default_format(&self) -> Option<&Arc<LogFormat>> {
        self.default.as_ref()
    }

    /// The format of a source, by its ARN or name: the entry for the ARN, else for the name after the
    /// ARN's last `/` (`arn:aws:firehose:...:deliverystream/NAME`, `arn:aws:kinesis:...:stream/NAME`),
    /// else the default.
    pub fn for_source(&self, source: Option<&str>) -> Option<&Arc<LogFormat>> {
        let Some(source) = source.filter(|_| !self.sources.is_empty()) else { return self.default.as_ref() };
        let name = source.rsplit_once('/').map(|(_, name)| name);
        match self.sources.get(source).or_else(|| name.and_then(|n| self.sources.get(n))) {
            Some(format) => format.as_ref(),
            None => self.default.as_ref(),
        }
    }
}
