//! The real Apache log (`elastic_examples_apache_logs.log`): every line, a few lines field by field,
//! counts against a naive reading, and cut lines.

use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::document::{Event, Firesight, Http, HttpRequest, HttpResponse, ResponseBody, Source, Url, UserAgent};

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
                bytes: None,
            },
            response: HttpResponse {
                status_code: Some(200),
                body: ResponseBody { bytes: Some(203_023) },
                bytes: None,
            },
        },
        url: Url {
            original: Some("/presentations/logstash-monitorama-2013/images/kibana-search.png".into()),
            path: Some("/presentations/logstash-monitorama-2013/images/kibana-search.png".into()),
            query: None,
            extension: Some("png".into()),
            scheme: None,
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
