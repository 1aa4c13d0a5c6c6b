//! Parser tests against real logs (copied under `tests/fixtures/access_logs/`, see its README) and
//! hand-written JSON records.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;
use crate::document::{
    Destination, Device, Event, Firesight, Geo, GeoPoint, Http, HttpRequest, HttpResponse, Os, ResponseBody, Source,
    Url, User, UserAgent,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/access_logs");

fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn elastic_log() -> String {
    fixture("elastic_examples_apache_logs.log")
}

/// The 1-based line `n` of the real log.
fn elastic_line(log: &str, n: usize) -> &str {
    log.lines().nth(n - 1).expect("line exists")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test timestamp").with_timezone(&Utc)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn parsed(line: &str) -> LogDocument {
    parse_line(line).unwrap_or_else(|e| panic!("{line:?} did not parse: {e}"))
}

#[test]
fn every_line_of_the_real_log_parses_but_the_truncated_one() {
    let log = elastic_log();
    let mut failures = Vec::new();
    for (i, line) in log.lines().enumerate() {
        if let Err(e) = parse_line(line) {
            failures.push((i + 1, e));
        }
    }
    assert_eq!(failures, [(8899, ParseError::Unterminated("user agent"))]);
    assert_eq!(failures[0].1.to_string(), "unterminated quoted user agent");
    assert_eq!(log.lines().count(), 10_000);
}

#[test]
fn parsing_an_owned_line_gives_the_same_document() {
    let log = elastic_log();
    let nginx = fixture("edge_cases/elastic-beats/nginx_access_test.log");
    let mut lines: Vec<String> = log.lines().chain(nginx.lines()).map(str::to_owned).collect();
    lines.extend(["", " \r\n", "1.2.3.4 - - [bad] \"GET / HTTP/1.1\" 200 1\r\n"].map(str::to_owned));
    lines.push(format!("{}\n", elastic_line(&log, 1)));
    lines.push(r#"{"host":"64.242.88.10","datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1","response":"200","bytes":"6291"}"#.to_owned());
    lines.push(r#"{"time":"2024-05-10T10:34:56Z","method":"get","protocol":"HTTP/2.0","url":"/a.PNG"}"#.to_owned());
    for line in lines {
        match (parse_line(&line), parse_owned(line.clone())) {
            (Ok(by_ref), Ok(owned)) => assert_eq!(by_ref, owned, "{line:?}"),
            (Err(by_ref), Err((owned, given_back))) => {
                assert_eq!((by_ref, given_back.as_str()), (owned, line.as_str()))
            }
            (by_ref, owned) => panic!("{line:?}: {by_ref:?} but {owned:?}"),
        }
    }
}

#[test]
fn first_line_of_the_real_log_field_by_field() {
    let log = elastic_log();
    let line = elastic_line(&log, 1);
    let expected = LogDocument {
        timestamp: utc("2015-05-17T10:05:03Z"),
        event: Event {
            original: line.to_owned(),
            ..Event::default()
        },
        source: Source {
            ip: Some(ip("83.149.9.216")),
            address: Some("83.149.9.216".into()),
            ..Source::default()
        },
        http: Http {
            version: Some("1.1".into()),
            request: HttpRequest {
                method: Some("GET".into()),
                referrer: Some("http://semicomplete.com/presentations/logstash-monitorama-2013/".into()),
            },
            response: HttpResponse {
                status_code: Some(200),
                body: ResponseBody { bytes: Some(203_023) },
            },
        },
        url: Url {
            original: Some("/presentations/logstash-monitorama-2013/images/kibana-search.png".into()),
            path: Some("/presentations/logstash-monitorama-2013/images/kibana-search.png".into()),
            query: None,
            extension: Some("png".into()),
        },
        user_agent: Some(UserAgent {
            original: Some(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"
                    .into(),
            ),
            ..UserAgent::default()
        }),
        firesight: Firesight {
            status_class: Some("2xx".into()),
            referrer_host: Some("semicomplete.com".into()),
            record_format: Some("combined".into()),
            ..Firesight::default()
        },
        ..LogDocument::default()
    };
    assert_eq!(parsed(line), expected);
}

#[test]
fn dash_referrer_and_user_agent_are_absent() {
    let log = elastic_log();
    let doc = parsed(elastic_line(&log, 44));
    assert_eq!(doc.http.request.referrer, None);
    assert_eq!(doc.firesight.referrer_host, None);
    assert_eq!(doc.user_agent, None);
    assert_eq!(doc.user, None);
    assert_eq!(doc.url.path.as_deref(), Some("/reset.css"));
    assert_eq!(doc.url.extension.as_deref(), Some("css"));
    assert_eq!(doc.http.response.body.bytes, Some(1015));
    assert_eq!(doc.source.ip, Some(ip("200.49.190.101")));
}

#[test]
fn escaped_bytes_in_the_referrer_are_kept_as_written() {
    let log = elastic_log();
    let referrer = r"http://\xe4\xe5\xe3\xf2\xff\xf0\xed\xee\xe5-\xec\xfb\xeb\xee.\xf0\xf4/";
    for (n, client, ua) in [
        (5851, "201.242.142.135", "Mozilla/5.0 (Windows NT 6.1; rv:11.0) Gecko/20100101 Firefox/11.0"),
        (
            5853,
            "186.93.30.106",
            "Mozilla/5.0 (iPad; CPU OS 6_0_1 like Mac OS X) AppleWebKit/536.26 (KHTML, like Gecko) Version/6.0 Mobile/10A523 Safari/8536.25",
        ),
        (5860, "186.93.16.149", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"),
    ] {
        let doc = parsed(elastic_line(&log, n));
        assert_eq!(doc.http.request.referrer.as_deref(), Some(referrer), "line {n}");
        assert_eq!(
            doc.firesight.referrer_host.as_deref(),
            Some(r"\xe4\xe5\xe3\xf2\xff\xf0\xed\xee\xe5-\xec\xfb\xeb\xee.\xf0\xf4"),
            "line {n}"
        );
        assert_eq!(doc.source.address.as_deref(), Some(client), "line {n}");
        assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some(ua), "line {n}");
        assert_eq!(doc.url.original.as_deref(), Some("/files/logstash/"), "line {n}");
        assert_eq!(doc.http.version.as_deref(), Some("1.0"), "line {n}");
    }
}

#[test]
fn odd_lines_of_the_real_log() {
    let log = elastic_log();
    // OPTIONS answered with a 500.
    let doc = parsed(elastic_line(&log, 9158));
    assert_eq!(doc.http.request.method.as_deref(), Some("OPTIONS"));
    assert_eq!(doc.http.response.status_code, Some(500));
    assert_eq!(doc.firesight.status_class.as_deref(), Some("5xx"));
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some("Microsoft Office Protocol Discovery"));

    // Size `-`, and a user agent with `#` and no blank before its parenthesis.
    let doc = parsed(elastic_line(&log, 77));
    assert_eq!(doc.http.response.body.bytes, Some(0));
    assert_eq!(
        doc.user_agent.and_then(|ua| ua.original).as_deref(),
        Some("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)")
    );

    // A query string in the request and in the referrer.
    let doc = parsed(elastic_line(&log, 32));
    assert_eq!(doc.url.original.as_deref(), Some("/blog/tags/puppet?flav=rss20"));
    assert_eq!(doc.url.path.as_deref(), Some("/blog/tags/puppet"));
    assert_eq!(doc.url.query.as_deref(), Some("flav=rss20"));
    assert_eq!(doc.url.extension, None);
    assert_eq!(doc.firesight.referrer_host.as_deref(), Some("www.semicomplete.com"));

    // A POST whose user agent is `-`.
    let doc = parsed(elastic_line(&log, 5649));
    assert_eq!(doc.http.request.method.as_deref(), Some("POST"));
    assert_eq!(doc.user_agent, None);
    assert_eq!(doc.url.extension, None, "the last segment is `trackback`, after a slash");
}

/// Counts computed with a plain `split(' ')`, which works on this log because it has no blanks before
/// the request, against what the parser says.
#[test]
fn real_log_counts_agree_with_a_naive_split() {
    let log = elastic_log();
    let mut naive_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut naive_method: BTreeMap<String, usize> = BTreeMap::new();
    let mut naive_bytes = 0u64;
    let mut naive_dash_dash = 0;
    let mut naive_clients = HashSet::new();
    let mut parsed_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut parsed_method: BTreeMap<String, usize> = BTreeMap::new();
    let mut parsed_bytes = 0u64;
    let mut parsed_dash_dash = 0;
    let mut parsed_clients = HashSet::new();
    let mut user_agents = HashSet::new();
    let (mut first, mut last) = (utc("2100-01-01T00:00:00Z"), utc("1970-01-01T00:00:00Z"));

    for line in log.lines() {
        let Ok(doc) = parse_line(line) else { continue };
        let parts: Vec<&str> = line.split(' ').collect();
        *naive_status.entry(parts[8].to_owned()).or_default() += 1;
        *naive_method.entry(parts[5].trim_start_matches('"').to_owned()).or_default() += 1;
        naive_bytes += parts[9].parse::<u64>().unwrap_or(0);
        naive_dash_dash += usize::from(line.ends_with(r#" "-" "-""#));
        naive_clients.insert(parts[0].to_owned());

        *parsed_status.entry(doc.http.response.status_code.map(|s| s.to_string()).unwrap_or_default()).or_default() +=
            1;
        *parsed_method.entry(doc.http.request.method.as_deref().unwrap_or_default().to_owned()).or_default() += 1;
        parsed_bytes += doc.http.response.body.bytes.unwrap_or_default();
        parsed_dash_dash += usize::from(doc.http.request.referrer.is_none() && doc.user_agent.is_none());
        parsed_clients.insert(doc.source.ip.map(|ip| ip.to_string()).unwrap_or_default());
        if let Some(ua) = doc.user_agent.and_then(|ua| ua.original) {
            user_agents.insert(ua);
        }
        first = first.min(doc.timestamp);
        last = last.max(doc.timestamp);
    }
    assert_eq!(parsed_status, naive_status);
    assert_eq!(parsed_status["200"], 9125, "9,126 lines say 200, one of them is the truncated line");
    assert_eq!(parsed_status["404"], 213);
    assert_eq!(parsed_method, naive_method);
    assert_eq!(parsed_bytes, naive_bytes);
    assert_eq!(parsed_dash_dash, naive_dash_dash);
    assert_eq!(parsed_dash_dash, 187);
    assert_eq!(parsed_clients, naive_clients);
    assert_eq!(parsed_clients.len(), 1753);
    assert_eq!(user_agents.len(), 558 - 1, "the data README's 558 counts `-` as one");
    assert_eq!((first, last), (utc("2015-05-17T10:05:00Z"), utc("2015-05-20T21:05:59Z")));
}

/// The nginx edge cases against Filebeat's expected parse, for every field both have. Deliberate
/// differences, normalised below: Filebeat (this ECS 1.0 version of the module) keeps `-` in
/// `user.name`, `http.request.referrer` and `user_agent.original`, where the document leaves the field
/// out (Filebeat's later versions drop them too); and `source.ip` is compared as an address, since the
/// document's `IpAddr` writes `2a03:0:10ff:f00f::8000` for the `2a03:0000:10ff:f00f:0000:0000:0:8000`
/// of the line (`source.address` keeps it as written).
#[test]
fn nginx_edge_cases_match_filebeat() {
    const COMPARED: &[&str] = &[
        "@timestamp",
        "source.ip",
        "source.address",
        "source.domain",
        "http.version",
        "http.request.method",
        "http.request.referrer",
        "http.response.status_code",
        "http.response.body.bytes",
        "url.original",
        "user_agent.original",
        "user.name",
    ];
    let lines = fixture("edge_cases/elastic-beats/nginx_access_test.log");
    let expected: Vec<BTreeMap<String, Value>> =
        serde_json::from_str(&fixture("edge_cases/elastic-beats/nginx_access_test.log-expected.json"))
            .expect("expected JSON");
    assert_eq!(lines.lines().count(), expected.len());

    for (n, (line, filebeat)) in lines.lines().zip(&expected).enumerate() {
        let doc = parsed(line);
        let ours = dotted(&serde_json::to_value(&doc).expect("serialises"));
        for &field in COMPARED {
            let want = filebeat.get(field).filter(|v| !(v.as_str() == Some("-") && field != "source.address"));
            let got = ours.get(field);
            match (field, want, got) {
                ("source.ip", Some(Value::String(w)), Some(Value::String(g))) => {
                    assert_eq!(ip(g), ip(w), "line {} {field}", n + 1)
                }
                ("@timestamp", Some(Value::String(w)), Some(Value::String(g))) => {
                    assert_eq!(utc(g), utc(w), "line {} {field}", n + 1)
                }
                _ => assert_eq!(got, want, "line {} {field}", n + 1),
            }
        }
        assert_eq!(
            doc.firesight.forwarded_for.len(),
            filebeat["nginx.access.remote_ip_list"].as_array().map_or(0, |list| if list.len() > 1 {
                list.len()
            } else {
                0
            }),
            "line {}",
            n + 1
        );
    }
}

/// A serialised document as `{"a.b.c": leaf}`.
fn dotted(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&path, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

#[test]
fn nginx_forwarded_for_lists() {
    let lines = fixture("edge_cases/elastic-beats/nginx_access_test.log");
    let docs: Vec<LogDocument> = lines.lines().map(parsed).collect();
    assert_eq!(docs[0].firesight.forwarded_for, ["10.0.0.2", "10.0.0.1", "127.0.0.1"]);
    assert_eq!(docs[1].firesight.forwarded_for, Vec::<String>::new(), "the trailing \"-\" is not read");
    assert_eq!(docs[4].firesight.forwarded_for, ["10.5.102.222", "199.96.1.1", "204.246.1.1", "10.2.1.185"]);
    assert_eq!(docs[4].url.query.as_deref(), Some("q=100"));
    assert_eq!(docs[5].source.ip, Some(ip("2a03:0:10ff:f00f::8000")));
    assert_eq!(docs[5].source.address.as_deref(), Some("2a03:0000:10ff:f00f:0000:0000:0:8000"));
    // The empty request: a status, no request parts.
    assert_eq!((docs[6].http.request.method.as_ref(), docs[6].url.original.as_ref()), (None, None));
    assert_eq!(docs[6].http.response.status_code, Some(400));
    assert!(docs.iter().all(|d| d.destination.is_none()));
    assert!(docs.iter().all(|d| d.firesight.record_format.as_deref() == Some("combined")));
}

#[test]
fn apache_edge_cases() {
    let lines = fixture("edge_cases/elastic-beats/apache_access_test.log");
    let docs: Vec<LogDocument> = lines.lines().map(parsed).collect();
    assert_eq!(docs.len(), 7);

    // Common format, IPv6 loopback client.
    assert_eq!(docs[0].source.ip, Some(ip("::1")));
    assert_eq!(docs[0].timestamp, utc("2016-12-26T14:16:29Z"));
    assert_eq!(docs[0].firesight.record_format.as_deref(), Some("common"));
    assert_eq!((docs[0].http.request.referrer.as_ref(), docs[0].user_agent.as_ref()), (None, None));
    assert_eq!(docs[0].http.response.body.bytes, Some(209));
    assert_eq!(docs[0].url.extension.as_deref(), Some("ico"));

    assert_eq!(docs[1].firesight.record_format.as_deref(), Some("combined"));
    assert_eq!(docs[1].url.path.as_deref(), Some("/hello"));

    // `"-"` request timed out: no request parts, size `-`.
    assert_eq!(docs[2].http.response.status_code, Some(408));
    assert_eq!(docs[2].http.response.body.bytes, Some(0));
    assert_eq!((docs[2].http.request.method.as_ref(), docs[2].http.version.as_ref()), (None, None));
    assert_eq!(docs[2].url, Url::default());
    assert_eq!(docs[2].firesight.status_class.as_deref(), Some("4xx"));

    // A host name as client.
    assert_eq!(
        docs[4].source,
        Source {
            address: Some("monitoring-server".into()),
            domain: Some("monitoring-server".into()),
            ..Source::default()
        }
    );
    assert_eq!(docs[4].destination, None);

    assert_eq!(docs[5].http.response.body.bytes, Some(152));
    assert_eq!(docs[5].user_agent, None);

    // Virtual-host prefix.
    assert_eq!(docs[6].destination, Some(Destination { domain: Some("vhost1.domaine.fr".into()), port: None }));
    assert_eq!(docs[6].source.ip, Some(ip("123.123.123.123")));
    assert_eq!(docs[6].source.address.as_deref(), Some("123.123.123.123"));
    assert_eq!(docs[6].timestamp, utc("2019-07-04T07:20:46Z"));
    assert_eq!(docs[6].http.response.body.bytes, Some(32953));
}

#[test]
fn other_text_variants() {
    let doc = parsed(
        r#"example.com:80 81.2.69.142 - alice [10/Oct/2000:13:55:36 -0700] "get /a%20b/c.JPG?x=%22 HTTP/2.0" 304 - "https://Search.Example.org/?q=x" "UA with \"quotes\" inside""#,
    );
    assert_eq!(doc.destination, Some(Destination { domain: Some("example.com".into()), port: Some(80) }));
    assert_eq!(doc.source.ip, Some(ip("81.2.69.142")));
    assert_eq!(doc.user, Some(User { name: Some("alice".into()) }));
    assert_eq!(doc.timestamp, utc("2000-10-10T20:55:36Z"));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.http.version.as_deref(), Some("2.0"));
    assert_eq!(doc.url.path.as_deref(), Some("/a%20b/c.JPG"));
    assert_eq!(doc.url.query.as_deref(), Some("x=%22"));
    assert_eq!(doc.url.extension.as_deref(), Some("jpg"));
    assert_eq!(doc.http.response.body.bytes, Some(0));
    assert_eq!(doc.firesight.referrer_host.as_deref(), Some("search.example.org"));
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some(r#"UA with \"quotes\" inside"#));

    // A TLS handshake sent to the HTTP port.
    let doc = parsed(
        r#"81.2.69.142 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" 400 173 "-" "-""#,
    );
    assert_eq!((doc.http.request.method, doc.url.original), (None, None));
    assert_eq!(doc.http.response.status_code, Some(400));

    // Windows line end, leading blanks, and what follows the user agent.
    let line = "  81.2.69.142 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8.0\" \"1.2.3.4\" 0.004\r\n";
    let doc = parsed(line);
    assert_eq!(doc.event.original, line.trim_end());
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some("curl/8.0"));
    assert_eq!(doc.firesight.forwarded_for, Vec::<String>::new());

    // Raw bytes that are not UTF-8 are replaced, not refused.
    let mut bytes = br#"81.2.69.142 - - [10/Oct/2000:13:55:36 -0700] "GET /caf"#.to_vec();
    bytes.extend_from_slice(&[0xe9]);
    bytes.extend_from_slice(br#" HTTP/1.1" 200 5 "-" "-""#);
    let doc = parse_bytes(&bytes).expect("lossy UTF-8 parses");
    assert_eq!(doc.url.original.as_deref(), Some("/caf\u{fffd}"));
}

#[test]
fn text_errors_say_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        ("", "empty line"),
        ("   \t ", "empty line"),
        ("\r\n", "empty line"),
        ("garbage", "no [timestamp] found"),
        ("[10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5", "no [timestamp] found"),
        (
            "1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5",
            "expected 'client ident authuser' before the timestamp",
        ),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700", "unterminated timestamp (no closing ']')"),
        (
            "1.2.3.4 - - [32/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5",
            "bad timestamp '32/Oct/2000:13:55:36 -0700'",
        ),
        ("1.2.3.4 - - [yesterday] \"GET / HTTP/1.1\" 200 5", "bad timestamp 'yesterday'"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] GET / 200 5", "missing quoted request after the timestamp"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1", "unterminated quoted request"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\"", "missing status"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 2x0 5", "status is not a number: '2x0'"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 70000 5", "status is not a number: '70000'"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200", "missing response size"),
        ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5k", "response size is not a number: '5k'"),
        (
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"http://x",
            "unterminated quoted referrer",
        ),
        (
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"Mozilla",
            "unterminated quoted user agent",
        ),
    ];
    for (line, reason) in cases {
        let err = parse_line(line).expect_err(line);
        assert_eq!(err.to_string(), *reason, "{line:?}");
    }
    let long = format!("1.2.3.4 - - [{}] \"GET / HTTP/1.1\" 200 5", "9".repeat(500));
    let reason = parse_line(&long).expect_err("bad timestamp").to_string();
    assert!(reason.len() < 100, "{reason}");
    assert_eq!(ParseError::Unterminated("user agent").code(), "unterminated");
}

#[test]
fn cut_lines_never_panic() {
    let log = elastic_log();
    let nginx = fixture("edge_cases/elastic-beats/nginx_access_test.log");
    let apache = fixture("edge_cases/elastic-beats/apache_access_test.log");
    let mut lines: Vec<&str> = nginx.lines().chain(apache.lines()).collect();
    lines.extend([1, 44, 5851, 8899, 9158].map(|n| elastic_line(&log, n)));
    lines.push(r#"{"host":"64.242.88.10","ident":null,"authuser":null,"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1","response":"200","bytes":"6291"}"#);
    lines.push(r#"ü"ö [ü] "ä\" ü 1 2 "ö"#);
    for line in lines {
        for (cut, _) in line.char_indices() {
            let _ = parse_line(&line[..cut]);
            let _ = parse_line(&line[cut..]);
        }
    }
}

#[test]
fn kinesis_agent_records() {
    // The agent's documented example (COMMONAPACHELOG with referrer and agent added as `-`).
    let record = r#"{"host":"64.242.88.10","ident":null,"authuser":null,"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET /mailman/listinfo/hsdivision HTTP/1.1","response":"200","bytes":"6291","referrer":"-","agent":"-"}"#;
    let doc = parsed(record);
    assert_eq!(doc.timestamp, utc("2004-03-08T00:10:02Z"));
    assert_eq!(doc.event.original, record);
    assert_eq!(doc.source.ip, Some(ip("64.242.88.10")));
    assert_eq!(doc.source.address.as_deref(), Some("64.242.88.10"));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.url.path.as_deref(), Some("/mailman/listinfo/hsdivision"));
    assert_eq!(doc.http.version.as_deref(), Some("1.1"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(200), Some(6291)));
    assert_eq!((doc.http.request.referrer.as_ref(), doc.user_agent.as_ref(), doc.user.as_ref()), (None, None, None));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("kinesis_agent_json"));
    assert_eq!(doc.firesight.status_class.as_deref(), Some("2xx"));
    assert!(doc.extra.is_empty());

    // COMBINEDAPACHELOG as the agent's parser names it (`referer`), `-` written as strings, a user.
    let record = r#"{"host":"81.2.69.142","ident":"-","authuser":"bob","datetime":"17/May/2015:10:05:03 +0000","request":"POST /login HTTP/1.0","response":"302","bytes":null,"referer":"https://www.example.com/","agent":"Mozilla/5.0 (X11; Linux x86_64)"}"#;
    let doc = parsed(record);
    assert_eq!(doc.user, Some(User { name: Some("bob".into()) }));
    assert_eq!(doc.http.response.body.bytes, Some(0), "`-` size, nulled by the agent, is 0");
    assert_eq!(doc.http.request.referrer.as_deref(), Some("https://www.example.com/"));
    assert_eq!(doc.firesight.referrer_host.as_deref(), Some("www.example.com"));
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some("Mozilla/5.0 (X11; Linux x86_64)"));
    assert_eq!(doc.firesight.status_class.as_deref(), Some("3xx"));

    let cases: &[(&str, &str)] = &[
        (
            r#"{"host":"1.2.3.4","datetime":"07/Mar/2004:16:10:02","request":"GET / HTTP/1.1","response":"200"}"#,
            "bad timestamp '07/Mar/2004:16:10:02'",
        ),
        (r#"{"host":"1.2.3.4","datetime":null,"request":"GET / HTTP/1.1","response":"200"}"#, "missing datetime"),
        (
            r#"{"host":"1.2.3.4","datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1","response":"OK"}"#,
            "status is not a number: 'OK'",
        ),
        (
            r#"{"host":"1.2.3.4","datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1","response":"200","bytes":"12b"}"#,
            "response size is not a number: '12b'",
        ),
        (
            r#"{"host":["1.2.3.4"],"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1"}"#,
            "field 'host' is not a string",
        ),
    ];
    for (record, reason) in cases {
        assert_eq!(parse_line(record).expect_err(record).to_string(), *reason, "{record}");
    }
}

#[test]
fn lambda_json_with_ecs_nested_fields() {
    let record = json!({
        "@timestamp": "2024-03-01T12:00:00.250Z",
        "source": {
            "ip": "81.2.69.142",
            "geo": { "country_iso_code": "GB", "city_name": "London", "location": { "lat": 51.5142, "lon": -0.0931 } },
            "as": { "number": 20712, "organization": { "name": "Andrews & Arnold Ltd" } },
            "port": 51234
        },
        "http": {
            "request": { "method": "get", "referrer": "https://www.google.com/" },
            "response": { "status_code": 404, "body": { "bytes": 512 } },
            "version": "2.0"
        },
        "url": { "original": "/missing/page.HTML?utm_source=x", "domain": "www.example.com" },
        "user_agent": { "original": "Mozilla/5.0 (iPhone)", "name": "Mobile Safari", "os": { "name": "iOS" }, "device": { "name": "iPhone" } },
        "event": { "dataset": "nginx.access", "module": "nginx" },
        "lambda": { "version": "3" }
    })
    .to_string();
    let doc = parsed(&record);
    assert_eq!(doc.timestamp, utc("2024-03-01T12:00:00.250Z"));
    assert_eq!(doc.event.original, record);
    assert_eq!(doc.event.dataset.as_deref(), Some("nginx.access"));
    assert_eq!(doc.source.ip, Some(ip("81.2.69.142")));
    assert_eq!(doc.source.address.as_deref(), Some("81.2.69.142"));
    let geo = doc.source.geo.clone().expect("geo kept");
    assert_eq!(geo.country_iso_code.as_deref(), Some("GB"));
    assert_eq!(geo.city_name.as_deref(), Some("London"));
    assert_eq!(geo.location, Some(GeoPoint { lat: 51.5142, lon: -0.0931 }));
    assert_eq!(doc.source.asn.as_ref().and_then(|a| a.number), Some(20712));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.http.version.as_deref(), Some("2.0"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(404), Some(512)));
    assert_eq!(doc.url.path.as_deref(), Some("/missing/page.HTML"));
    assert_eq!(doc.url.query.as_deref(), Some("utm_source=x"));
    assert_eq!(doc.url.extension.as_deref(), Some("html"));
    assert_eq!(
        doc.user_agent,
        Some(UserAgent {
            original: Some("Mozilla/5.0 (iPhone)".into()),
            name: Some("Mobile Safari".into()),
            version: None,
            os: Some(Arc::new(Os { name: Some("iOS".into()), ..Os::default() })),
            device: Some(Arc::new(Device { name: Some("iPhone".into()) })),
        })
    );
    assert_eq!(doc.firesight.status_class.as_deref(), Some("4xx"));
    assert_eq!(doc.firesight.referrer_host.as_deref(), Some("www.google.com"));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("json"));
    // Unmapped fields under the document's own names become dotted keys; the rest stays as it came.
    let extra: BTreeSet<&str> = doc.extra.keys().map(String::as_str).collect();
    assert_eq!(extra, BTreeSet::from(["event.module", "lambda", "source.port", "url.domain"]));
    assert_eq!(doc.extra["lambda"], json!({ "version": "3" }));
    assert_eq!(doc.extra["source.port"], json!(51234));

    // The document serialises without writing a top-level name twice.
    let text = serde_json::to_string(&doc).expect("serialises");
    let keys = serde_json::from_str::<TopLevelKeys>(&text).expect("JSON object").0;
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
}

/// Every top-level key of a JSON object in order, duplicates included (a `Map` would merge them).
struct TopLevelKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for TopLevelKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = TopLevelKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TopLevelKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(TopLevelKeys(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Filebeat's own output is an ECS document with dotted keys: read back, it gives the same fields as
/// the line it came from.
#[test]
fn lambda_json_with_dotted_ecs_keys() {
    let lines = fixture("edge_cases/elastic-beats/nginx_access_test.log");
    let expected: Vec<Value> =
        serde_json::from_str(&fixture("edge_cases/elastic-beats/nginx_access_test.log-expected.json"))
            .expect("expected JSON");
    for (line, filebeat) in lines.lines().zip(&expected) {
        let from_line = parsed(line);
        let from_json = parsed(&filebeat.to_string());
        assert_eq!(from_json.timestamp, from_line.timestamp, "{line}");
        assert_eq!(from_json.source.ip, from_line.source.ip, "{line}");
        assert_eq!(from_json.source.address, from_line.source.address, "{line}");
        assert_eq!(from_json.http, from_line.http, "{line}");
        assert_eq!(from_json.url, from_line.url, "{line}");
        assert_eq!(from_json.user, from_line.user, "{line}");
        assert_eq!(
            from_json.user_agent.as_ref().and_then(|ua| ua.original.as_ref()),
            from_line.user_agent.as_ref().and_then(|ua| ua.original.as_ref()),
            "{line}"
        );
        assert_eq!(from_json.event.dataset.as_deref(), Some("nginx.access"));
        assert_eq!(from_json.extra["nginx.access.remote_ip_list"], filebeat["nginx.access.remote_ip_list"]);
        assert!(!from_json.extra.contains_key("source.geo.city_name"));
        assert!(!from_json.extra.keys().any(|k| k.starts_with("user_agent.")));
    }
    let berlin = parsed(&expected[2].to_string());
    assert_eq!(
        berlin.source.geo,
        Some(Arc::new(Geo {
            continent_name: Some("Europe".into()),
            country_iso_code: Some("DE".into()),
            region_iso_code: Some("DE-BE".into()),
            region_name: Some("Land Berlin".into()),
            city_name: Some("Berlin".into()),
            location: Some(GeoPoint { lat: 52.4908, lon: 13.3275 }),
            ..Geo::default()
        }))
    );
    assert_eq!(
        berlin.user_agent.and_then(|ua| ua.os).and_then(|os| os.full.clone()).as_deref(),
        Some("Mac OS X 10.12")
    );
}

#[test]
fn lambda_json_with_flat_fields() {
    let record = json!({
        "time": 1715337296123u64,
        "remote_addr": "10.0.3.7",
        "x_forwarded_for": "203.0.113.9, 10.0.0.5",
        "method": "POST",
        "uri": "/api/v1/orders?id=7",
        "protocol": "HTTP/1.1",
        "status": "201",
        "body_bytes_sent": 88,
        "http_referer": "-",
        "http_user_agent": "okhttp/4.9.0",
        "request_time": 0.042,
        "country": "US",
        "city": "Ashburn",
        "browser": "okhttp",
        "os": "Android",
        "device": "Other",
        "geoip": { "country_code2": "US", "location": { "lat": 39.0, "lon": -77.5 } },
        "host": "api.example.com"
    });
    let doc = parsed(&record.to_string());
    assert_eq!(doc.timestamp, utc("2024-05-10T10:34:56.123Z"));
    assert_eq!(doc.source.ip, Some(ip("203.0.113.9")));
    assert_eq!(doc.source.address.as_deref(), Some("203.0.113.9"));
    assert_eq!(doc.firesight.forwarded_for, ["203.0.113.9", "10.0.0.5", "10.0.3.7"]);
    assert_eq!(doc.http.request.method.as_deref(), Some("POST"));
    assert_eq!(doc.http.version.as_deref(), Some("1.1"));
    assert_eq!(doc.url.original.as_deref(), Some("/api/v1/orders?id=7"));
    assert_eq!(doc.url.path.as_deref(), Some("/api/v1/orders"));
    assert_eq!(doc.url.query.as_deref(), Some("id=7"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(201), Some(88)));
    assert_eq!(doc.http.request.referrer, None);
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some("okhttp/4.9.0"));
    assert_eq!(doc.source.geo, None, "a Lambda's flat geo is not ECS: kept in extra");
    let mut want = record.as_object().cloned().expect("object");
    for mapped in [
        "time",
        "remote_addr",
        "x_forwarded_for",
        "method",
        "uri",
        "protocol",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ] {
        want.remove(mapped);
    }
    assert_eq!(doc.extra, want);

    // A request line instead of separate fields, epoch seconds, a host name as client.
    let doc = parsed(
        &json!({"timestamp": 1431857103, "ip": "crawler.example.net", "request": "GET /feed.xml HTTP/1.0", "response": 200, "bytes": "-", "user_agent": "Feedly/1.0"})
            .to_string(),
    );
    assert_eq!(doc.timestamp, utc("2015-05-17T10:05:03Z"));
    assert_eq!((doc.source.ip, doc.source.domain.as_deref()), (None, Some("crawler.example.net")));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.url.extension.as_deref(), Some("xml"));
    assert_eq!(doc.http.version.as_deref(), Some("1.0"));
    assert_eq!(doc.http.response.body.bytes, Some(0));
    assert!(doc.extra.is_empty(), "{:?}", doc.extra);

    // Path and query given apart; a `source` that is not ECS.
    let doc = parsed(&json!({"date": "2024-01-02 03:04:05", "path": "/a/b.css", "query_string": "v=2", "status": 200, "source": "cloudfront"}).to_string());
    assert_eq!(doc.timestamp, utc("2024-01-02T03:04:05Z"));
    assert_eq!(doc.url.original.as_deref(), Some("/a/b.css?v=2"));
    assert_eq!(doc.url.extension.as_deref(), Some("css"));
    assert_eq!(doc.extra["source_value"], json!("cloudfront"));
    assert_eq!(doc.source, Source::default());
}

#[test]
fn json_errors_say_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        (r#"{"status": 200, "path": "/"}"#, "no timestamp field"),
        (r#"{"time": "soon", "status": 200}"#, "bad timestamp 'soon'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "status": "OK"}"#, "status is not a number: 'OK'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "status": 70000}"#, "status is not a number: '70000'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "status": -1}"#, "status is not a number: '-1'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "bytes": "lots"}"#, "response size is not a number: 'lots'"),
        (
            r#"{"@timestamp": "2024-01-02T03:04:05Z", "server_port": "http"}"#,
            "field 'destination.port' is not a port number",
        ),
        ("[1, 2]", "no [timestamp] found"),
        ("{", "invalid JSON: EOF while parsing an object at line 1 column 1"),
    ];
    for (record, reason) in cases {
        assert_eq!(parse_line(record).expect_err(record).to_string(), *reason, "{record}");
    }
    assert_eq!(parse_json_record("[1, 2]").expect_err("array").to_string(), "JSON record is not an object");
    assert_eq!(parse_json_record(" ").expect_err("blank").to_string(), "empty line");
}
