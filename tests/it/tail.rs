//! `/v1/logs/tail` as a client meets it: the real service on the embedded store, documents delivered
//! through the Firehose endpoint, the stream read by [`EventStream`], a reader of the HTML standard's
//! `text/event-stream` rules written here (not firesight's writer). The documents a stream sends are
//! compared with what `/v1/logs` finds for the same filters: the store is the truth.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::Value;

use crate::dataset::geolite2_city;
use crate::firehose_client::FirehoseClient;
use crate::harness::{TestApp, real_log_lines};

/// One dispatched event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    /// The stream's last event id when the event was dispatched.
    pub id: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("{} data is not JSON ({e}): {}", self.event, self.data))
    }
}

pub enum Step {
    Event(SseEvent),
    /// Nothing dispatched within the wait.
    Idle,
    /// The server ended the stream.
    End,
}

/// A `text/event-stream` reader: lines end with CRLF, LF or CR; `:` starts a comment; `data` lines
/// join with LF; `id` sets the last event id (also on a message without data, which dispatches no
/// event); an empty line dispatches.
pub struct EventStream {
    response: reqwest::Response,
    text: String,
    pub last_id: String,
    pub comments: Vec<String>,
    pub retry: Option<u64>,
    event: String,
    data: Option<String>,
    ended: bool,
    /// An event dispatched while waiting for the opening message (a `reset` takes its place).
    queued: Option<SseEvent>,
}

impl EventStream {
    /// Opens `/v1/logs/tail?query`, which must answer 200 with an event stream.
    pub async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> EventStream {
        let response = request(app, query, last_event_id).await;
        assert_eq!(response.status(), 200, "{query}: {:?}", response.text().await);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let mut stream = EventStream {
            response,
            text: String::new(),
            last_id: last_event_id.unwrap_or_default().to_owned(),
            comments: Vec::new(),
            retry: None,
            event: String::new(),
            data: None,
            ended: false,
            queued: None,
        };
        // The first message comes at once and says where the stream starts: an `open` comment, or a
        // `reset` event.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(event) = stream.dispatch_buffered() {
                assert_eq!(event.event, "reset", "an event before the opening message: {event:?}");
                stream.queued = Some(event);
                break;
            }
            if stream.comments.iter().any(|c| c == "open") {
                break;
            }
            let chunk = tokio::time::timeout_at(deadline, stream.response.chunk()).await;
            let bytes = chunk.expect("the opening message in time").unwrap().expect("the stream goes on");
            stream.text.push_str(std::str::from_utf8(&bytes).expect("UTF-8 stream"));
        }
        stream
    }

    /// The next event, waiting at most `wait` for it.
    pub async fn next(&mut self, wait: Duration) -> Step {
        if let Some(event) = self.queued.take() {
            return Step::Event(event);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.dispatch_buffered() {
                return Step::Event(event);
            }
            if self.ended {
                return Step::End;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Step::Idle,
                Ok(Ok(Some(bytes))) => self.text.push_str(std::str::from_utf8(&bytes).expect("UTF-8 stream")),
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(e)) => panic!("reading the stream: {e}"),
            }
        }
    }

    /// Events until `count` arrived (each within `wait`).
    pub async fn take(&mut self, count: usize, wait: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while out.len() < count {
            match self.next(wait).await {
                Step::Event(e) => out.push(e),
                Step::Idle => panic!("{} of {count} events, then nothing for {wait:?}: {out:?}", out.len()),
                Step::End => panic!("{} of {count} events, then the end: {out:?}", out.len()),
            }
        }
        out
    }

    /// Every event until none came for `quiet`.
    pub async fn until_quiet(&mut self, quiet: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Step::Event(e) = self.next(quiet).await {
            out.push(e);
        }
        out
    }

    /// Works through the complete lines received; returns the first event they dispatch.
    fn dispatch_buffered(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.text.find(['\r', '\n'])?;
            // A CR at the very end may be the first half of a CRLF still in flight.
            if self.text.as_bytes()[end] == b'\r' && end + 1 == self.text.len() && !self.ended {
                return None;
            }
            let line: String = self.text[..end].to_owned();
            let skip = if self.text[end..].starts_with("\r\n") { 2 } else { 1 };
            self.text.drain(..end + skip);
            if line.is_empty() {
                let data = self.data.take();
                let event = std::mem::take(&mut self.event);
                match data {
                    Some(mut data) => {
                        if data.ends_with('\n') {
                            data.pop();
                        }
                        let event = if event.is_empty() { "message".to_owned() } else { event };
                        return Some(SseEvent { event, data, id: self.last_id.clone() });
                    }
                    None => continue,
                }
            }
            if let Some(comment) = line.strip_prefix(':') {
                self.comments.push(comment.trim_start().to_owned());
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_str(), ""),
            };
            match field {
                "event" => self.event = value.to_owned(),
                "data" => {
                    let data = self.data.get_or_insert_with(String::new);
                    data.push_str(value);
                    data.push('\n');
                }
                "id" if !value.contains('\0') => self.last_id = value.to_owned(),
                "retry" if value.bytes().all(|b| b.is_ascii_digit()) => self.retry = value.parse().ok(),
                _ => {}
            }
        }
    }
}

async fn request(app: &TestApp, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = app.get(&format!("/v1/logs/tail?{query}"));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.unwrap()
}

/// The service on the embedded store with these settings.
async fn service(settings: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder().set("STORE", "embedded");
    for (key, value) in settings {
        builder = builder.set(key, *value);
    }
    let app = builder.spawn().await;
    app.wait_ready(Duration::from_secs(30)).await;
    app
}

/// An access-log line served now.
fn line(path: &str, status: u16) -> String {
    let now = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S %z");
    format!(
        "203.0.113.7 - - [{now}] \"GET {path} HTTP/1.1\" {status} 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\""
    )
}

/// Lines for `statuses`, paths `/<batch>/<i>`.
fn batch(name: &str, statuses: &[u16]) -> Vec<String> {
    statuses.iter().enumerate().map(|(i, s)| line(&format!("/{name}/{i}"), *s)).collect()
}

async fn deliver(app: &TestApp, request_id: &str, lines: &[String]) {
    let records: Vec<Vec<u8>> = lines.iter().map(|l| format!("{l}\n").into_bytes()).collect();
    let reply = FirehoseClient::new(&app.base).deliver(request_id, &records).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

/// The ids `/v1/logs` finds for `query`, every page.
async fn store_ids(app: &TestApp, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/logs?{query}&size=1000&order=asc");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", url_escape(c)));
        }
        let response = app.get(&path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        ids.extend(page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The `log` events' documents: (event id, document id, path).
fn logs(events: &[SseEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e.event, "log", "{e:?}");
            let doc = e.json();
            (e.id.clone(), doc["id"].as_str().unwrap().to_owned(), doc["url"]["path"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn paths(events: &[SseEvent]) -> Vec<String> {
    logs(events).into_iter().map(|(_, _, path)| path).collect()
}

const WAIT: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_exactly_the_matching_documents_delivered_after_it_connected() {
    let app = service(&[]).await;
    deliver(&app, "before", &batch("first", &[500, 200, 503])).await;
    let before = store_ids(&app, "status=5xx&path_prefix=/first/").await;
    assert_eq!(before.len(), 2);

    let mut tail = EventStream::open(&app, "status=5xx&path_prefix=/first/", None).await;
    assert!(tail.comments.contains(&"open".to_owned()), "{:?}", tail.comments);
    let opened = tail.last_id.clone();
    let (epoch, start) = opened.split_once('-').expect("an id on the opening message");
    assert_eq!(tail.retry, Some(1000));
    let after = batch("first", &[200, 500, 404, 502, 503, 301, 200, 599]);
    // Other paths and statuses than the filter's, in the same delivery.
    let mut delivery = after.clone();
    delivery.push(line("/other/0", 500));
    deliver(&app, "after", &delivery).await;

    let events = tail.take(4, WAIT).await;
    assert_eq!(paths(&events), ["/first/1", "/first/3", "/first/4", "/first/7"]);
    let sent = logs(&events);
    let seqs: Vec<u64> =
        sent.iter().map(|(id, _, _)| id.strip_prefix(&format!("{epoch}-")).unwrap().parse().unwrap()).collect();
    let start: u64 = start.parse().unwrap();
    // Numbered in delivery order after the opening position: 200 at start+1, the 500 at start+2, ...
    assert_eq!(seqs, [start + 2, start + 4, start + 5, start + 8]);
    let doc = events[0].json();
    assert_eq!(doc["http"]["response"]["status_code"], 500);
    assert_eq!(doc["source"]["ip"], "203.0.113.7");
    assert_eq!(doc["firehose"]["request_id"], "after");

    // The store is the truth: what /v1/logs finds now, less what was there before the stream opened.
    let now: BTreeSet<String> = store_ids(&app, "status=5xx&path_prefix=/first/").await.into_iter().collect();
    let expected: BTreeSet<String> = now.difference(&before.into_iter().collect()).cloned().collect();
    let got: BTreeSet<String> = sent.iter().map(|(_, id, _)| id.clone()).collect();
    assert_eq!(got, expected);

    // Firehose retries the delivery: the documents are indexed already, and sent no second time.
    deliver(&app, "after", &delivery).await;
    let again = tail.until_quiet(QUIET).await;
    assert!(again.is_empty(), "a replayed delivery was sent again: {again:?}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("firesight_tail_events_sent_total 4"), "{metrics}");
    assert!(metrics.contains("firesight_tail_streams 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_stream_misses_nothing_and_repeats_nothing() {
    let app = service(&[("TAIL__KEEP_ALIVE_SECS", "1")]).await;
    let mut tail = EventStream::open(&app, "status=5xx", None).await;
    deliver(&app, "one", &batch("one", &[500, 200, 503, 404])).await;
    let first = tail.take(2, WAIT).await;
    assert_eq!(paths(&first), ["/one/0", "/one/2"]);
    let last = first[1].id.clone();
    drop(tail);

    deliver(&app, "two", &batch("two", &[502, 200, 500, 301, 504])).await;
    deliver(&app, "three", &batch("three", &[200, 501])).await;
    let mut resumed = EventStream::open(&app, "status=5xx", Some(&last)).await;
    let missed = resumed.until_quiet(QUIET).await;
    assert_eq!(paths(&missed), ["/two/0", "/two/2", "/two/4", "/three/1"]);
    // What the documents are: exactly those /v1/logs finds for the deliveries made while disconnected.
    let expected: HashSet<String> = store_ids(&app, "status=5xx&path_prefix=/two/")
        .await
        .into_iter()
        .chain(store_ids(&app, "status=5xx&path_prefix=/three/").await)
        .collect();
    assert_eq!(logs(&missed).into_iter().map(|(_, id, _)| id).collect::<HashSet<_>>(), expected);

    // Only non-matching documents next: the keep-alive moves the position past them, so a later resume
    // starts after them.
    deliver(&app, "four", &batch("four", &[200, 200])).await;
    let before = resumed.last_id.clone();
    let moved = tokio::time::timeout(WAIT, async {
        while resumed.last_id == before {
            assert!(matches!(resumed.next(Duration::from_secs(2)).await, Step::Idle));
        }
    })
    .await;
    assert!(moved.is_ok(), "the keep-alive never moved the position past the filtered documents");
    let position = resumed.last_id.clone();
    let (epoch, seq) = position.split_once('-').unwrap();
    let (_, before_seq) = before.split_once('-').unwrap();
    assert_eq!(seq.parse::<u64>().unwrap(), before_seq.parse::<u64>().unwrap() + 2);
    drop(resumed);

    // An id from another process (a restart, another replica): told so, then the stream goes on.
    let flipped = format!("{:08x}-{seq}", u32::from_str_radix(epoch, 16).unwrap() ^ 0xffff_ffff);
    let mut elsewhere = EventStream::open(&app, "status=5xx", Some(&flipped)).await;
    let reset = elsewhere.take(1, WAIT).await.remove(0);
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.json(), serde_json::json!({"reason": "other_process", "last_event_id": flipped}));
    assert_eq!(reset.id, format!("{epoch}-{seq}"), "the stream restarts at the newest position");
    deliver(&app, "five", &batch("five", &[500])).await;
    assert_eq!(paths(&elsewhere.take(1, WAIT).await), ["/five/0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_behind_the_buffer_is_told_how_many_documents_it_missed() {
    let app = service(&[("TAIL__BUFFER", "5")]).await;
    let mut tail = EventStream::open(&app, "", None).await;
    let start = tail.last_id.clone();
    // Twenty documents at once into a buffer of five: the stream had read none of them.
    deliver(&app, "big", &batch("big", &[200; 20])).await;
    let events = tail.take(6, WAIT).await;
    assert_eq!(events[0].event, "lag");
    assert_eq!(events[0].json(), serde_json::json!({"skipped": 15, "reason": "behind"}));
    assert_eq!(paths(&events[1..]), ["/big/15", "/big/16", "/big/17", "/big/18", "/big/19"]);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("firesight_tail_events_skipped_total{reason=\"behind\"} 15"), "{metrics}");
    drop(tail);

    // Resuming from before the buffer: the same count, then what it still holds.
    let mut resumed = EventStream::open(&app, "", Some(&start)).await;
    let events = resumed.take(6, WAIT).await;
    assert_eq!(events[0].json()["skipped"], 15);
    assert_eq!(paths(&events[1..]).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_rate_a_stream_skips_and_counts_then_resumes_after_the_skipped() {
    let app = service(&[("TAIL__MAX_EVENTS_PER_SECOND", "2")]).await;
    let mut tail = EventStream::open(&app, "status=5xx", None).await;
    deliver(&app, "fast", &batch("fast", &[500, 501, 200, 502, 503, 504, 505])).await;
    let events = tail.take(3, WAIT).await;
    assert_eq!(paths(&events[..2]), ["/fast/0", "/fast/1"]);
    assert_eq!(events[2].event, "lag");
    assert_eq!(events[2].json(), serde_json::json!({"skipped": 4, "reason": "rate"}));
    let position = events[2].id.clone();
    drop(tail);
    // The lag's id is past the skipped documents: resuming there repeats none of them.
    deliver(&app, "slow", &batch("slow", &[500])).await;
    let mut resumed = EventStream::open(&app, "status=5xx", Some(&position)).await;
    assert_eq!(paths(&resumed.until_quiet(QUIET).await), ["/slow/0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_limit_are_refused_and_bad_requests_named() {
    let app = service(&[("TAIL__MAX_CLIENTS", "2"), ("TAIL__KEEP_ALIVE_SECS", "1")]).await;
    let one = EventStream::open(&app, "", None).await;
    let _two = EventStream::open(&app, "status=404", None).await;
    let refused = request(&app, "", None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    assert_eq!(refused.headers()["retry-after"], "5");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "too_many_tails");
    assert_eq!(problem["detail"], "at most 2 live tails may be open at once; close one or retry later");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("firesight_tail_streams 2"), "{metrics}");
    // A client that goes away frees its place (noticed at the latest by the next keep-alive).
    drop(one);
    let mut status = 0;
    for _ in 0..50 {
        let response = request(&app, "max_duration=1", None).await;
        status = response.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200);

    let anonymous = app.client.get(app.url("/v1/logs/tail")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(anonymous.json::<Value>().await.unwrap()["code"], "unauthorized");
    for (query, header, field) in [
        ("status=6xx", None, "status"),
        ("max_duration=0", None, "max_duration"),
        ("limit=100001", None, "limit"),
        ("from=now-1h&to=now-2h", None, "from"),
        ("sort=asc", None, "sort"),
        ("", Some("not-an-id"), "Last-Event-ID"),
        ("", Some("3F9A0C1B-1"), "Last-Event-ID"),
    ] {
        let response = request(&app, query, header).await;
        assert_eq!(response.status(), 400, "{query} {header:?}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!((problem["code"].as_str(), problem["field"].as_str()), (Some("invalid_parameter"), Some(field)));
    }
}

/// The tail's in-memory filters against the store's on the real log: for each filter, a stream open
/// while the log is delivered sends exactly the documents `/v1/logs` then finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_filters_as_the_store_does() {
    const FILTERS: [&str; 19] = [
        "status=404",
        "status=3xx&status=500",
        "method=HEAD",
        "path=/favicon.ico&path=/",
        "path_prefix=/presentations/",
        "country=US&country=FR",
        "city=Moscow",
        "browser=Chrome&os=Windows",
        "device=Spider",
        "bot=true",
        "bot=false&status=200",
        "crawler=Googlebot&crawler=msnbot",
        "crawler_category=seo",
        "client_ip=66.249.0.0/16",
        "client_ip=::ffff:83.149.9.0/120",
        "referrer_host=www.google.com",
        "q=googlebot",
        "q=firefox%20linux",
        "from=2015-05-17T12:00:00Z&to=2015-05-17T18:00:00Z&status=200",
    ];
    let city_db = geolite2_city().display().to_string();
    let app = service(&[
        ("GEOIP__CITY_DB", city_db.as_str()),
        ("TAIL__MAX_CLIENTS", "20"),
        ("TAIL__BUFFER", "20000"),
        ("TAIL__MAX_EVENTS_PER_SECOND", "100000"),
    ])
    .await;
    let mut tails = Vec::new();
    for filter in FILTERS {
        tails.push(EventStream::open(&app, filter, None).await);
    }
    let lines: Vec<String> = real_log_lines().into_iter().take(4000).collect();
    for (i, chunk) in lines.chunks(500).enumerate() {
        deliver(&app, &format!("real-{i}"), chunk).await;
    }
    let read = tails.iter_mut().map(|tail| tail.until_quiet(Duration::from_secs(3)));
    let streams = futures::future::join_all(read).await;
    for (filter, events) in FILTERS.iter().zip(streams) {
        let sent: Vec<String> = logs(&events).into_iter().map(|(_, id, _)| id).collect();
        let unique: BTreeSet<String> = sent.iter().cloned().collect();
        assert_eq!(unique.len(), sent.len(), "{filter}: a document sent twice");
        let range = if filter.contains("from=") { "" } else { "from=2015-05-01T00:00:00Z&to=2015-06-01T00:00:00Z&" };
        let truth: BTreeSet<String> = store_ids(&app, &format!("{range}{filter}")).await.into_iter().collect();
        assert!(
            !truth.is_empty() && truth.len() < lines.len(),
            "{filter}: {} documents, a filter that tells nothing",
            truth.len()
        );
        assert_eq!(
            unique.len(),
            truth.len(),
            "{filter}: the tail sent {} documents, the store finds {}",
            unique.len(),
            truth.len()
        );
        assert_eq!(unique, truth, "{filter}");
        println!("{filter}: {} documents", truth.len());
    }
}
