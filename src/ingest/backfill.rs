//! `firesight ingest FILE...`: the same parse, enrich and index path as the Firehose endpoint, fed from
//! log files (plain or gzip, `-` for stdin). A blocking reader thread parses and enriches batches while
//! the async side writes the previous batch, so the store and the CPU work overlap.
//!
//! Ids come from the file's content (a hash of its first 64 KiB) and the line number: re-running the
//! same file, renamed or grown by appends, writes nothing twice.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::{Ingestor, Prepared, SourceLine, WriteReport, ids, prepare_with};

/// Lines per batch unless the store asks for another size ([`LogStore::batch_hint`]): large enough for
/// efficient bulk requests, small enough to keep memory flat.
///
/// [`LogStore::batch_hint`]: crate::store::LogStore::batch_hint
pub const BATCH_LINES: usize = 5_000;
/// Bytes of the file's start that identify it.
const CONTENT_KEY_BYTES: usize = 64 * 1024;
/// Longest line kept whole; longer ones are cut (and will not parse, so they are dead-lettered).
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// How long one batch may wait for the store before the backfill gives up (re-running resumes safely).
const BATCH_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub lines_read: u64,
    pub indexed: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub elapsed: Duration,
}

impl Summary {
    fn add(&mut self, report: &WriteReport) {
        self.indexed += report.indexed as u64;
        self.duplicates += report.duplicates as u64;
        self.dead_lettered += report.dead_lettered as u64;
    }

    pub fn lines_per_second(&self) -> f64 {
        self.lines_read as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines read: {} indexed, {} already present, {} dead-lettered, in {:.1} s ({:.0} lines/s)",
            self.lines_read,
            self.indexed,
            self.duplicates,
            self.dead_lettered,
            self.elapsed.as_secs_f64(),
            self.lines_per_second()
        )
    }
}

/// Ingests every input in turn.
pub async fn run(ingestor: &Ingestor, inputs: &[PathBuf], show_progress: bool) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let progress = if show_progress { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}] {human_pos} lines ({per_sec})")
            .expect("valid progress template"),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let mut summary = Summary::default();
    for input in inputs {
        progress.set_message(input.display().to_string());
        ingest_one(ingestor, input, &progress, &mut summary)
            .await
            .with_context(|| format!("ingesting {}", input.display()))?;
    }
    progress.finish_and_clear();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

async fn ingest_one(
    ingestor: &Ingestor,
    input: &Path,
    progress: &ProgressBar,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let reader = open(input)?;
    let source = if input == Path::new("-") { "stdin".to_owned() } else { input.display().to_string() };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<(u64, Prepared)>>(1);
    let enricher = ingestor.enricher.clone();
    let format = ingestor.formats.default_format().cloned();
    let batch_lines = ingestor.store.batch_hint().unwrap_or(BATCH_LINES);
    let source_for_reader = source.clone();
    let reader_task = tokio::task::spawn_blocking(move || {
        let mut batches = Batches::new(reader, batch_lines);
        loop {
            match batches.next_batch() {
                Ok(None) => return,
                Ok(Some(lines)) => {
                    let count = lines.len() as u64;
                    let prepared = prepare_with(lines, format.as_deref(), &enricher, &source_for_reader, Utc::now());
                    if tx.blocking_send(Ok((count, prepared))).is_err() {
                        return; // the writer stopped on an error
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            }
        }
    });
    while let Some(batch) = rx.recv().await {
        let (count, prepared) = batch?;
        let deadline = tokio::time::Instant::now() + BATCH_DEADLINE;
        let report = ingestor.write(prepared, &source, deadline).await?;
        summary.lines_read += count;
        summary.add(&report);
        progress.inc(count);
    }
    reader_task.await.context("reader thread")?;
    Ok(())
}

fn open(input: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = if input == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(input).with_context(|| format!("cannot open {}", input.display()))?)
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    // Gzip by content, not by name: `.gz` files and compressed stdin alike.
    let is_gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if is_gzip {
        Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    })
}

/// Reads lines in batches and gives each its deterministic id.
struct Batches {
    reader: Box<dyn BufRead + Send>,
    content_key: Option<[u8; 32]>,
    line_number: u64,
    batch_lines: usize,
    /// Lines read before the content key was known.
    held: Vec<Vec<u8>>,
    eof: bool,
}

impl Batches {
    fn new(reader: Box<dyn BufRead + Send>, batch_lines: usize) -> Self {
        Self { reader, batch_lines, content_key: None, line_number: 0, held: Vec::new(), eof: false }
    }

    fn read_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let n = (&mut self.reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if line.len() >= MAX_LINE_BYTES && !line.ends_with(b"\n") {
            // Skip the rest of an overlong line; its head goes on (and fails to parse).
            let mut sink = Vec::new();
            self.reader.read_until(b'\n', &mut sink)?;
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    /// Reads up to 64 KiB of lines to derive the content key (the file's identity).
    fn ensure_key(&mut self) -> std::io::Result<[u8; 32]> {
        if let Some(key) = self.content_key {
            return Ok(key);
        }
        let mut hasher = Sha256::new();
        let mut bytes = 0;
        while bytes < CONTENT_KEY_BYTES {
            match self.read_line()? {
                Some(line) => {
                    hasher.update(&line);
                    hasher.update(b"\n");
                    bytes += line.len() + 1;
                    self.held.push(line);
                }
                None => {
                    self.eof = true;
                    break;
                }
            }
        }
        let key: [u8; 32] = hasher.finalize().into();
        self.content_key = Some(key);
        self.held.reverse(); // popped from the end in order
        Ok(key)
    }

    fn next_batch(&mut self) -> std::io::Result<Option<Vec<SourceLine>>> {
        let key = self.ensure_key()?;
        let mut batch = Vec::with_capacity(self.batch_lines);
        while batch.len() < self.batch_lines {
            let line = match self.held.pop() {
                Some(line) => line,
                None if self.eof => break,
                None => match self.read_line()? {
                    Some(line) => line,
                    None => {
                        self.eof = true;
                        break;
                    }
                },
            };
            self.line_number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            batch.push(SourceLine {
                id: ids::backfill_id(&key, self.line_number),
                text: String::from_utf8_lossy(&line).into_owned(),
                fallback_time: None,
                firehose: None,
                reject: None,
            });
        }
        Ok(if batch.is_empty() { None } else { Some(batch) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches_of(data: &[u8]) -> Vec<Vec<SourceLine>> {
        let mut b = Batches::new(Box::new(std::io::Cursor::new(data.to_vec())), BATCH_LINES);
        let mut out = Vec::new();
        while let Some(batch) = b.next_batch().unwrap() {
            out.push(batch);
        }
        out
    }

    #[test]
    fn ids_follow_content_and_line_numbers() {
        let a = batches_of(b"one\ntwo\n\nthree\r\n");
        let texts: Vec<&str> = a[0].iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let again = batches_of(b"one\ntwo\n\nthree\r\n");
        assert_eq!(a[0][2].id, again[0][2].id, "same file, same ids");
        let other = batches_of(b"one\ntwo\n\nfour\n");
        assert_ne!(a[0][0].id, other[0][0].id, "different content, different ids");
    }

    #[test]
    fn big_inputs_come_in_bounded_batches() {
        let mut data = Vec::new();
        for i in 0..(BATCH_LINES * 2 + 10) {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let batches = batches_of(&data);
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[0].len(), BATCH_LINES);
        assert_eq!(batches[2].len(), 10);
        assert_eq!(batches[2][9].text, format!("line {}", BATCH_LINES * 2 + 9));
    }
}
