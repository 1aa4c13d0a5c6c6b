//! Search pages in time order, as the OpenSearch adapter pages: sorted by the millisecond timestamp then
//! the id, both in the requested direction (a total order), continued `search_after`-style from the
//! last hit of the previous page.
//!
//! The cursor is stateless: base64url (no padding) of `{ts, id, order}`, the last hit's sort values and
//! the order (the cursor's order wins over the request's). It stays valid for ever and never skips or
//! repeats a document of the same data. A page asks for `size + 1` hits; the extra one only tells
//! whether a next page exists, so the last page carries no cursor.
//!
//! Day partitions are disjoint in time, so days are read in the page's order and reading stops at the
//! first day that completes the page. Within a day, each segment yields its best `size + 1` candidates
//! by (timestamp, id ordinal) — ordinals sort like ids within a segment — and only those become ids
//! and, for the hits returned, stored documents.

use serde::{Deserialize, Serialize};
use tantivy::columnar::TermOrdHit;
use tantivy::{DocAddress, DocId, TantivyDocument, u64_to_i64};

use super::day::unavailable;
use super::filters::ceil_millis;
use super::scan;
use super::scan::{Fetch, Ords, Part, best, u64_column};
use super::schema::name;
use super::state::EmbeddedStore;
use crate::document::LogDocument;
use crate::query::model::{MAX_PAGE_SIZE, Order, SearchPage, SearchRequest, StoredDoc};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The last hit's timestamp (epoch ms) and id.
    pub ts: i64,
    pub id: String,
    pub order: Order,
}

impl Cursor {
    pub fn encode(&self) -> String {
        crate::store::encode_cursor(self)
    }

    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        crate::store::decode_cursor(text)
    }
}

/// A hit: sort values and where the document is.
struct Hit {
    ts: i64,
    id: String,
    doc: DocAddress,
}

impl EmbeddedStore {
    pub(super) fn read_search(&self, request: &SearchRequest) -> Result<SearchPage, StoreError> {
        if !(1..=MAX_PAGE_SIZE).contains(&request.size) {
            return Err(StoreError::BadRequest(format!("size must be 1..={MAX_PAGE_SIZE}")));
        }
        let after = request.cursor.as_deref().map(Cursor::decode).transpose()?;
        let order = after.as_ref().map_or(request.order, |c| c.order);
        let (mut from, mut to) = (ceil_millis(request.query.range.from), ceil_millis(request.query.range.to));
        // Nothing before (after, descending) the cursor's millisecond can follow it.
        match (&after, order) {
            (Some(c), Order::Asc) => from = from.max(c.ts),
            (Some(c), Order::Desc) => to = to.min(c.ts.saturating_add(1)),
            (None, _) => {}
        }
        let size = request.size as usize;
        let want = size + 1;
        let mut days = self.days_in(from, to);
        if order == Order::Desc {
            days.reverse();
        }
        let mut items: Vec<StoredDoc> = Vec::with_capacity(size);
        let mut found = 0usize;
        let mut last: Option<(i64, String)> = None;
        for day in days {
            let parts = scan::parts(vec![day], (from, to), &request.query.filters, &self.schema, &self.fields)?;
            let part = parts.into_iter().next().expect("one day, one part");
            let mut hits = day_hits(&part, order, after.as_ref(), want - found)?;
            for hit in hits.drain(..) {
                found += 1;
                if items.len() < size {
                    items.push(StoredDoc { id: hit.id.clone(), doc: self.load(&part, hit.doc)? });
                    last = Some((hit.ts, hit.id));
                }
            }
            if found >= want {
                break;
            }
        }
        let next_cursor = match (found > size, last) {
            (true, Some((ts, id))) => Some(Cursor { ts, id, order }.encode()),
            _ => None,
        };
        Ok(SearchPage { items, next_cursor })
    }

    fn load(&self, part: &Part, address: DocAddress) -> Result<LogDocument, StoreError> {
        let doc: TantivyDocument = part.searcher.doc(address).map_err(unavailable)?;
        let json = super::schema::stored_json(&doc, &self.fields)
            .ok_or_else(|| StoreError::Protocol("a stored document without its JSON".into()))?;
        serde_json::from_slice(json).map_err(|e| StoreError::Protocol(Box::new(e)))
    }
}

/// The first `want` hits of one day in `order`, strictly after the cursor.
fn day_hits(part: &Part, order: Order, after: Option<&Cursor>, want: usize) -> Result<Vec<Hit>, StoreError> {
    let mut hits: Vec<(i64, String, DocAddress)> = Vec::new();
    for (seg_ord, seg) in part.segments().iter().enumerate() {
        let ts = u64_column(seg, name::TS)?;
        let mut ids = Ords::open(seg, name::ID)?;
        // Where the cursor's id falls among this segment's ids: hits at the cursor's millisecond must
        // have an id ordinal past it.
        let tie = match (after, ids.column()) {
            (Some(c), Some(column)) => Some(column.dictionary().term_ord_or_next(&c.id).map_err(unavailable)?),
            _ => None,
        };
        let keep = |t: i64, ord: u64| -> bool {
            let Some(c) = after else { return true };
            if t != c.ts {
                return match order {
                    Order::Asc => t > c.ts,
                    Order::Desc => t < c.ts,
                };
            }
            match (&tie, order) {
                (Some(TermOrdHit::Exact(at)), Order::Asc) => ord > *at,
                (Some(TermOrdHit::Next(at)), Order::Asc) => ord >= *at,
                (Some(TermOrdHit::Exact(at) | TermOrdHit::Next(at)), Order::Desc) => ord < *at,
                (None, _) => true,
            }
        };
        let mut candidates: Vec<(i64, u64, DocId)> = Vec::new();
        let mut f_ts = Fetch::default();
        let (mut t_buf, mut id_buf) = (Vec::new(), Vec::new());
        part.for_each_block(seg, |docs| {
            f_ts.aligned(&ts, docs, &mut t_buf);
            ids.aligned(docs, &mut id_buf);
            for ((t, o), doc) in t_buf.iter().zip(&id_buf).zip(docs) {
                if let (Some(t), Some(o)) = (t, o) {
                    let t = u64_to_i64(*t);
                    if keep(t, *o) {
                        candidates.push((t, *o, *doc));
                    }
                }
            }
        })?;
        let best_first = |a: &(i64, u64, DocId), b: &(i64, u64, DocId)| match order {
            Order::Asc => (a.0, a.1).cmp(&(b.0, b.1)),
            Order::Desc => (b.0, b.1).cmp(&(a.0, a.1)),
        };
        let mut chosen = best(candidates, want, best_first);
        chosen.sort_unstable_by_key(|c| c.1);
        let ords: Vec<u64> = chosen.iter().map(|c| c.1).collect();
        ids.terms(&ords, |i, id| {
            let (t, _, doc) = chosen[i];
            hits.push((t, String::from_utf8_lossy(id).into_owned(), DocAddress::new(seg_ord as u32, doc)));
        })?;
    }
    let mut hits = best(hits, want, |a, b| match order {
        Order::Asc => (a.0, &a.1).cmp(&(b.0, &b.1)),
        Order::Desc => (b.0, &b.1).cmp(&(a.0, &a.1)),
    });
    Ok(hits.drain(..).map(|(ts, id, doc)| Hit { ts, id, doc }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor { ts: 1_431_853_200_000, id: "AbC-_09".into(), order: Order::Asc };
        let text = cursor.encode();
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{text}");
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        let opensearch_shaped = URL_SAFE_NO_PAD.encode(br#"{"pit":"x","search_after":[1,"a"],"order":"Desc"}"#);
        for bad in ["", "!!!", "e30", opensearch_shaped.as_str()] {
            assert!(matches!(Cursor::decode(bad), Err(StoreError::BadRequest(_))), "{bad}");
        }
    }
}
