//! The dead-letter store of the embedded adapter: one JSON-lines file, appended and fsynced per call.
//! Each line is the dead letter as OpenSearch would index it plus its deterministic id under `_id`;
//! an id already in the file is skipped, so replays do not duplicate dead letters. A line torn by a
//! crash (no final newline, not JSON) is ignored when reading and never glued to the next append.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::store::DeadLetter;

pub struct DeadLetterLog {
    path: PathBuf,
    file: File,
    ids: HashSet<String>,
    /// The file does not end with a newline (a torn last line): start the next append with one.
    needs_newline: bool,
}

impl DeadLetterLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let mut ids = HashSet::new();
        // Bytes, not `lines()`: a line torn inside a multi-byte character must not stop the start.
        for line in BufReader::new(&mut file).split(b'\n') {
            if let Some(id) = serde_json::from_slice::<Value>(&line?).ok().and_then(|v| id_of(&v)) {
                ids.insert(id);
            }
        }
        let len = file.metadata()?.len();
        let needs_newline = if len == 0 {
            false
        } else {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            last[0] != b'\n'
        };
        Ok(DeadLetterLog { path: path.to_owned(), file, ids, needs_newline })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the letters not yet in the file and makes them durable.
    pub fn append(&mut self, letters: &[DeadLetter]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        if self.needs_newline {
            buf.push(b'\n');
        }
        let mut added = Vec::new();
        for letter in letters {
            if self.ids.contains(&letter.id) || added.contains(&&letter.id) {
                continue;
            }
            let mut value = serde_json::to_value(letter).map_err(std::io::Error::other)?;
            if let Value::Object(map) = &mut value {
                map.insert("_id".into(), Value::String(letter.id.clone()));
            }
            serde_json::to_writer(&mut buf, &value).map_err(std::io::Error::other)?;
            buf.push(b'\n');
            added.push(&letter.id);
        }
        if added.is_empty() {
            return Ok(());
        }
        // Whatever happens below, the file may now end mid-line.
        self.needs_newline = true;
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.needs_newline = false;
        self.ids.extend(added.into_iter().cloned());
        Ok(())
    }

    /// Every dead letter in the file, oldest first, with its `_id`.
    pub fn read_all(path: &Path) -> std::io::Result<Vec<Value>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in BufReader::new(file).split(b'\n') {
            if let Ok(v) = serde_json::from_slice::<Value>(&line?)
                && id_of(&v).is_some()
            {
                out.push(v);
            }
        }
        Ok(out)
    }
}

fn id_of(v: &Value) -> Option<String> {
    v.get("_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(id: &str) -> DeadLetter {
        DeadLetter {
            id: id.into(),
            timestamp: chrono::DateTime::from_timestamp(1_431_853_200, 0).unwrap(),
            reason: "no match".into(),
            stage: "parse",
            raw: "garbage".into(),
            raw_base64: "Z2FyYmFnZQ".into(),
            firehose: None,
            source: "firehose".into(),
            failed_delivery: None,
        }
    }

    #[test]
    fn appends_survive_reopen_skip_known_ids_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deadletter.jsonl");
        let mut log = DeadLetterLog::open(&path).unwrap();
        log.append(&[letter("a"), letter("b"), letter("a")]).unwrap();
        drop(log);
        // A crash in the middle of a later append leaves a torn line, here inside a multi-byte character.
        let torn = "{\"_id\":\"c\",\"raw\":\"caf\u{e9}".as_bytes();
        let torn = &torn[..torn.len() - 1];
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(torn).unwrap();
        let mut log = DeadLetterLog::open(&path).unwrap();
        log.append(&[letter("b"), letter("c")]).unwrap();
        let all = DeadLetterLog::read_all(log.path()).unwrap();
        let ids: Vec<&str> = all.iter().map(|v| v["_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(all[0]["stage"], "parse");
        assert_eq!(all[0]["@timestamp"], "2015-05-17T09:00:00Z");
    }
}
