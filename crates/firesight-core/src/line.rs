//! One line made an enriched document, the same way wherever it arrives (the Firehose endpoint, a
//! backfill, the transformation Lambda): parsed, given the record's own time when the line has none,
//! enriched, stamped with when it was ingested and its dataset.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::document::LogDocument;
use crate::enrich::Enricher;
use crate::parse::{LogFormat, ParseError};

/// The document of `text` (in `format`, or recognised when there is none), or why it cannot be
/// parsed (with the text back).
pub fn document(
    text: String,
    fallback_time: Option<DateTime<Utc>>,
    format: Option<&LogFormat>,
    enricher: &Enricher,
    now: DateTime<Utc>,
) -> Result<LogDocument, (ParseError, String)> {
    let mut doc = crate::parse::parse_owned_with(text, format)?;
    if let Some(time) = fallback_time.filter(|_| has_no_time(&doc)) {
        doc.timestamp = time;
    }
    enricher.enrich(&mut doc);
    doc.event.ingested = Some(now);
    doc.event.dataset.get_or_insert(Cow::Borrowed("firesight.access"));
    Ok(doc)
}

/// The parser leaves the epoch when a record had no time of its own.
fn has_no_time(doc: &LogDocument) -> bool {
    doc.timestamp.timestamp() == 0
}
