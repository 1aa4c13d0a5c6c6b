//! The write-ahead log of the embedded store: what makes a batch durable before tantivy commits it.
//!
//! A tantivy commit per delivery costs a fixed price (new segment files, fsyncs, `meta.json`, small
//! segments to merge later), paid again for every Firehose delivery. Instead, as OpenSearch does with
//! its translog, a batch's new documents are appended here and fsynced before the batch is
//! acknowledged; the day writers commit later, many batches at once, and the log is then emptied.
//! After a crash, [`Wal::read`] gives back every record written whole, and the store adds again the
//! documents its partitions do not hold (ids make that idempotent).
//!
//! One file, one record per batch: `len: u32 LE`, `crc32(payload): u32 LE`, `payload`; the payload is
//! the documents, each `id_len: u32 LE`, `id`, `json_len: u32 LE`, `json` (the stored JSON of the
//! canonical document). A record torn by a crash (short, or a checksum that does not match) ends the
//! log: its batch was never acknowledged, since the fsync that follows the write had not returned.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest record accepted when reading (a length beyond it is a torn or foreign file).
const MAX_RECORD: u32 = 1 << 30;

pub struct Wal {
    path: PathBuf,
    file: File,
    /// Bytes of whole records in the file.
    len: u64,
}

/// The payload of one record being built, in parts built on several threads (written one after the
/// other, never copied together).
#[derive(Default)]
pub struct Record {
    parts: Vec<Vec<u8>>,
    docs: usize,
}

impl Record {
    pub fn push(&mut self, id: &str, json: &[u8]) {
        if self.parts.is_empty() {
            self.parts.push(Vec::with_capacity(1024 * 1024));
        }
        let buf = self.parts.last_mut().expect("one part at least");
        buf.extend_from_slice(&(id.len() as u32).to_le_bytes());
        buf.extend_from_slice(id.as_bytes());
        buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
        buf.extend_from_slice(json);
        self.docs += 1;
    }

    /// Appends another record's documents after these.
    pub fn extend(&mut self, other: Record) {
        self.parts.extend(other.parts);
        self.docs += other.docs;
    }

    fn payload_len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    /// Documents in the record.
    pub fn len(&self) -> usize {
        self.docs
    }
}

/// One document read back: its id and stored JSON.
pub type Entry = (String, Vec<u8>);

impl Wal {
    /// Opens (or creates) the log; [`Wal::read`] then gives what it holds. A new log's directory entry
    /// is made durable too (the directory is fsynced), so a crash right after cannot lose the file that
    /// later records are acknowledged in.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let existed = path.try_exists()?;
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if !existed {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            File::open(dir)?.sync_all()?;
        }
        let len = file.metadata()?.len();
        Ok(Wal { path: path.to_owned(), file, len })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the log holds anything (whole records or a torn tail).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a record and makes it durable. On error the file is cut back to its whole records.
    pub fn append(&mut self, record: &Record) -> std::io::Result<()> {
        if record.is_empty() {
            return Ok(());
        }
        let len = record.payload_len();
        if len > MAX_RECORD as usize {
            return Err(std::io::Error::other(format!("a record of {len} bytes is over the log's limit")));
        }
        let mut crc = crc32fast::Hasher::new();
        record.parts.iter().for_each(|p| crc.update(p));
        let mut header = [0u8; 8];
        header[..4].copy_from_slice(&(len as u32).to_le_bytes());
        header[4..].copy_from_slice(&crc.finalize().to_le_bytes());
        let written = self.file.seek(SeekFrom::Start(self.len)).and_then(|_| {
            self.file.write_all(&header)?;
            for part in &record.parts {
                self.file.write_all(part)?;
            }
            self.file.sync_data()
        });
        match written {
            Ok(()) => {
                self.len += (header.len() + len) as u64;
                Ok(())
            }
            Err(e) => {
                // A later record must not follow a torn one: replay would stop there.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Every document of every whole record, in the order written; a torn tail ends the log.
    pub fn read(&mut self) -> std::io::Result<Vec<Entry>> {
        let mut bytes = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut bytes)?;
        let mut entries = Vec::new();
        let mut at = 0usize;
        while let Some(header) = bytes.get(at..at + 8) {
            let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
            let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
            let Some(payload) = bytes.get(at + 8..at + 8 + len as usize).filter(|_| len <= MAX_RECORD) else { break };
            if crc32fast::hash(payload) != crc {
                break;
            }
            let Some(docs) = parse(payload) else { break };
            entries.extend(docs);
            at += 8 + len as usize;
        }
        self.len = at as u64;
        if at < bytes.len() {
            // Drop the torn tail now, so that no later record is ever written before stale bytes.
            self.file.set_len(self.len)?;
            self.file.sync_all()?;
        }
        Ok(entries)
    }

    /// Empties the log (everything in it is committed) and makes that durable.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        Ok(())
    }
}

fn parse(mut payload: &[u8]) -> Option<Vec<Entry>> {
    fn take<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let value = bytes.get(4..4 + len)?;
        *bytes = &bytes[4 + len..];
        Some(value)
    }
    let mut docs = Vec::new();
    while !payload.is_empty() {
        let id = String::from_utf8(take(&mut payload)?.to_vec()).ok()?;
        let json = take(&mut payload)?.to_vec();
        docs.push((id, json));
    }
    Some(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_whole_and_a_torn_tail_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut wal = Wal::open(&path).unwrap();
        assert!(wal.read().unwrap().is_empty());
        let mut first = Record::default();
        first.push("a", br#"{"x":1}"#);
        first.push("b", br#"{"x":2}"#);
        wal.append(&first).unwrap();
        // Parts built apart are one record.
        let (mut second, mut part) = (Record::default(), Record::default());
        part.push("c", b"{}");
        second.extend(part);
        wal.append(&second).unwrap();
        wal.append(&Record::default()).unwrap();
        let whole = std::fs::metadata(&path).unwrap().len();
        drop(wal);

        // A crash in the middle of a third record's write.
        let mut third = Record::default();
        third.push("d", b"{}");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&(third.payload_len() as u32).to_le_bytes()).unwrap();
        file.write_all(&[1, 2, 3]).unwrap();
        drop(file);

        let mut wal = Wal::open(&path).unwrap();
        let ids: Vec<String> = wal.read().unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        // The next record follows the whole ones, not the torn bytes.
        wal.append(&third).unwrap();
        let entries = wal.read().unwrap();
        assert_eq!(entries.last().unwrap(), &("d".to_owned(), b"{}".to_vec()));
        assert_eq!(entries.len(), 4);
        assert!(std::fs::metadata(&path).unwrap().len() > whole);

        // A flipped bit fails the checksum: the log ends before that record.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Wal::open(&path).unwrap().read().unwrap().is_empty());

        wal.clear().unwrap();
        assert!(wal.is_empty());
        assert!(Wal::open(&path).unwrap().read().unwrap().is_empty());
    }
}
