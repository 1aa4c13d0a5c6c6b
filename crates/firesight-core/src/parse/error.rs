//! What can go wrong parsing a record, and the helpers that quote the offending text in the reason.

/// Why a record could not be parsed. The `Display` text is meant for people (it becomes the `reason` of
/// a dead-letter document); [`ParseError::code`] is a stable label for metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    /// A quoted field (`request`, `referrer`, `user agent`) or the `[timestamp]` never closes: the line
    /// was cut short.
    #[error("unterminated {}", unterminated_text(.0))]
    Unterminated(&'static str),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Malformed(&'static str),
    #[error("bad timestamp '{0}'")]
    BadTimestamp(String),
    #[error("status is not a number: '{0}'")]
    BadStatus(String),
    #[error("response size is not a number: '{0}'")]
    BadBytes(String),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("no timestamp field")]
    NoTimestamp,
    #[error("field '{field}' {problem}")]
    BadField { field: String, problem: &'static str },
    /// The line is not written in the configured log format: `expected` is the format's text that
    /// should come next, `found` the line's text there.
    #[error("does not match the log format: expected '{expected}' at '{found}'")]
    Mismatch { expected: String, found: String },
}

fn unterminated_text(field: &str) -> String {
    if field == "timestamp" { "timestamp (no closing ']')".to_owned() } else { format!("quoted {field}") }
}

impl ParseError {
    /// A short, stable label of the kind of failure, for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::Unterminated(_) => "unterminated",
            ParseError::Missing(_) => "missing_field",
            ParseError::Malformed(_) => "malformed",
            ParseError::BadTimestamp(_) | ParseError::NoTimestamp => "timestamp",
            ParseError::BadStatus(_) => "status",
            ParseError::BadBytes(_) => "bytes",
            ParseError::InvalidJson(_) => "json",
            ParseError::BadField { .. } => "field",
            ParseError::Mismatch { .. } => "format",
        }
    }
}

/// Drops the line terminator a record may still carry (`\n`, or `\r\n` from Windows-written logs).
pub(super) fn trim_line_end(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// A value quoted in an error, cut short so one bad line cannot make a huge dead-letter reason.
pub(super) fn snippet(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", value.get(..cut).unwrap_or_default()),
        None => value.to_owned(),
    }
}
