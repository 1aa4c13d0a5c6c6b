//! Kinesis Producer Library aggregation: one Kinesis record carrying many user records. The format, as
//! the KPL and AWS's `aws-kinesis-agg` libraries write it: the magic bytes `F3 89 9A C2`, a protobuf
//! `AggregatedRecord` (partition-key table, explicit-hash-key table, records of key indices, data and
//! tags), then the MD5 of the protobuf bytes. A record without the magic, or whose MD5 does not match,
//! is not aggregated and stands for itself (what the KPL's own de-aggregators do).
//!
//! ```text
//! message AggregatedRecord { repeated string partition_key_table = 1;
//!                            repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
//! message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//!                  required bytes data = 3; repeated Tag tags = 4; }
//! ```

use md5::{Digest, Md5};

const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const MD5_LEN: usize = 16;

/// One user record of an aggregated record; its index is the record's sub-sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// An aggregated record (magic and checksum right) whose protobuf does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KPL aggregated record: {0}")]
pub struct KplError(pub String);

/// The user records of `data` when it is a KPL aggregated record, else `None`.
pub fn deaggregate(data: &[u8]) -> Result<Option<Vec<UserRecord>>, KplError> {
    if data.len() < MAGIC.len() + MD5_LEN || data[..MAGIC.len()] != MAGIC {
        return Ok(None);
    }
    let (message, checksum) = data[MAGIC.len()..].split_at(data.len() - MAGIC.len() - MD5_LEN);
    if Md5::digest(message).as_slice() != checksum {
        return Ok(None);
    }
    let mut partition_keys = Vec::new();
    let mut hash_keys = Vec::new();
    let mut records = Vec::new();
    let mut reader = Reader(message);
    while let Some((field, value)) = reader.field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => partition_keys.push(text(b)?),
            (2, Value::Bytes(b)) => hash_keys.push(text(b)?),
            (3, Value::Bytes(b)) => records.push(record(b)?),
            _ => {}
        }
    }
    records
        .into_iter()
        .map(|(pk, ehk, data)| {
            let key = |table: &[String], i: u64, what: &str| {
                table.get(i as usize).cloned().ok_or_else(|| KplError(format!("{what} index {i} out of the table")))
            };
            Ok(UserRecord {
                partition_key: key(&partition_keys, pk, "partition key")?,
                explicit_hash_key: ehk.map(|i| key(&hash_keys, i, "explicit hash key")).transpose()?,
                data,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A `Record`: partition-key index, explicit-hash-key index, data.
fn record(bytes: &[u8]) -> Result<(u64, Option<u64>, Vec<u8>), KplError> {
    let (mut pk, mut ehk, mut data) = (None, None, None);
    let mut reader = Reader(bytes);
    while let Some((field, value)) = reader.field()? {
        match (field, value) {
            (1, Value::Varint(v)) => pk = Some(v),
            (2, Value::Varint(v)) => ehk = Some(v),
            (3, Value::Bytes(b)) => data = Some(b.to_vec()),
            _ => {} // tags and unknown fields
        }
    }
    match (pk, data) {
        (Some(pk), Some(data)) => Ok((pk, ehk, data)),
        _ => Err(KplError("a record without its partition key index or data".into())),
    }
}

fn text(bytes: &[u8]) -> Result<String, KplError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| KplError("a key that is not UTF-8".into()))
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The protobuf wire format, just enough for these two messages.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, KplError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or_else(|| KplError("truncated varint".into()))?;
            self.0 = rest;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(KplError("varint longer than 10 bytes".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], KplError> {
        if n > self.0.len() {
            return Err(KplError("truncated field".into()));
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, KplError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Fixed)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| KplError("length too large".into()))?;
                Value::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Value::Fixed)?,
            wire => return Err(KplError(format!("unsupported wire type {wire}"))),
        };
        Ok(Some((key >> 3, value)))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/kpl/aggregated.json");

    #[test]
    fn records_aggregated_by_aws_kinesis_agg_come_apart_exactly() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
        for case in cases.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let data = b64.decode(case["aggregated"].as_str().unwrap()).unwrap();
            let got = deaggregate(&data).unwrap().unwrap_or_else(|| panic!("{name}: not recognised as aggregated"));
            let want: Vec<UserRecord> = case["user_records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| UserRecord {
                    partition_key: r["partition_key"].as_str().unwrap().to_owned(),
                    explicit_hash_key: r["explicit_hash_key"].as_str().map(str::to_owned),
                    data: b64.decode(r["data"].as_str().unwrap()).unwrap(),
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn plain_and_damaged_records_stand_for_themselves() {
        assert_eq!(deaggregate(b"83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1"), Ok(None));
        let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
        let mut data =
            base64::engine::general_purpose::STANDARD.decode(cases[1]["aggregated"].as_str().unwrap()).unwrap();
        let middle = data.len() / 2;
        data[middle] ^= 1;
        assert_eq!(deaggregate(&data), Ok(None), "a checksum mismatch means not aggregated");
        assert_eq!(deaggregate(&MAGIC), Ok(None));
    }

    #[test]
    fn a_valid_checksum_over_a_broken_message_is_an_error() {
        let message = [0x1A, 0x05, 0x08]; // field 3, length 5, but only one byte follows
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&message);
        data.extend_from_slice(Md5::digest(message).as_slice());
        assert!(deaggregate(&data).is_err());
    }
}
