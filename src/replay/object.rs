//! One error object replayed: read as a stream (a reader task fills bounded chunks of lines while the
//! previous chunk is decoded, parsed and written), each failed record decoded ([`super::format`]),
//! its lines sent through the ingest core's parse, enrich, index and dead-letter path, and what became
//! of them counted per error code and per minute of `attemptEndingTimestamp`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use super::error::ReplayError;
use super::format::{self, FailureKind, ObjectName};
use super::s3::{ObjectInfo, S3, S3Error};
use crate::config::S3Config;
use crate::delivery_errors::recovered::{RecoveredCount, ReplayCounts};
use crate::document::FirehoseMeta;
use crate::enrich::Enricher;
use crate::ingest::{Ingestor, Prepared, SourceLine, ids, prepare_with};
use crate::parse::LogFormat;
use crate::store::FailedDelivery;

/// Lines of an object per chunk, and their bytes: what one blocking unit decodes and parses.
const CHUNK_LINES: usize = 5_000;
const CHUNK_BYTES: usize = 16 << 20;
/// How long one batch may wait for the log store (a replay resumes safely after it gives up).
const BATCH_DEADLINE: Duration = Duration::from_secs(300);
/// How much of an overlong or unreadable line the dead letter keeps.
const KEPT_BYTES: usize = 64 << 10;

/// Which records of an object a replay takes, by `attemptEndingTimestamp` (the arrival time when a
/// record has none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Range {
    fn contains(&self, t: Option<DateTime<Utc>>) -> bool {
        let Some(t) = t else { return true };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// What one object gave.
#[derive(Debug, Default)]
pub struct ObjectOutcome {
    /// Per Firehose error code.
    pub codes: BTreeMap<String, ReplayCounts>,
    /// Per stream, code and minute, for the incidents.
    pub recovered: Vec<RecoveredCount>,
    /// Records outside the time range.
    pub skipped_records: u64,
    /// The object held more than `max_records_per_object` lines; the rest was not read.
    pub truncated: bool,
}

/// One raw line of an object.
struct RawLine {
    number: u64,
    bytes: Vec<u8>,
    too_long: bool,
}

struct Chunk {
    lines: Vec<RawLine>,
    truncated: bool,
}

/// What a replay needs to read one object.
pub struct ObjectJob<'a> {
    pub s3: &'a S3,
    pub ingestor: &'a Ingestor,
    pub limits: &'a S3Config,
    pub bucket: &'a str,
    pub object: &'a ObjectInfo,
    pub name: &'a ObjectName,
    pub range: Range,
    pub dry_run: bool,
    pub progress: &'a ProgressBar,
}

impl ObjectJob<'_> {
    pub async fn run(&self) -> Result<ObjectOutcome, ReplayError> {
        let reader = self.s3.open(self.bucket, &self.object.key).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Chunk, S3Error>>(2);
        let (max_line, max_records) = (self.limits.max_line_bytes, self.limits.max_records_per_object);
        let reader_task = tokio::spawn(async move { read_chunks(reader, max_line, max_records, tx).await });
        let mut outcome = ObjectOutcome::default();
        let mut recovered: BTreeMap<(String, i64), RecoveredCount> = BTreeMap::new();
        let object = Arc::new(format!("s3://{}/{}", self.bucket, self.object.key));
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk?;
            outcome.truncated |= chunk.truncated;
            let read = chunk.lines.len() as u64;
            let context = Decode {
                kind: self.name.kind,
                object: object.clone(),
                range: self.range,
                enricher: self.ingestor.enricher.clone(),
                format: self.ingestor.formats.for_source(self.name.stream.as_deref()).cloned(),
            };
            let (groups, skipped) =
                tokio::task::spawn_blocking(move || context.chunk(chunk.lines)).await.expect("decoding does not panic");
            outcome.skipped_records += skipped;
            for group in groups {
                let mut counts = ReplayCounts { records: group.records, lines: group.lines, ..Default::default() };
                if self.dry_run {
                    counts.dead_lettered = group.prepared.dead.len() as u64;
                } else {
                    let mut prepared = group.prepared;
                    let mut present = 0;
                    if self.name.kind == FailureKind::OpenSearch && !prepared.docs.is_empty() {
                        // Firehose's own attempt may have indexed it after all, in an index of its naming.
                        let ids: Vec<String> = prepared.docs.iter().map(|d| d.id.clone()).collect();
                        let stored = self.ingestor.store.stored_ids(&ids).await?;
                        prepared.docs.retain(|d| !stored.contains(&d.id));
                        present = (ids.len() - prepared.docs.len()) as u64;
                    }
                    let deadline = tokio::time::Instant::now() + BATCH_DEADLINE;
                    let report = self.ingestor.write(prepared, "replay", deadline).await?;
                    counts.indexed = report.indexed as u64;
                    counts.already_present = report.duplicates as u64 + present;
                    counts.dead_lettered = report.dead_lettered as u64;
                }
                outcome.codes.entry(group.code.clone()).or_default().add(&counts);
                let row = recovered.entry((group.code.clone(), group.minute_ms)).or_insert_with(|| RecoveredCount {
                    stream: self.name.stream.clone().unwrap_or_default(),
                    error_code: group.code,
                    minute_ms: group.minute_ms,
                    found: 0,
                    replayed: 0,
                    dead_lettered: 0,
                });
                row.found += counts.lines;
                row.replayed += counts.indexed + counts.already_present;
                row.dead_lettered += counts.dead_lettered;
            }
            self.progress.inc(read);
        }
        reader_task.await.expect("the reader does not panic");
        outcome.recovered = recovered.into_values().collect();
        Ok(outcome)
    }
}

/// Reads `reader` into chunks of lines, each line at most `max_line` bytes (the rest of a longer line
/// is skipped and the line marked), at most `max_records` lines in all.
async fn read_chunks(
    mut reader: Box<dyn AsyncBufRead + Send + Unpin>,
    max_line: usize,
    max_records: u64,
    tx: tokio::sync::mpsc::Sender<Result<Chunk, S3Error>>,
) {
    let mut number = 0u64;
    let mut chunk = Vec::new();
    let mut bytes = 0;
    loop {
        let mut line = Vec::new();
        let read = match (&mut reader).take(max_line as u64 + 1).read_until(b'\n', &mut line).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(S3Error::Read(e))).await;
                return;
            }
        };
        if read == 0 {
            break;
        }
        let too_long = line.len() > max_line && !line.ends_with(b"\n");
        if too_long {
            line.truncate(KEPT_BYTES);
            if let Err(e) = skip_line(&mut *reader).await {
                let _ = tx.send(Err(S3Error::Read(e))).await;
                return;
            }
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if number > max_records {
            let _ = tx.send(Ok(Chunk { lines: std::mem::take(&mut chunk), truncated: true })).await;
            return;
        }
        bytes += line.len();
        chunk.push(RawLine { number, bytes: line, too_long });
        if chunk.len() >= CHUNK_LINES || bytes >= CHUNK_BYTES {
            bytes = 0;
            if tx.send(Ok(Chunk { lines: std::mem::take(&mut chunk), truncated: false })).await.is_err() {
                return; // the writer stopped on an error
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(Chunk { lines: chunk, truncated: false })).await;
    }
}

/// Discards the rest of the current line without holding it.
async fn skip_line(reader: &mut (dyn AsyncBufRead + Send + Unpin)) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// The lines of one error code and minute in a chunk, parsed.
struct Group {
    code: String,
    minute_ms: i64,
    records: u64,
    lines: u64,
    prepared: Prepared,
}

/// What decoding a chunk needs; moved onto a blocking thread.
struct Decode {
    kind: FailureKind,
    object: Arc<String>,
    range: Range,
    enricher: Arc<Enricher>,
    /// The log format configured for the object's delivery stream.
    format: Option<Arc<LogFormat>>,
}

#[derive(Default)]
struct Pending {
    records: u64,
    lines: Vec<SourceLine>,
    /// Why Firehose gave up on each line's record, by line id, for the dead letters.
    origins: HashMap<String, Arc<FailedDelivery>>,
}

impl Decode {
    /// Decodes every failed record of the chunk and parses its lines, grouped by error code and minute.
    /// Returns the groups and how many records lay outside the range.
    fn chunk(self, lines: Vec<RawLine>) -> (Vec<Group>, u64) {
        let mut pending: BTreeMap<(String, i64), Pending> = BTreeMap::new();
        let mut skipped = 0;
        for raw in lines {
            let unreadable = |reason: String, raw: &RawLine| SourceLine {
                id: ids::doc_id(&[b"replay-line", self.object.as_bytes(), &raw.number.to_le_bytes()]),
                text: String::from_utf8_lossy(&raw.bytes[..raw.bytes.len().min(KEPT_BYTES)]).into_owned(),
                fallback_time: None,
                firehose: None,
                reject: Some(reason),
            };
            if raw.too_long {
                let group = pending.entry((String::new(), 0)).or_default();
                group.records += 1;
                group.lines.push(unreadable("the failed record is longer than the line limit".into(), &raw));
                continue;
            }
            let decoded = match format::decode(&raw.bytes, self.kind, (self.object.as_str(), raw.number)) {
                Ok(d) => d,
                Err(e) => {
                    let group = pending.entry((String::new(), 0)).or_default();
                    group.records += 1;
                    group.lines.push(unreadable(e.to_string(), &raw));
                    continue;
                }
            };
            let when = decoded.attempt_ending.or(decoded.arrival);
            if !self.range.contains(when) {
                skipped += 1;
                continue;
            }
            let minute_ms = when.map_or(0, |t| t.timestamp_millis().div_euclid(60_000) * 60_000);
            let group = pending.entry((decoded.error_code.clone(), minute_ms)).or_default();
            group.records += 1;
            let origin = Arc::new(FailedDelivery {
                error_code: decoded.error_code.clone(),
                error_message: decoded.error_message.clone(),
                object: self.object.to_string(),
                attempt_ending: decoded.attempt_ending,
            });
            let meta = Arc::new(FirehoseMeta { arrival_time: decoded.arrival, ..Default::default() });
            match &decoded.lines {
                Ok(lines) => {
                    for (n, line) in lines.iter().enumerate() {
                        let id = decoded.line_id(n, lines.len(), &line.text);
                        group.origins.insert(id.clone(), origin.clone());
                        group.lines.push(SourceLine {
                            id,
                            text: line.text.clone(),
                            fallback_time: line.fallback_time.or(decoded.arrival),
                            firehose: Some(meta.clone()),
                            reject: None,
                        });
                    }
                }
                Err(unreadable) => {
                    let id = decoded.record_id();
                    group.origins.insert(id.clone(), origin.clone());
                    group.lines.push(SourceLine {
                        id,
                        text: unreadable.raw.clone(),
                        fallback_time: None,
                        firehose: Some(meta),
                        reject: Some(unreadable.reason.clone()),
                    });
                }
            }
        }
        let now = Utc::now();
        let groups = pending
            .into_iter()
            .map(|((code, minute_ms), p)| {
                let lines = p.lines.len() as u64;
                let mut prepared = prepare_with(p.lines, self.format.as_deref(), &self.enricher, "replay", now);
                for dead in &mut prepared.dead {
                    dead.failed_delivery = p.origins.get(&dead.id).map(|o| FailedDelivery::clone(o));
                }
                Group { code, minute_ms, records: p.records, lines, prepared }
            })
            .collect();
        (groups, skipped)
    }
}
