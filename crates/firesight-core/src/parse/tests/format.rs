//! Configured log formats on lines written from the servers' documentation, field by field, and the
//! `combined` preset against the hand-written scanner on every line of the real log.

use super::*;
use crate::document::{Destination, Tls, Upstream};

fn format(spec: &str) -> LogFormat {
    LogFormat::compile(spec).unwrap_or_else(|e| panic!("{spec:?} did not compile: {e}"))
}

fn parsed_as(spec: &str, line: &str) -> LogDocument {
    format(spec).parse(line).unwrap_or_else(|e| panic!("{line:?} did not parse as {spec:?}: {e}"))
}

const MS: u64 = 1_000_000;

#[test]
fn the_combined_preset_reads_the_real_log_as_the_scanner_does() {
    let log = elastic_log();
    let combined = format("combined");
    let mut same = 0;
    for (i, line) in log.lines().enumerate() {
        match (parse_line(line), combined.parse(line)) {
            (Ok(scanned), Ok(compiled)) => {
                assert_eq!(scanned, compiled, "line {}", i + 1);
                same += 1;
            }
            (Err(_), Err(_)) => assert_eq!(i + 1, 8899, "the cut line"),
            (scanned, compiled) => panic!("line {}: {scanned:?} but {compiled:?}", i + 1),
        }
    }
    assert_eq!(same, 9_999);
}

#[test]
fn nginx_main_with_forwarded_for() {
    // nginx.conf as nginx ships it (`log_format main`), https://nginx.org/en/docs/http/ngx_http_log_module.html
    // for the variables; the client is the first public address of X-Forwarded-For.
    let line = r#"10.0.0.7 - alice [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" "203.0.113.9, 10.0.0.1""#;
    let doc = parsed_as("nginx_main", line);
    assert_eq!(doc.timestamp, utc("2000-10-10T20:55:36Z"));
    assert_eq!(doc.source.ip, Some(ip("203.0.113.9")));
    assert_eq!(doc.firesight.forwarded_for, ["203.0.113.9", "10.0.0.1", "10.0.0.7"]);
    assert_eq!(doc.user.and_then(|u| u.name).as_deref(), Some("alice"));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.url.path.as_deref(), Some("/apache_pb.gif"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(200), Some(2326)));
    assert_eq!(doc.http.request.referrer.as_deref(), Some("http://www.example.com/start.html"));
    assert_eq!(doc.user_agent.and_then(|u| u.original).as_deref(), Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("nginx_main"));

    // `"-"` for no X-Forwarded-For: the remote address.
    let line = r#"198.51.100.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 304 0 "-" "curl/8.5.0" "-""#;
    let doc = parsed_as("nginx_main", line);
    assert_eq!((doc.source.ip, doc.firesight.forwarded_for.len()), (Some(ip("198.51.100.4")), 0));
    assert_eq!(doc.http.request.referrer, None);
}

/// NGINX's admin guide, "Configuring Logging" (https://docs.nginx.com/nginx/admin-guide/monitoring/logging/),
/// `log_format upstream_time`, copied with its quoting and its missing blank before `rt=`.
const UPSTREAM_TIME: &str = r#"log_format upstream_time '$remote_addr - $remote_user [$time_local] '
                         '"$request" $status $body_bytes_sent '
                         '"$http_referer" "$http_user_agent"'
                         'rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time"';"#;

#[test]
fn nginx_upstream_times() {
    let line = r#"203.0.113.5 - - [10/Oct/2020:13:55:36 +0000] "GET /api/items?page=2 HTTP/1.1" 200 512 "-" "curl/7.68.0"rt=0.052 uct="0.001" uht="0.050" urt="0.050""#;
    let doc = parsed_as(UPSTREAM_TIME, line);
    assert_eq!(doc.event.duration, Some(52 * MS));
    assert_eq!(
        doc.firesight.upstream,
        Some(Upstream {
            response_duration: Some(50 * MS),
            connect_duration: Some(MS),
            header_duration: Some(50 * MS),
            attempts: Some(1),
        })
    );
    assert_eq!(doc.url.query.as_deref(), Some("page=2"));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("nginx_log_format"));

    // Two servers tried, then an internal redirect to another upstream group (ngx_http_upstream_module:
    // "separated by commas and colons like addresses in the $upstream_addr variable"); `-` for the one
    // that never answered.
    let line = r#"203.0.113.5 - - [10/Oct/2020:13:55:36 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/7.68.0"rt=3.004 uct="0.001, - : 0.002" uht="-, - : 0.003" urt="3.000, - : 0.003""#;
    let upstream = parsed_as(UPSTREAM_TIME, line).firesight.upstream.expect("upstream times");
    assert_eq!(upstream.response_duration, Some(3_003 * MS));
    assert_eq!(upstream.connect_duration, Some(3 * MS));
    assert_eq!(upstream.header_duration, Some(3 * MS));
    assert_eq!(upstream.attempts, Some(3));

    // No upstream at all (a static file): `-` everywhere.
    let line = r#"203.0.113.5 - - [10/Oct/2020:13:55:36 +0000] "GET /f.css HTTP/1.1" 200 9 "-" "curl/7.68.0"rt=0.000 uct="-" uht="-" urt="-""#;
    let doc = parsed_as(UPSTREAM_TIME, line);
    assert_eq!(doc.event.duration, Some(0));
    assert_eq!(doc.firesight.upstream, Some(Upstream { attempts: Some(1), ..Upstream::default() }));
}

#[test]
fn unquoted_upstream_lists_keep_their_blanks() {
    let spec = "$remote_addr [$time_local] $status $upstream_response_time $request_time";
    let line = "198.51.100.1 [10/Oct/2020:13:55:36 +0000] 200 0.010, 0.020 : 0.030 0.061";
    let doc = parsed_as(spec, line);
    assert_eq!(doc.firesight.upstream.and_then(|u| u.response_duration), Some(60 * MS));
    assert_eq!(doc.event.duration, Some(61 * MS));
}

#[test]
fn the_local_pipelines_timed_format() {
    let spec = r#"log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';"#;
    let line =
        r#"172.18.0.1 - - [07/Dec/2026:03:49:12 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.29" 0.004"#;
    for spec in [spec, "combined_timed", "nginx_timed"] {
        let doc = parsed_as(spec, line);
        assert_eq!(doc.event.duration, Some(4 * MS), "{spec}");
        assert_eq!(doc.timestamp, utc("2026-12-07T03:49:12Z"));
    }
}

#[test]
fn nginx_time_iso8601_and_msec() {
    // ngx_http_log_module: `$time_iso8601` "local time in the ISO 8601 standard format", `$msec` "time in
    // seconds with a milliseconds resolution at the time of the log write".
    let doc = parsed_as(
        r#"$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent $host"#,
        r#"192.0.2.10 [2006-09-08T05:42:04+02:00] "GET /index.html HTTP/1.1" 200 612 www.example.com"#,
    );
    assert_eq!(doc.timestamp, utc("2006-09-08T03:42:04Z"));
    assert_eq!(doc.destination, Some(Destination { domain: Some("www.example.com".into()), port: None }));

    let doc = parsed_as(
        r#"$msec $remote_addr "$request" $status $bytes_sent"#,
        r#"1157689324.156 192.0.2.10 "GET /index.html HTTP/1.1" 200 850"#,
    );
    assert_eq!(doc.timestamp, utc("2006-09-08T04:22:04.156Z"));
    assert_eq!((doc.http.response.bytes, doc.http.response.body.bytes), (Some(850), Some(850)));
}

#[test]
fn nginx_request_parts_scheme_tls_and_unknown_variables() {
    let spec = r#"$remote_addr [$time_local] $scheme "$request_method $request_uri $server_protocol" $status $body_bytes_sent $request_length $bytes_sent $ssl_protocol $server_name:$server_port $upstream_addr $connection"#;
    let line = r#"192.0.2.10 [10/Oct/2000:13:55:36 -0700] https "POST /login?next=%2F HTTP/2.0" 302 0 734 412 TLSv1.3 shop.example:443 10.0.3.4:8080 17"#;
    let doc = parsed_as(spec, line);
    assert_eq!(doc.url.scheme.as_deref(), Some("https"));
    assert_eq!(doc.http.request.method.as_deref(), Some("POST"));
    assert_eq!((doc.url.path.as_deref(), doc.url.query.as_deref()), (Some("/login"), Some("next=%2F")));
    assert_eq!(doc.http.version.as_deref(), Some("2.0"));
    assert_eq!((doc.http.request.bytes, doc.http.response.bytes), (Some(734), Some(412)));
    assert_eq!(doc.http.response.body.bytes, Some(0));
    assert_eq!(doc.tls, Some(Tls { version: Some("1.3".into()), version_protocol: Some("tls".into()) }));
    assert_eq!(doc.destination, Some(Destination { domain: Some("shop.example".into()), port: Some(443) }));
    assert_eq!(doc.extra["upstream_addr"], "10.0.3.4:8080");
    assert_eq!(doc.extra["connection"], "17");
}

#[test]
fn apache_common_and_combined_from_the_documentation() {
    // https://httpd.apache.org/docs/current/logs.html#accesslog, the Common and Combined Log Format
    // examples, with the LogFormat lines copied from the page.
    let common = r#"LogFormat "%h %l %u %t \"%r\" %>s %b" common"#;
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    let doc = parsed_as(common, line);
    assert_eq!(doc, parsed(line).with_format("apache_log_format"));

    let combined = r#"LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"" combined"#;
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    assert_eq!(parsed_as(combined, line), parsed(line).with_format("apache_log_format"));
    assert_eq!(parsed_as("combined", line), parsed(line));
}

#[test]
fn apache_request_durations() {
    // mod_log_config (https://httpd.apache.org/docs/current/mod/mod_log_config.html#formats): `%D` "the
    // time taken to serve the request, in microseconds", `%T` "in seconds", `%{UNIT}T` in ms, us or s.
    let head = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    assert_eq!(parsed_as(&format!("{head} %D"), &format!("{line} 1843")).event.duration, Some(1_843_000));
    assert_eq!(parsed_as(&format!("{head} %T"), &format!("{line} 2")).event.duration, Some(2_000_000_000));
    assert_eq!(parsed_as(&format!("{head} %{{ms}}T"), &format!("{line} 17")).event.duration, Some(17 * MS));
    assert_eq!(parsed_as(&format!("{head} %{{us}}T"), &format!("{line} 17")).event.duration, Some(17_000));
    // Both: the finer unit wins.
    assert_eq!(parsed_as(&format!("{head} %T %D"), &format!("{line} 0 1843")).event.duration, Some(1_843_000));
    let err = format(&format!("{head} %D")).parse(&format!("{line} soon")).unwrap_err();
    assert_eq!(err.code(), "field");
}

#[test]
fn apache_vhost_combined() {
    // Debian's apache2.conf `vhost_combined`, on the documentation's example request.
    let line = r#"www.example.com:80 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let doc = parsed_as("vhost_combined", line);
    assert_eq!(doc.destination, Some(Destination { domain: Some("www.example.com".into()), port: Some(80) }));
    assert_eq!(doc.source.ip, Some(ip("127.0.0.1")));
    // `%O` is the whole response; with no body size logged it is the size too, as auto-detection reads it.
    assert_eq!((doc.http.response.bytes, doc.http.response.body.bytes), (Some(2326), Some(2326)));
    let auto = parsed(line);
    assert_eq!((auto.destination, auto.source.ip), (doc.destination.clone(), doc.source.ip));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("vhost_combined"));
}

#[test]
fn apache_times_and_headers() {
    let spec = r#"[%{%d/%b/%Y:%H:%M:%S %z}t] %{msec}t %a "%r" %>s %B %I %O "%{X-Forwarded-For}i" %{Host}i %{SSL_PROTOCOL}x %{X-Request-Id}i %k"#;
    let line = r#"[10/Oct/2000:13:55:36 -0700] 971211336123 10.0.0.7 "GET / HTTP/1.1" 200 44 310 512 "198.51.100.23" example.org TLSv1.2 a1b2 0"#;
    let doc = parsed_as(spec, line);
    // The later time field wins: `%{msec}t` has the milliseconds.
    assert_eq!(doc.timestamp, utc("2000-10-10T20:55:36.123Z"));
    assert_eq!(doc.source.ip, Some(ip("198.51.100.23")));
    assert_eq!(
        (doc.http.request.bytes, doc.http.response.bytes, doc.http.response.body.bytes),
        (Some(310), Some(512), Some(44))
    );
    assert_eq!(doc.destination.and_then(|d| d.domain).as_deref(), Some("example.org"));
    assert_eq!(doc.tls.and_then(|t| t.version).as_deref(), Some("1.2"));
    assert_eq!(doc.extra["http_x_request_id"], "a1b2");
    assert_eq!(doc.extra["keepalive_requests"], "0");

    let doc = parsed_as("%{sec}t %h %>s", "971186136 192.0.2.1 204");
    assert_eq!(doc.timestamp, utc("2000-10-10T13:55:36Z"));
}

#[test]
fn apache_referer_log_has_a_literal_in_the_middle() {
    // mod_log_config: `LogFormat "%{Referer}i -> %U" referer`.
    let doc =
        parsed_as(r#"LogFormat "%{Referer}i -> %U" referer"#, "http://www.example.com/start.html -> /apache_pb.gif");
    assert_eq!(doc.http.request.referrer.as_deref(), Some("http://www.example.com/start.html"));
    assert_eq!(doc.url.path.as_deref(), Some("/apache_pb.gif"));
    assert_eq!(doc.timestamp.timestamp(), 0, "no time in the format: the record's own time is used");
}

#[test]
fn a_literal_prefix_is_matched_as_written() {
    let spec = r#"access: [$time_iso8601] $remote_addr "$request" $status rt=$request_time"#;
    let line = r#"access: [2024-05-10T10:34:56+00:00] 192.0.2.44 "GET /a.PNG HTTP/2.0" 200 rt=1.250"#;
    let doc = parsed_as(spec, line);
    assert_eq!((doc.url.extension.as_deref(), doc.event.duration), (Some("png"), Some(1_250 * MS)));
    let err = format(spec).parse(&line.replace("access:", "error:")).unwrap_err();
    assert_eq!(err.code(), "format");
    assert!(err.to_string().starts_with("does not match the log format: expected 'access: [' at 'error: ["), "{err}");
}

#[test]
fn lines_of_another_format_are_errors_without_fallback() {
    let combined = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let main = format("nginx_main");
    assert_eq!(main.parse(combined).unwrap_err().code(), "format");
    // One field too many: the last one, the size, is then not a number.
    assert_eq!(format("common").parse(combined).unwrap_err().code(), "bytes");
    assert_eq!(main.parse(r#"{"time":"2024-05-10T10:34:56Z"}"#).unwrap_err().code(), "format");
    // One quoted field more than the format: not swallowed into the user agent.
    let err = format("combined").parse(&format!(r#"{combined} "203.0.113.9""#)).unwrap_err();
    assert!(err.to_string().contains(r#"at '" "203.0.113.9"'"#), "{err}");
    assert_eq!(main.parse("").unwrap_err(), ParseError::Empty);
    let err = format("combined").parse(&combined.replace(" 200 ", " OK ")).unwrap_err();
    assert_eq!(err, ParseError::BadStatus("OK".into()));
    // The owned path hands the line back, and agrees with the borrowed one.
    let (err, back) = main.parse_owned(combined.to_owned()).unwrap_err();
    assert_eq!((err.code(), back.as_str()), ("format", combined));
    assert_eq!(parse_owned_with(format!("{combined}\r\n"), Some(&format("combined"))).unwrap(), parsed(combined));
    assert_eq!(parse_owned_with(combined.to_owned(), None).unwrap(), parsed(combined));
}

#[test]
fn settings_and_errors() {
    assert!(LogFormat::from_setting("auto").unwrap().is_none());
    assert!(LogFormat::from_setting(" ").unwrap().is_none());
    assert!(matches!(LogFormat::compile("apache"), Err(FormatError::UnknownPreset(_))));
    assert!(LogFormat::compile("apache").unwrap_err().to_string().contains("nginx_main"));
    assert_eq!(LogFormat::compile("just text").unwrap_err(), FormatError::NoVariables);
    assert!(matches!(LogFormat::compile("$remote_addr$status"), Err(FormatError::Adjacent(..))));
    assert!(matches!(LogFormat::compile("%{Referer i"), Err(FormatError::Syntax(_))));
    // The first sigil decides: a `%` in an nginx format is literal text.
    let doc = parsed_as("$remote_addr 100% $status", "192.0.2.1 100% 200");
    assert_eq!(doc.http.response.status_code, Some(200));
    for (name, _) in crate::parse::format::PRESETS {
        assert_eq!(format(name).label(), name);
    }
}

#[test]
fn formats_per_source() {
    let formats = Formats::from_settings(
        Some("combined"),
        [("arn:aws:firehose:eu-west-1:123456789012:deliverystream/edge", "nginx_main"), ("shop-logs", "auto")],
    )
    .unwrap();
    let label = |source: Option<&str>| formats.for_source(source).map(|f| f.label());
    assert_eq!(label(None), Some("combined"));
    assert_eq!(label(Some("arn:aws:firehose:eu-west-1:123456789012:deliverystream/edge")), Some("nginx_main"));
    assert_eq!(label(Some("arn:aws:kinesis:eu-west-1:123456789012:stream/shop-logs")), None);
    assert_eq!(label(Some("arn:aws:kinesis:eu-west-1:123456789012:stream/other")), Some("combined"));
    let err = Formats::from_settings(None, [("edge", "$a$b")]).unwrap_err();
    assert_eq!(err.0, "edge");
}

trait WithFormat {
    fn with_format(self, label: &'static str) -> Self;
}

impl WithFormat for LogDocument {
    fn with_format(mut self, label: &'static str) -> Self {
        self.firesight.record_format = Some(label.into());
        self
    }
}

#[test]
fn the_readme_examples() {
    let nginx = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time""#;
    let line = r#"203.0.113.5 - - [10/Oct/2020:13:55:36 +0000] "GET /api/items HTTP/1.1" 200 512 "-" "curl/7.68.0" rt=0.052 uct="0.001" uht="0.050" urt="0.010, 0.040""#;
    let doc = parsed_as(nginx, line);
    assert_eq!(doc.event.duration, Some(52 * MS));
    assert_eq!(
        doc.firesight.upstream,
        Some(Upstream {
            response_duration: Some(50 * MS),
            connect_duration: Some(MS),
            header_duration: Some(50 * MS),
            attempts: Some(2)
        })
    );

    let apache = r#"LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %D" timed"#;
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 1843"#;
    assert_eq!(parsed_as(apache, line).event.duration, Some(1_843_000));

    let line = r#"www.example.com:80 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let doc = parsed_as("vhost_combined", line);
    assert_eq!(doc.destination, Some(Destination { domain: Some("www.example.com".into()), port: Some(80) }));
    assert_eq!(doc.http.response.bytes, Some(2326));

    // The file's per-source example.
    let shop = r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;
    let doc = parsed_as(
        shop,
        r#"shop.example 192.0.2.1 - - [10/Oct/2020:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" 0.004"#,
    );
    assert_eq!(
        (doc.event.duration, doc.destination.and_then(|d| d.domain)),
        (Some(4 * MS), Some("shop.example".into()))
    );
}

#[test]
fn nginx_json_escaped_format() {
    // ngx_http_log_module: `log_format ... escape=json`, the line a JSON object whose text is the format's.
    let spec = r#"log_format json escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request","status":$status,"request_time":$request_time,"ua":"$http_user_agent"}';"#;
    let line = r#"{"time":"2024-05-10T10:34:56+00:00","remote_addr":"192.0.2.7","request":"GET /q?a=\"b\" HTTP/1.1","status":404,"request_time":0.003,"ua":"Mozilla/5.0 (X11; Linux x86_64)"}"#;
    let doc = parsed_as(spec, line);
    assert_eq!(doc.timestamp, utc("2024-05-10T10:34:56Z"));
    assert_eq!((doc.http.response.status_code, doc.event.duration), (Some(404), Some(3 * MS)));
    assert_eq!(doc.url.query.as_deref(), Some(r#"a=\"b\""#));
    assert_eq!(doc.user_agent.and_then(|u| u.original).as_deref(), Some("Mozilla/5.0 (X11; Linux x86_64)"));
}
