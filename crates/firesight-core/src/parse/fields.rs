//! The field-level rules shared by every record format: splitting the request line and the request
//! target, the referrer's host, and choosing the client among the addresses a line carries
//! (X-Forwarded-For list, remote address, virtual-host prefix).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use memchr::{memchr, memchr2, memchr3, memrchr};

use crate::document::{Destination, Url};
use crate::net::{SpecialRange, special_range};

// These run several times per line on the ingest hot path; `str::split_once(char)` walks the string
// char by char, `memchr` does not.

/// Around the first `needle` (an ASCII byte).
fn split_once_byte(s: &str, needle: u8) -> Option<(&str, &str)> {
    let at = memchr(needle, s.as_bytes())?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// Around the last `needle` (an ASCII byte).
fn rsplit_once_byte(s: &str, needle: u8) -> Option<(&str, &str)> {
    let at = memrchr(needle, s.as_bytes())?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// The values nearly every line has, borrowed by the document instead of allocated per line.
const METHODS: [&str; 9] = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"];
const VERSIONS: [&str; 5] = ["1.1", "1.0", "2.0", "2", "3"];
const EXTENSIONS: [&str; 24] = [
    "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "css", "js", "map", "json", "xml", "rss", "html", "htm", "php",
    "txt", "pdf", "woff", "woff2", "ttf", "gz", "zip", "mp4",
];

/// A method in upper case (`get` gives `GET`).
pub(crate) fn method(token: &str) -> Cow<'static, str> {
    match METHODS.iter().find(|known| known.eq_ignore_ascii_case(token)) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(token.to_ascii_uppercase()),
    }
}

/// An HTTP version as written, without `HTTP/`.
pub(crate) fn version(version: &str) -> Cow<'static, str> {
    match VERSIONS.iter().find(|known| **known == version) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(version.to_owned()),
    }
}

/// `None` for the `-` (and empty) placeholder that access logs write for a missing value.
pub(crate) fn present(value: &str) -> Option<&str> {
    (!value.is_empty() && value != "-").then_some(value)
}

/// The three parts of an HTTP request line, `GET /path?q HTTP/1.1`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestLine<'a> {
    pub method: Option<&'a str>,
    pub target: Option<&'a str>,
    /// Without the `HTTP/` prefix.
    pub version: Option<&'a str>,
}

/// Splits a request line. Anything that does not start with a plausible method (a TLS handshake sent
/// to the HTTP port, `-`, an empty request) yields no parts at all, as Filebeat does: the line is
/// still a request that got a status, only its request is unusable.
pub(crate) fn split_request(request: &str) -> RequestLine<'_> {
    let Some((method, rest)) = split_once_byte(request, b' ') else {
        return RequestLine::default();
    };
    if !is_method(method) {
        return RequestLine::default();
    }
    let rest = rest.trim_matches(' ');
    let (target, version) = match rsplit_once_byte(rest, b' ') {
        Some((target, version)) if version.starts_with("HTTP/") => (target.trim_end_matches(' '), version.get(5..)),
        // HTTP/0.9 requests and `GET /x` without a protocol.
        _ if rest.starts_with("HTTP/") => ("", rest.get(5..)),
        _ => (rest, None),
    };
    RequestLine {
        method: Some(method),
        target: (!target.is_empty()).then_some(target),
        version: version.filter(|v| !v.is_empty()),
    }
}

fn is_method(token: &str) -> bool {
    (1..=24).contains(&token.len()) && token.bytes().all(|c| c.is_ascii_alphabetic() || c == b'-' || c == b'_')
}

/// `url.*` of a request target as written: origin form (`/a/b.png?x=1`), absolute form
/// (`http://host/a?x`, proxies) or anything else (`*`, `host:443` of CONNECT), which keeps only
/// `original`. Nothing is percent-decoded, so the path is what the server logged.
pub(crate) fn url_parts(target: &str) -> Url {
    let bytes = target.as_bytes();
    let (path, query) = match memchr2(b'?', b'#', bytes) {
        Some(at) if bytes.get(at) == Some(&b'?') => {
            let rest = target.get(at + 1..).unwrap_or_default();
            let query = split_once_byte(rest, b'#').map_or(rest, |(query, _)| query);
            (target.get(..at).unwrap_or_default(), Some(query))
        }
        Some(at) => (target.get(..at).unwrap_or_default(), None),
        None => (target, None),
    };
    let path = if path.starts_with('/') {
        Some(path)
    } else if let Some(after_authority) = absolute_path(path) {
        Some(if after_authority.is_empty() { "/" } else { after_authority })
    } else {
        None
    };
    Url {
        original: Some(target.to_owned()),
        path: path.map(str::to_owned),
        query: query.filter(|q| !q.is_empty()).map(str::to_owned),
        extension: path.and_then(extension),
        scheme: None,
    }
}

/// The path of an absolute-form target (`http://host:8080/a/b` gives `/a/b`), `""` when it has none.
fn absolute_path(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    Some(rest.find('/').map_or("", |slash| &rest[slash..]))
}

/// Lower-case extension of the last path segment (`/a/B.PNG` gives `png`).
pub(crate) fn extension(path: &str) -> Option<Cow<'static, str>> {
    let segment = rsplit_once_byte(path, b'/').map_or(path, |(_, segment)| segment);
    let (_, ext) = rsplit_once_byte(segment, b'.')?;
    if ext.is_empty() {
        return None;
    }
    Some(match EXTENSIONS.iter().find(|known| known.eq_ignore_ascii_case(ext)) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(ext.to_ascii_lowercase()),
    })
}

/// Lower-case host of an absolute URL (`https://User@Example.COM:8443/x` gives `example.com`).
/// Hand-written rather than `url::Url` because referrers are whatever the client sent, `\x`-escaped
/// bytes included, and only the host is wanted.
pub(crate) fn referrer_host(referrer: &str) -> Option<String> {
    let (scheme, rest) = split_once_byte(referrer, b':')?;
    let rest = rest.strip_prefix("//")?;
    let scheme_ok = scheme.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return None;
    }
    let authority = memchr3(b'/', b'?', b'#', rest.as_bytes()).and_then(|end| rest.get(..end)).unwrap_or(rest);
    let host_port = rsplit_once_byte(authority, b'@').map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or(bracketed)
    } else {
        match rsplit_once_byte(host_port, b':') {
            Some((host, port)) if port.bytes().all(|c| c.is_ascii_digit()) => host,
            _ => host_port,
        }
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The client side of a line: everything before `ident authuser [timestamp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Client<'a> {
    /// The `vhost[:port]` of Apache's `vhost_combined` (or an Nginx `$host` prefix).
    pub vhost: Option<&'a str>,
    /// The chosen client as written: an address or a host name.
    pub address: Option<&'a str>,
    pub ip: Option<IpAddr>,
    /// Every address of the line in order (X-Forwarded-For entries, then the remote address) when
    /// there is more than one; empty otherwise.
    pub chain: Vec<&'a str>,
}

/// Reads the client part of a text line.
///
/// Shapes seen in real logs: `1.2.3.4`, `host.name`, `10.0.0.2, 10.0.0.1, 127.0.0.1` (an X-Forwarded-For
/// list logged before the remote address), `"10.5.102.222, 199.96.1.1" 10.2.1.185` (the same, quoted),
/// `2a03::1, 10.225.192.17 10.2.2.121`, and `vhost:80 1.2.3.4` / `vhost.example 1.2.3.4`. A first token
/// that is neither quoted nor part of a comma list, followed by more, is the virtual host, which is how
/// Filebeat's current Nginx pattern reads it too.
pub(crate) fn client_part(part: &str) -> Client<'_> {
    let part = part.trim();
    // The common case, one bare address, skips the list machinery.
    if !part.bytes().any(|c| matches!(c, b' ' | b'\t' | b',' | b'"')) {
        return Client { vhost: None, address: present(part), ip: present(part).and_then(parse_ip), chain: Vec::new() };
    }
    let mut vhost = None;
    let mut list = part;
    if !part.starts_with('"')
        && let Some((first, rest)) = part.split_once([' ', '\t'])
    {
        let rest = rest.trim_start();
        if !first.ends_with(',') && !rest.starts_with(',') && !rest.is_empty() {
            vhost = Some(first);
            list = rest;
        }
    }
    choose_client(vhost, list)
}

/// Chooses the client among the addresses of `list` (separated by commas, blanks or quotes): the first
/// public IP address; when there is none, the first entry (Filebeat's rule, which keeps the original
/// client of an all-private proxy chain). Entries that are not IP addresses (`unknown`, host names)
/// are never preferred over an address, unlike Filebeat, which would pick `unknown`.
pub(crate) fn choose_client<'a>(vhost: Option<&'a str>, list: &'a str) -> Client<'a> {
    choose_among(vhost, addresses(list))
}

/// The client of a line whose format logs the X-Forwarded-For header and the remote address apart
/// (`"$http_x_forwarded_for"`, `%{X-Forwarded-For}i`): chosen as [`choose_client`] chooses among the
/// list followed by the remote address.
pub(crate) fn forwarded_client<'a>(forwarded: &'a str, remote: &'a str) -> Client<'a> {
    choose_among(None, addresses(forwarded).chain(addresses(remote)))
}

fn choose_among<'a>(vhost: Option<&'a str>, entries: impl Iterator<Item = &'a str> + Clone) -> Client<'a> {
    let mut first: Option<(&str, Option<IpAddr>)> = None;
    let mut public: Option<(&str, IpAddr)> = None;
    let mut count = 0usize;
    for entry in entries.clone() {
        count += 1;
        let ip = public.is_none().then(|| parse_ip(entry)).flatten();
        if first.is_none() {
            first = Some((entry, ip));
        }
        if public.is_none()
            && let Some(ip) = ip.filter(is_public)
        {
            public = Some((entry, ip));
        }
    }
    let (address, ip) = match (public, first) {
        (Some((entry, ip)), _) => (Some(entry), Some(ip)),
        (None, Some((entry, ip))) => (Some(entry), ip),
        (None, None) => (None, None),
    };
    Client { vhost, address, ip, chain: if count > 1 { entries.collect() } else { Vec::new() } }
}

fn addresses(list: &str) -> impl Iterator<Item = &str> + Clone {
    list.split([',', ' ', '\t', '"']).filter(|entry| !entry.is_empty() && *entry != "-")
}

/// An IP address as logged: bare, or with the port some configurations append (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
pub(crate) fn parse_ip(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(bracketed) = entry.strip_prefix('[') {
        let (ip, _) = bracketed.split_once(']')?;
        return ip.parse().ok();
    }
    let (ip, port) = entry.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Whether an address can be a real client on the internet: in no special-purpose range
/// ([`crate::net`]: not private, loopback, link-local, carrier-grade NAT, unique-local, unspecified,
/// multicast, reserved...), or in a documentation range. Documentation addresses (`192.0.2.0/24`,
/// `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`) are accepted as clients on
/// purpose: examples and test logs use them for the real, public client of a line.
pub(crate) fn is_public(ip: &IpAddr) -> bool {
    matches!(special_range(*ip), None | Some(SpecialRange::Documentation))
}

/// Whether a client entry that is not an IP address looks like a host name (so it can go to
/// `source.domain`).
pub(crate) fn is_host_name(entry: &str) -> bool {
    entry.bytes().any(|c| c.is_ascii_alphabetic())
        && entry.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// `vhost`, `vhost:port` or `[v6]:port` into `destination`.
pub(crate) fn destination(vhost: &str) -> Destination {
    let (domain, port) = if let Some(bracketed) = vhost.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (vhost, None),
        }
    } else {
        match vhost.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => match port.parse::<u16>() {
                Ok(port) => (host, Some(port)),
                Err(_) => (vhost, None),
            },
            _ => (vhost, None),
        }
    };
    Destination { domain: Some(domain.to_owned()), port }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn request_lines() {
        let r = split_request("GET /presentations/x.png HTTP/1.1");
        assert_eq!((r.method, r.target, r.version), (Some("GET"), Some("/presentations/x.png"), Some("1.1")));
        let r = split_request("GET /a b HTTP/2.0");
        assert_eq!((r.method, r.target, r.version), (Some("GET"), Some("/a b"), Some("2.0")));
        let r = split_request("GET /");
        assert_eq!((r.method, r.target, r.version), (Some("GET"), Some("/"), None));
        let r = split_request("OPTIONS * HTTP/1.0");
        assert_eq!(r.target, Some("*"));
        for unusable in ["", "-", "GET", "\\x16\\x03\\x01\\x00\\xa5\\x01", "\\x16\\x03 foo HTTP/1.1", "1 2 3"] {
            assert_eq!(split_request(unusable), RequestLine::default(), "{unusable:?}");
        }
    }

    #[test]
    fn request_targets() {
        let u = url_parts("/presentations/logstash/Kibana-Search.PNG?x=1&y=2");
        assert_eq!(u.original.as_deref(), Some("/presentations/logstash/Kibana-Search.PNG?x=1&y=2"));
        assert_eq!(u.path.as_deref(), Some("/presentations/logstash/Kibana-Search.PNG"));
        assert_eq!(u.query.as_deref(), Some("x=1&y=2"));
        assert_eq!(u.extension.as_deref(), Some("png"));

        let u = url_parts("/files/logstash/?");
        assert_eq!((u.path.as_deref(), u.query, u.extension), (Some("/files/logstash/"), None, None));

        let u = url_parts("http://Example.com:8080/a.b/c.tar.GZ?q#frag");
        assert_eq!(
            (u.path.as_deref(), u.query.as_deref(), u.extension.as_deref()),
            (Some("/a.b/c.tar.GZ"), Some("q"), Some("gz"))
        );
        assert_eq!(url_parts("https://example.com").path.as_deref(), Some("/"));

        let u = url_parts("example.com:443");
        assert_eq!((u.original.as_deref(), u.path, u.query), (Some("example.com:443"), None, None));
        assert_eq!(url_parts("/.htaccess").extension.as_deref(), Some("htaccess"));
        assert_eq!(url_parts("/a.d/").extension, None);
        assert_eq!(url_parts("/a.").extension, None);
    }

    #[test]
    fn referrer_hosts() {
        assert_eq!(referrer_host("http://semicomplete.com/presentations/").as_deref(), Some("semicomplete.com"));
        assert_eq!(referrer_host("https://User:pw@WWW.Google.COM:443/search?q=a").as_deref(), Some("www.google.com"));
        assert_eq!(referrer_host("http://[2001:DB8::1]:8080/").as_deref(), Some("2001:db8::1"));
        assert_eq!(referrer_host("http://example.com.").as_deref(), Some("example.com"));
        assert_eq!(referrer_host("android-app://com.google.android.gm").as_deref(), Some("com.google.android.gm"));
        assert_eq!(
            referrer_host("http://\\xe4\\xe5\\xe3\\xf2\\xff\\xf0\\xed\\xee\\xe5-\\xec\\xfb\\xeb\\xee.\\xf0\\xf4/")
                .as_deref(),
            Some("\\xe4\\xe5\\xe3\\xf2\\xff\\xf0\\xed\\xee\\xe5-\\xec\\xfb\\xeb\\xee.\\xf0\\xf4")
        );
        for none in ["-", "", "semicomplete.com/x", "http:///x", "://x", "1http://x"] {
            assert_eq!(referrer_host(none), None, "{none:?}");
        }
    }

    #[test]
    fn single_client() {
        let c = client_part("83.149.9.216");
        assert_eq!(
            (c.vhost, c.address, c.ip, c.chain.len()),
            (None, Some("83.149.9.216"), Some(ip("83.149.9.216")), 0)
        );
        let c = client_part("monitoring-server");
        assert_eq!((c.address, c.ip), (Some("monitoring-server"), None));
        let c = client_part("::1");
        assert_eq!((c.address, c.ip), (Some("::1"), Some(ip("::1"))));
    }

    #[test]
    fn forwarded_for_lists() {
        // All private: the first entry, as Filebeat chooses.
        let c = client_part("10.0.0.2, 10.0.0.1, 127.0.0.1");
        assert_eq!((c.vhost, c.address), (None, Some("10.0.0.2")));
        assert_eq!(c.chain, ["10.0.0.2", "10.0.0.1", "127.0.0.1"]);

        let c = client_part("10.0.0.2, 10.0.0.1, 85.181.35.98");
        assert_eq!(c.address, Some("85.181.35.98"));

        let c = client_part("\"10.5.102.222, 199.96.1.1, 204.246.1.1\" 10.2.1.185");
        assert_eq!((c.vhost, c.address), (None, Some("199.96.1.1")));
        assert_eq!(c.chain, ["10.5.102.222", "199.96.1.1", "204.246.1.1", "10.2.1.185"]);

        let c = client_part("2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121");
        assert_eq!((c.vhost, c.address), (None, Some("2a03:0000:10ff:f00f:0000:0000:0:8000")));
        assert_eq!(c.ip, Some(ip("2a03:0:10ff:f00f::8000")));

        // `unknown` is never chosen over an address; `-` (an empty quoted XFF) is no entry at all.
        let c = client_part("unknown, 10.1.1.1, 81.2.69.142");
        assert_eq!(c.address, Some("81.2.69.142"));
        let c = client_part("\"-\" 81.2.69.142");
        assert_eq!((c.address, c.chain.len()), (Some("81.2.69.142"), 0));
        let c = client_part("unknown, 10.1.1.1");
        assert_eq!(c.address, Some("unknown"));
    }

    #[test]
    fn virtual_host_prefixes() {
        let c = client_part("vhost1.domaine.fr 123.123.123.123");
        assert_eq!((c.vhost, c.address), (Some("vhost1.domaine.fr"), Some("123.123.123.123")));
        let c = client_part("example.com:80 1.2.3.4");
        assert_eq!((c.vhost, c.address), (Some("example.com:80"), Some("1.2.3.4")));
        let c = client_part("example.com:443 \"81.2.69.142, 10.0.0.1\" 10.0.0.9");
        assert_eq!((c.vhost, c.address), (Some("example.com:443"), Some("81.2.69.142")));

        assert_eq!(destination("example.com:80"), Destination { domain: Some("example.com".into()), port: Some(80) });
        assert_eq!(
            destination("vhost1.domaine.fr"),
            Destination { domain: Some("vhost1.domaine.fr".into()), port: None }
        );
        assert_eq!(
            destination("[2001:db8::1]:443"),
            Destination { domain: Some("2001:db8::1".into()), port: Some(443) }
        );
        assert_eq!(destination("host:http"), Destination { domain: Some("host:http".into()), port: None });
    }

    #[test]
    fn addresses_with_ports() {
        assert_eq!(parse_ip("1.2.3.4:5678"), Some(ip("1.2.3.4")));
        assert_eq!(parse_ip("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip("1.2.3.4:"), None);
        assert_eq!(parse_ip("example.com:80"), None);
    }

    #[test]
    fn public_addresses() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(&ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "199.96.1.1", "2a03::1", "::ffff:81.2.69.142"] {
            assert!(is_public(&ip(public)), "{public}");
        }
    }

    #[test]
    fn host_names() {
        assert!(is_host_name("monitoring-server"));
        assert!(is_host_name("crawl-66-249-73-135.googlebot.com"));
        assert!(!is_host_name("1.2.3"));
        assert!(!is_host_name("a b"));
        assert!(!is_host_name("\\x16"));
    }
}
