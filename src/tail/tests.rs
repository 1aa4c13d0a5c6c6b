use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::TailConfig;
use crate::document::{Firesight, Geo, LogDocument, UserAgent};
use crate::metrics::Metrics;
use crate::query::model::{Filters, StatusFilter};
use crate::store::IndexDoc;

const EPOCH: u32 = 0x3f9a_0c1b;

fn hub(config: TailConfig) -> Arc<TailHub> {
    Arc::new(TailHub::with_epoch(EPOCH, &config, Arc::new(Metrics::new()), CancellationToken::new()))
}

fn config(buffer: usize, rate: u32) -> TailConfig {
    TailConfig { max_clients: 2, buffer, max_events_per_second: rate, max_duration_secs: 3600, keep_alive_secs: 15 }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A document answered with `status`, for `path`.
fn doc(id: &str, status: u16, path: &str) -> IndexDoc {
    let mut doc = LogDocument { timestamp: at("2026-11-26T10:00:00Z"), ..LogDocument::default() };
    doc.http.response.status_code = Some(status);
    doc.url.path = Some(path.to_owned());
    doc.url.original = Some(path.to_owned());
    IndexDoc { id: id.to_owned(), doc }
}

fn docs(prefix: &str, statuses: &[u16]) -> Vec<IndexDoc> {
    statuses.iter().enumerate().map(|(i, s)| doc(&format!("{prefix}{i}"), *s, &format!("/{prefix}/{i}"))).collect()
}

fn request(filters: Filters) -> TailRequest {
    TailRequest { matcher: Matcher::new(filters, None, None), resume: None, max_duration: None, limit: None }
}

fn errors_only() -> Filters {
    Filters { status: vec![StatusFilter::Class(5)], ..Filters::default() }
}

fn id(seq: u64) -> EventId {
    EventId { epoch: EPOCH, seq }
}

/// The next message, which must come within a (virtual) minute.
async fn next(tail: &mut Tail) -> Message {
    tokio::time::timeout(Duration::from_secs(60), tail.next()).await.expect("a message in time").expect("not over")
}

fn log_of(message: Message) -> (EventId, String) {
    match message {
        Message::Log { id, event } => (id, event.item.id.clone()),
        other => panic!("expected a document, got {other:?}"),
    }
}

#[test]
fn event_ids_read_back_and_match_their_form() {
    let written = id(42).to_string();
    assert_eq!(written, "3f9a0c1b-42");
    assert_eq!(EventId::parse(&written), Some(id(42)));
    let max = EventId { epoch: 0, seq: 9_999_999_999_999_999_999 };
    assert_eq!(EventId::parse(&max.to_string()), Some(max));
    for text in ["3f9a0c1b-0", "00000000-0001", "ffffffff-18446744073", written.as_str(), &max.to_string()] {
        assert!(crate::forms::TAIL_EVENT_ID.matches(text), "{text}");
        assert!(EventId::parse(text).is_some(), "{text}");
    }
    for text in [
        "",
        "3f9a0c1b",
        "3f9a0c1b-",
        "3F9A0C1B-1",
        "3f9a0c1-1",
        "3f9a0c1b0-1",
        "3f9a0c1b-1-2",
        "3f9a0c1b- 1",
        "3f9a0c1b-+1",
        "3f9a0c1b-12345678901234567890",
        "g0000000-1",
    ] {
        assert!(!crate::forms::TAIL_EVENT_ID.matches(text), "{text:?}");
        assert_eq!(EventId::parse(text), None, "{text:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_sends_only_what_is_published_after_it_opened_and_matches() {
    let hub = hub(config(100, 1000));
    hub.publish(docs("before", &[500, 200]));
    let mut tail = hub.subscribe(request(errors_only())).unwrap();
    assert!(matches!(next(&mut tail).await, Message::Open { id } if id == self::id(2)));
    hub.publish(docs("after", &[200, 503, 404, 500]));
    assert_eq!(log_of(next(&mut tail).await), (id(4), "after1".to_owned()));
    assert_eq!(log_of(next(&mut tail).await), (id(6), "after3".to_owned()));
    // Nothing more matches: the keep-alive moves the client's position past the 404.
    hub.publish(docs("later", &[200]));
    match next(&mut tail).await {
        Message::KeepAlive { id: moved } => assert_eq!(moved, Some(id(7))),
        other => panic!("{other:?}"),
    }
    match next(&mut tail).await {
        Message::KeepAlive { id: moved } => assert_eq!(moved, None),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_resumed_stream_continues_after_its_last_event_without_repeats() {
    let hub = hub(config(100, 1000));
    hub.publish(docs("a", &[500, 500, 500]));
    hub.publish(docs("b", &[500, 200, 502]));
    let mut tail = hub.subscribe(TailRequest { resume: Some(id(3)), ..request(errors_only()) }).unwrap();
    assert!(matches!(next(&mut tail).await, Message::Open { id: at } if at == id(3)));
    assert_eq!(log_of(next(&mut tail).await).1, "b0");
    assert_eq!(log_of(next(&mut tail).await), (id(6), "b2".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn ids_of_another_process_or_position_reset_the_stream() {
    let hub = hub(config(100, 1000));
    hub.publish(docs("a", &[500, 500]));
    let other = EventId { epoch: EPOCH ^ 1, seq: 1 };
    let mut tail = hub.subscribe(TailRequest { resume: Some(other), ..request(Filters::default()) }).unwrap();
    match next(&mut tail).await {
        Message::Reset { id: at, reason, requested } => {
            assert_eq!((at, reason, requested), (id(2), ResetReason::OtherProcess, other));
        }
        other => panic!("{other:?}"),
    }
    hub.publish(docs("b", &[200]));
    assert_eq!(log_of(next(&mut tail).await), (id(3), "b0".to_owned()));
    drop(tail);
    let mut ahead = hub.subscribe(TailRequest { resume: Some(id(9)), ..request(Filters::default()) }).unwrap();
    assert!(matches!(next(&mut ahead).await, Message::Reset { reason: ResetReason::Unknown, .. }));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fell_out_of_the_ring_is_told_how_many_it_missed() {
    let hub = hub(config(5, 1000));
    let mut tail = hub.subscribe(request(Filters::default())).unwrap();
    assert!(matches!(next(&mut tail).await, Message::Open { .. }));
    // One batch larger than the ring: its newest five stay.
    hub.publish(docs("x", &[200; 50]));
    match next(&mut tail).await {
        Message::Lag { id: at, skipped, reason } => assert_eq!((at, skipped, reason), (id(45), 45, LagReason::Behind)),
        other => panic!("{other:?}"),
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(log_of(next(&mut tail).await).1);
    }
    assert_eq!(got, ["x45", "x46", "x47", "x48", "x49"]);
    // Resuming from before the ring: the same count, known from the sequence.
    drop(tail);
    let mut resumed = hub.subscribe(TailRequest { resume: Some(id(10)), ..request(Filters::default()) }).unwrap();
    assert!(matches!(next(&mut resumed).await, Message::Open { .. }));
    assert!(matches!(next(&mut resumed).await, Message::Lag { skipped: 35, reason: LagReason::Behind, .. }));
    assert_eq!(log_of(next(&mut resumed).await), (id(46), "x45".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn over_its_rate_a_stream_skips_matching_documents_and_says_how_many() {
    let hub = hub(config(100, 2));
    let mut tail = hub.subscribe(request(errors_only())).unwrap();
    next(&mut tail).await;
    hub.publish(docs("r", &[500, 200, 500, 500, 500, 500]));
    assert_eq!(log_of(next(&mut tail).await).1, "r0");
    assert_eq!(log_of(next(&mut tail).await).1, "r2");
    let before = tokio::time::Instant::now();
    match next(&mut tail).await {
        Message::Lag { id: at, skipped, reason } => assert_eq!((at, skipped, reason), (id(6), 3, LagReason::Rate)),
        other => panic!("{other:?}"),
    }
    // Told once a token is back (half a second at 2 a second), not before.
    assert_eq!(tokio::time::Instant::now() - before, Duration::from_millis(500));
    hub.publish(docs("s", &[500]));
    assert_eq!(log_of(next(&mut tail).await), (id(7), "s0".to_owned()));
    let metrics = hub.metrics.render();
    assert!(metrics.contains("firesight_tail_events_skipped_total{reason=\"rate\"} 3"), "{metrics}");
    assert!(metrics.contains("firesight_tail_events_sent_total 3"), "{metrics}");
}

#[tokio::test(start_paused = true)]
async fn streams_end_at_their_limit_duration_or_shutdown() {
    let hub = hub(config(100, 1000));
    let mut limited = hub.subscribe(TailRequest { limit: Some(2), ..request(Filters::default()) }).unwrap();
    next(&mut limited).await;
    hub.publish(docs("l", &[200, 200, 200]));
    log_of(next(&mut limited).await);
    log_of(next(&mut limited).await);
    assert!(limited.next().await.is_none());
    drop(limited);

    let mut timed = hub
        .subscribe(TailRequest { max_duration: Some(Duration::from_secs(20)), ..request(Filters::default()) })
        .unwrap();
    next(&mut timed).await;
    let started = tokio::time::Instant::now();
    while timed.next().await.is_some() {}
    assert_eq!(tokio::time::Instant::now() - started, Duration::from_secs(20));
    drop(timed);

    // A stream that always has something to send ends on time as well.
    let mut busy = hub
        .subscribe(TailRequest { max_duration: Some(Duration::from_secs(5)), ..request(Filters::default()) })
        .unwrap();
    next(&mut busy).await;
    let mut sent = 0;
    loop {
        hub.publish(docs("busy", &[200]));
        if busy.next().await.is_none() {
            break;
        }
        sent += 1;
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 50);
    drop(busy);

    let mut open = hub.subscribe(request(Filters::default())).unwrap();
    next(&mut open).await;
    hub.publish(docs("pending", &[200, 200]));
    hub.shutdown.cancel();
    assert!(open.next().await.is_none(), "stops at once, sent or not");
}

#[tokio::test]
async fn at_most_max_clients_streams_are_open() {
    let hub = hub(config(100, 1000));
    let a = hub.subscribe(request(Filters::default())).unwrap();
    let _b = hub.subscribe(request(Filters::default())).unwrap();
    assert!(matches!(hub.subscribe(request(Filters::default())), Err(TailError::TooManyClients { limit: 2 })));
    assert!(hub.metrics.render().contains("firesight_tail_streams 2"));
    drop(a);
    assert!(hub.subscribe(request(Filters::default())).is_ok());
}

// ------------------------------------------------------------------------------------------------
// The matcher

fn event(doc: LogDocument) -> TailEvent {
    TailEvent { seq: 1, item: IndexDoc { id: "d".into(), doc }, words: Default::default() }
}

fn matches(filters: Filters, doc: &LogDocument) -> bool {
    let mut filters = filters;
    filters.normalise();
    Matcher::new(filters, None, None).matches(&event(doc.clone()))
}

fn rich() -> LogDocument {
    let mut doc = LogDocument { timestamp: at("2026-11-26T10:00:00.0005Z"), ..LogDocument::default() };
    doc.http.response.status_code = Some(404);
    doc.http.request.method = Some("GET".into());
    doc.url.path = Some("/blog/tags/puppet".into());
    doc.url.original = Some("/blog/tags/puppet?flav=rss20".into());
    doc.source.ip = Some("66.249.73.135".parse().unwrap());
    doc.source.geo = Some(Arc::new(Geo {
        country_iso_code: Some("US".into()),
        city_name: Some("Mountain View".into()),
        ..Geo::default()
    }));
    doc.user_agent = Some(UserAgent {
        original: Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into()),
        name: Some("Googlebot".into()),
        ..UserAgent::default()
    });
    let crawler = crate::document::Crawler { name: Some("Googlebot".into()), category: Some("search".into()) };
    doc.firesight = Firesight {
        referrer_host: Some("www.google.com".into()),
        bot: Some(true),
        crawler: Some(std::sync::Arc::new(crawler)),
        ..Firesight::default()
    };
    doc.destination = Some(crate::document::Destination { domain: Some("shop.example".into()), port: None });
    doc
}

#[test]
fn the_matcher_reads_filters_as_the_stores_do() {
    let doc = rich();
    let f = Filters::default;
    let ip = |v: &str| crate::query::params::client_ip("client_ip", v).unwrap();
    let cases: Vec<(Filters, bool)> = vec![
        (f(), true),
        (Filters { status: vec![StatusFilter::Class(4)], ..f() }, true),
        (Filters { status: vec![StatusFilter::Code(404), StatusFilter::Class(5)], ..f() }, true),
        (Filters { status: vec![StatusFilter::Code(400), StatusFilter::Class(5)], ..f() }, false),
        (Filters { method: vec!["GET".into()], ..f() }, true),
        (Filters { method: vec!["POST".into()], ..f() }, false),
        (Filters { path: vec!["/blog/tags/puppet".into()], ..f() }, true),
        (Filters { path: vec!["/blog/tags/puppet?flav=rss20".into()], ..f() }, false),
        (Filters { path_prefix: Some("/blog/".into()), ..f() }, true),
        (Filters { path_prefix: Some("/Blog/".into()), ..f() }, false),
        (Filters { country: vec!["DE".into(), "US".into()], ..f() }, true),
        (Filters { country: vec!["DE".into()], city: vec!["Mountain View".into()], ..f() }, false),
        (Filters { city: vec!["Mountain View".into()], ..f() }, true),
        (Filters { browser: vec!["Googlebot".into()], ..f() }, true),
        (Filters { os: vec!["Linux".into()], ..f() }, false),
        (Filters { device: vec!["Spider".into()], ..f() }, false),
        (Filters { referrer_host: vec!["www.google.com".into()], ..f() }, true),
        (Filters { vhost: vec!["a.example".into(), "shop.example".into()], ..f() }, true),
        (Filters { vhost: vec!["Shop.example".into()], ..f() }, false),
        (Filters { client_ip: vec![ip("66.249.0.0/16")], ..f() }, true),
        (Filters { client_ip: vec![ip("66.249.73.135")], ..f() }, true),
        (Filters { client_ip: vec![ip("::ffff:66.249.73.0/120")], ..f() }, true),
        (Filters { client_ip: vec![ip("::/0")], ..f() }, true),
        (Filters { client_ip: vec![ip("66.250.0.0/16"), ip("2001:db8::/32")], ..f() }, false),
        (Filters { bot: Some(true), ..f() }, true),
        (Filters { bot: Some(false), ..f() }, false),
        (Filters { crawler: vec!["GPTBot".into(), "Googlebot".into()], ..f() }, true),
        (Filters { crawler: vec!["googlebot".into()], ..f() }, false),
        (Filters { crawler_category: vec!["search".into()], ..f() }, true),
        (Filters { crawler_category: vec!["ai".into()], ..f() }, false),
        (Filters { q: Some("googlebot".into()), ..f() }, true),
        (Filters { q: Some("PUPPET rss20 www.google.com".into()), ..f() }, true),
        (Filters { q: Some("puppet chrome".into()), ..f() }, false),
        (Filters { q: Some("google".into()), ..f() }, false),
        (Filters { q: Some("  ".into()), ..f() }, true),
        (Filters { q: Some("*:* -".into()), ..f() }, false),
    ];
    for (filters, expected) in cases {
        assert_eq!(matches(filters.clone(), &doc), expected, "{filters:?}");
    }
}

#[test]
fn the_matcher_treats_absent_and_unindexed_values_as_the_stores_do() {
    let bare = LogDocument::default();
    assert!(!matches(Filters { status: vec![StatusFilter::Class(2)], ..Filters::default() }, &bare));
    assert!(!matches(Filters { country: vec!["US".into()], ..Filters::default() }, &bare));
    assert!(!matches(Filters { client_ip: vec!["0.0.0.0/0".parse().unwrap()], ..Filters::default() }, &bare));
    assert!(matches(Filters { bot: Some(false), ..Filters::default() }, &bare), "no flag is not a bot");
    let mut long = rich();
    long.url.path = Some(format!("/blog/{}", "a".repeat(4096)));
    assert!(!matches(Filters { path_prefix: Some("/blog/".into()), ..Filters::default() }, &long));
    long.url.path = Some(format!("/blog/{}", "a".repeat(4090)));
    assert!(matches(Filters { path_prefix: Some("/blog/".into()), ..Filters::default() }, &long));
}

#[test]
fn time_bounds_apply_only_when_given_on_whole_milliseconds() {
    let doc = rich(); // 10:00:00.0005: the stores keep 10:00:00.000
    let m = |from: Option<&str>, to: Option<&str>| {
        Matcher::new(Filters::default(), from.map(at), to.map(at)).matches(&event(doc.clone()))
    };
    assert!(m(None, None));
    assert!(m(Some("2026-11-26T10:00:00Z"), None));
    assert!(!m(Some("2026-11-26T10:00:00.0001Z"), None), "from rounds up to .001");
    assert!(!m(None, Some("2026-11-26T10:00:00Z")));
    assert!(m(None, Some("2026-11-26T10:00:00.0001Z")), "to rounds up to .001");
}
