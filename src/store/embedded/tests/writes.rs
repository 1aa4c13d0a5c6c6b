//! The write side end to end: acknowledged documents survive restarts and crashes, ids are never
//! written twice, days are separate partitions that retention drops whole, the write-ahead log is
//! replayed and emptied, bulk loads skip it, dead letters persist, one process holds a data
//! directory, and partitions from before documents were stored as text stay usable.

use chrono::NaiveDate;

use super::*;

#[tokio::test]
async fn writes_are_durable_deduplicated_and_partitioned_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let docs = fixture();
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Created; 8]);
    assert_eq!(
        store.days(),
        [NaiveDate::from_ymd_opt(2015, 5, 18).unwrap(), NaiveDate::from_ymd_opt(2015, 5, 19).unwrap()]
    );
    // A replay, and an id twice in one batch.
    let mut replay = docs.clone();
    replay.push(docs[0].clone());
    let outcomes = store.index(&replay).await.unwrap();
    assert_eq!(outcomes, vec![ItemOutcome::Duplicate; 9]);
    let mut fresh = doc(&D { id: "z", ..BASE });
    let twice = vec![fresh.clone(), fresh.clone()];
    assert_eq!(store.index(&twice).await.unwrap(), [ItemOutcome::Created, ItemOutcome::Duplicate]);
    assert_eq!(count(&store, q(Filters::default())).await, 9);
    // A timestamp no directory can name.
    fresh.id = "far".into();
    fresh.doc.timestamp = DateTime::from_timestamp(300_000_000_000, 0).unwrap();
    assert!(matches!(&store.index(&[fresh]).await.unwrap()[0], ItemOutcome::Rejected { status: 400, .. }));
    store.close().unwrap();

    // Reopened: the data and the dedup survive.
    let store =
        EmbeddedStore::open(dir.path(), EmbeddedOptions { max_open_writers: 1, ..EmbeddedOptions::default() }).unwrap();
    assert_eq!(count(&store, q(Filters::default())).await, 9);
    let outcomes = store.index(&docs).await.unwrap();
    assert_eq!(outcomes, vec![ItemOutcome::Duplicate; 8], "with one writer open, the days take turns");
    let late = doc(&D { id: "late", ts: "2015-05-17T08:00:00Z", ..BASE });
    assert_eq!(store.index(&[late]).await.unwrap(), [ItemOutcome::Created]);
    assert_eq!(count(&store, q(Filters::default())).await, 10);

    // Retention: whole days go.
    let dropped = store.drop_days(NaiveDate::from_ymd_opt(2015, 5, 19).unwrap()).unwrap();
    assert_eq!(dropped.len(), 2);
    assert_eq!(store.days(), [NaiveDate::from_ymd_opt(2015, 5, 19).unwrap()]);
    assert_eq!(count(&store, q(Filters::default())).await, 3);
    assert!(!dir.path().join("logs/2015-05-18").exists());
    // A dropped day can be written again (its ids are forgotten with it).
    assert_eq!(store.index(&docs[..1]).await.unwrap(), [ItemOutcome::Created]);
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(count(&store, q(Filters::default())).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_documents_not_yet_committed_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let docs = fixture();
    assert_eq!(store.index(&docs[..5]).await.unwrap(), vec![ItemOutcome::Created; 5]);
    assert_eq!(store.index(&docs[3..]).await.unwrap()[..2], vec![ItemOutcome::Duplicate; 2], "uncommitted ids count");
    let wal = dir.path().join(WAL_FILE);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "acknowledged, logged, not committed yet");
    let on_disk = |store: &EmbeddedStore| -> u64 {
        store.days.read().unwrap().values().map(|d| d.index.reader().unwrap().searcher().num_docs()).sum()
    };
    assert_eq!(on_disk(&store), 0, "nothing committed before a read asks");
    // A crash: the writers go without committing.
    drop(store);

    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(on_disk(&store), 8, "the log was committed at open");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "and emptied");
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Duplicate; 8]);
    assert_eq!(ids(&store, Filters::default()).await, ["a", "b", "c", "d", "e", "f", "g", "h"]);

    // A read commits what waits in the log, so it sees every acknowledged document.
    let late = doc(&D { id: "late", ts: "2015-05-17T08:00:00Z", ..BASE });
    assert_eq!(store.index(&[late]).await.unwrap(), [ItemOutcome::Created]);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    assert_eq!(count(&store, q(Filters::default())).await, 9);
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    assert_eq!(on_disk(&store), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_deliveries_count_toward_the_log_bound() {
    // A replay adds nothing to the index but its documents are in the log all the same: they must
    // bring the commit (which empties the log) as new ones do, or replays alone would grow the log.
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { commit_docs: 8, ..EmbeddedOptions::default() };
    let store = EmbeddedStore::open(dir.path(), options).unwrap();
    let docs = fixture();
    let wal = dir.path().join(WAL_FILE);
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Created; 8]);
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "eight documents: committed");
    for _ in 0..3 {
        assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Duplicate; 8]);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "eight replayed documents: emptied too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_loads_skip_the_log_and_commit_every_so_many_documents() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { write_ahead_log: false, commit_docs: 5, ..EmbeddedOptions::default() };
    let store = EmbeddedStore::open(dir.path(), options.clone()).unwrap();
    let docs = fixture();
    assert_eq!(store.index(&docs[..3]).await.unwrap(), vec![ItemOutcome::Created; 3]);
    assert_eq!(store.index(&docs[3..6]).await.unwrap(), vec![ItemOutcome::Created; 3]);
    assert_eq!(store.index(&docs[6..]).await.unwrap(), vec![ItemOutcome::Created; 2]);
    assert_eq!(std::fs::metadata(dir.path().join(WAL_FILE)).unwrap().len(), 0);
    // The first six were committed when the count reached five; a crash loses the last two (the load
    // runs again), and the ids keep the rerun from writing anything twice.
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions { commit_docs: 100_000, ..options }).unwrap();
    assert_eq!(count(&store, q(Filters::default())).await, 6);
    let outcomes = store.index(&docs).await.unwrap();
    assert_eq!(outcomes.iter().filter(|o| **o == ItemOutcome::Created).count(), 2);
    assert_eq!(count(&store, q(Filters::default())).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_survive_restart_and_are_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let letter = |id: &str| DeadLetter {
        id: id.into(),
        timestamp: t("2015-05-18T10:00:00Z"),
        reason: "unparseable".into(),
        stage: "parse",
        raw: "???".into(),
        raw_base64: "Pz8/".into(),
        firehose: None,
        source: "firehose".into(),
        failed_delivery: None,
    };
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    store.dead_letter(&[letter("x"), letter("y")]).await.unwrap();
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    store.dead_letter(&[letter("y"), letter("z")]).await.unwrap();
    let ids: Vec<String> =
        store.dead_letters().unwrap().iter().map(|v| v["_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["x", "y", "z"]);
    assert_eq!(store.status().await.unwrap().kind, "embedded");
}

#[test]
fn one_process_at_a_time_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let Err(second) = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()) else {
        panic!("a second open of the same directory must be refused");
    };
    assert!(second.to_string().contains("unreachable") || format!("{second:?}").contains("in use"), "{second:?}");
    drop(store);
    EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).expect("free again once the first is closed");
}

#[tokio::test]
async fn partitions_storing_documents_as_bytes_stay_readable_and_writable() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join(LOGS_DIR).join("2015-05-18");
    std::fs::create_dir_all(&day).unwrap();
    tantivy::Index::builder().schema(schema::bytes_layout(&schema::schema().0)).create_in_dir(&day).unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let outcomes = store.index(&fixture()).await.unwrap();
    assert_eq!(outcomes, vec![ItemOutcome::Created; 8]);
    let stored = |date: &str| {
        let days = store.days.read().unwrap();
        days[&date.parse::<NaiveDate>().unwrap()].layout.stored
    };
    assert_eq!(stored("2015-05-18"), schema::Stored::Bytes);
    assert_eq!(stored("2015-05-19"), schema::Stored::Text);
    let page = store
        .search(&SearchRequest { query: q(Filters::default()), order: Order::Asc, size: 100, cursor: None })
        .await
        .unwrap();
    let lines: Vec<&str> = page.items.iter().map(|i| i.doc.event.original.as_str()).collect();
    assert_eq!(lines, ["line a", "line b", "line c", "line d", "line e", "line f", "line g", "line h"]);
}

#[tokio::test]
async fn partitions_created_before_duration_and_vhost_stay_readable_and_writable() {
    let dir = tempfile::tempdir().unwrap();
    let untimed = schema::untimed_layout(&schema::schema().0);
    for (date, layout) in [("2015-05-18", untimed.clone()), ("2015-05-19", schema::bytes_layout(&untimed))] {
        let day = dir.path().join(LOGS_DIR).join(date);
        std::fs::create_dir_all(&day).unwrap();
        tantivy::Index::builder().schema(layout).create_in_dir(&day).unwrap();
    }
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let mut docs = fixture();
    for item in &mut docs {
        item.doc.event.duration = Some(1_500_000);
        item.doc.destination = Some(crate::document::Destination { domain: Some("example.org".into()), port: None });
    }
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Created; 8]);
    let layout = |date: &str| store.days.read().unwrap()[&date.parse::<NaiveDate>().unwrap()].layout;
    assert_eq!(layout("2015-05-18"), schema::Layout { stored: schema::Stored::Text, timing: false, crawler: false });
    assert_eq!(layout("2015-05-19"), schema::Layout { stored: schema::Stored::Bytes, timing: false, crawler: false });
    let page = store
        .search(&SearchRequest { query: q(Filters::default()), order: Order::Asc, size: 100, cursor: None })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 8);
    assert!(page.items.iter().all(|i| i.doc.event.duration == Some(1_500_000)), "kept in the stored document");

    // Nor have they the crawler fields: a crawler filter finds nothing there, the dimension is missing.
    let bots = Filters { crawler_category: vec!["search".into()], ..Default::default() };
    let page =
        store.search(&SearchRequest { query: q(bots), order: Order::Asc, size: 100, cursor: None }).await.unwrap();
    assert!(page.items.is_empty());
    let top =
        store.top(&TopRequest { query: q(Filters::default()), dimension: Dimension::Crawler, limit: 5 }).await.unwrap();
    assert_eq!((top.total, top.missing, top.buckets.len()), (8, 8, 0));
}
