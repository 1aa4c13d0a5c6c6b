//! Text lines (`combined`, `common`): the Filebeat nginx and Apache edge cases, other variants real
//! servers write, and the errors a malformed line gets.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::document::{Destination, Source, Url, User};

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
