//! The two servers' format languages read into one list of pieces: literal text and variables.
//!
//! nginx `log_format` (<https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format>): `$name`
//! or `${name}`, names of letters, digits and `_`. A string pasted with nginx's own quoting
//! (`'$remote_addr - ' '"$request"'`, even the whole `log_format main '...';` directive) is unquoted
//! first.
//!
//! Apache `LogFormat` (<https://httpd.apache.org/docs/current/mod/mod_log_config.html#formats>):
//! `%x`, `%{arg}x`, with the `<`/`>` and status-condition modifiers (`%>s`, `%400,501{User-agent}i`)
//! accepted and ignored; `%%` is a `%`; `\"`, `\\`, `\t`, `\n` are unescaped as httpd reads them, so
//! a string copied from `httpd.conf` (even the whole `LogFormat "..." name` line) works.

use super::error::FormatError;

/// What a variable of the format fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    RemoteAddr,
    /// RFC 1413 identity (`%l`): matched, not kept.
    Ident,
    RemoteUser,
    /// `10/Oct/2000:13:55:36 -0700`.
    TimeLocal,
    TimeIso8601,
    /// Epoch seconds with a fraction (`$msec`).
    EpochSeconds,
    EpochMillis,
    EpochMicros,
    /// An Apache `%{format}t` strftime format.
    TimeStrftime(Box<str>),
    Request,
    Method,
    /// The request target with its query (`$request_uri`).
    Target,
    Path,
    /// The query string, with or without its `?` (`$args`, `%q`).
    Query,
    Protocol,
    Status,
    /// The body size; `-` is 0 (`%b`).
    BodyBytes,
    BytesSent,
    RequestLength,
    Referrer,
    UserAgent,
    ForwardedFor,
    /// The host the client asked for (`$host`, `$http_host`, `%V`, `%{Host}i`).
    Host,
    /// The server block's name (`$server_name`, `%v`): the virtual host when no `Host` is logged.
    ServerName,
    Port,
    /// A request duration whose unit is this many nanoseconds (seconds with a fraction: 1e9).
    Duration(u64),
    Upstream(UpstreamTime),
    Scheme,
    TlsProtocol,
    /// Anything else, kept under this name.
    Other(Box<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamTime {
    Response,
    Connect,
    Header,
}

impl UpstreamTime {
    /// The nginx variable's name, for errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            UpstreamTime::Response => "upstream_response_time",
            UpstreamTime::Connect => "upstream_connect_time",
            UpstreamTime::Header => "upstream_header_time",
        }
    }
}

/// One variable and the literal text after it.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) var: Var,
    /// Empty only for a last variable that ends the line.
    pub(crate) until: Box<str>,
    /// The variable sits between `"` and `"`: it ends at an unescaped quote.
    pub(crate) quoted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Literal(String),
    Var(Var),
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The pieces of an nginx `log_format` string.
pub(crate) fn nginx(spec: &str) -> Result<Vec<Piece>, FormatError> {
    let spec = unquote_nginx(spec);
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = spec.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '$' {
            literal.push(c);
            continue;
        }
        let rest = &spec[at + 1..];
        let (name, used) = if let Some(braced) = rest.strip_prefix('{') {
            let close = braced.find('}').ok_or_else(|| FormatError::Syntax(format!("unclosed '${{' at {at}")))?;
            (&braced[..close], close + 2)
        } else {
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            (&rest[..len], len)
        };
        if name.is_empty() {
            literal.push('$');
            continue;
        }
        for _ in 0..rest[..used].chars().count() {
            chars.next();
        }
        flush(&mut pieces, &mut literal);
        pieces.push(Piece::Var(nginx_var(name)));
    }
    flush(&mut pieces, &mut literal);
    Ok(pieces)
}

fn nginx_var(name: &str) -> Var {
    match name {
        "remote_addr" => Var::RemoteAddr,
        "remote_user" => Var::RemoteUser,
        "time_local" => Var::TimeLocal,
        "time_iso8601" => Var::TimeIso8601,
        "msec" => Var::EpochSeconds,
        "request" => Var::Request,
        "request_method" => Var::Method,
        "request_uri" => Var::Target,
        "uri" | "document_uri" => Var::Path,
        "args" | "query_string" => Var::Query,
        "server_protocol" => Var::Protocol,
        "status" => Var::Status,
        "body_bytes_sent" => Var::BodyBytes,
        "bytes_sent" => Var::BytesSent,
        "request_length" => Var::RequestLength,
        "http_referer" => Var::Referrer,
        "http_user_agent" => Var::UserAgent,
        "http_x_forwarded_for" => Var::ForwardedFor,
        "host" | "http_host" => Var::Host,
        "server_name" => Var::ServerName,
        "server_port" => Var::Port,
        "request_time" => Var::Duration(NANOS_PER_SECOND),
        "upstream_response_time" => Var::Upstream(UpstreamTime::Response),
        "upstream_connect_time" => Var::Upstream(UpstreamTime::Connect),
        "upstream_header_time" => Var::Upstream(UpstreamTime::Header),
        "scheme" => Var::Scheme,
        "ssl_protocol" => Var::TlsProtocol,
        other => Var::Other(other.into()),
    }
}

/// `'a' 'b'` (nginx's quoted, concatenated strings) as `ab`; `log_format name [escape=..] '...';`
/// as its string. Anything not starting with a quote is taken as written.
fn unquote_nginx(spec: &str) -> String {
    let mut s = spec.trim();
    if let Some(rest) = s.strip_prefix("log_format") {
        // `log_format name [escape=default|json|none] '...'`: the strings start at the first quote.
        s = rest.find(['\'', '"']).map_or(rest, |at| &rest[at..]).trim();
        s = s.strip_suffix(';').unwrap_or(s).trim_end();
    }
    let Some(quote @ ('\'' | '"')) = s.chars().next() else {
        return spec.to_owned();
    };
    let mut out = String::new();
    let mut chars = s.chars();
    let mut current = quote;
    let mut inside = false;
    while let Some(c) = chars.next() {
        match (inside, c) {
            (false, '\'' | '"') => {
                inside = true;
                current = c;
            }
            (false, _) => {}
            (true, '\\') => match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (true, c) if c == current => inside = false,
            (true, c) => out.push(c),
        }
    }
    out
}

/// The pieces of an Apache `LogFormat` string.
pub(crate) fn apache(spec: &str) -> Result<Vec<Piece>, FormatError> {
    let spec = unwrap_apache(spec);
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('t') => literal.push('\t'),
                Some('n') => literal.push('\n'),
                Some(other) => literal.push(other),
                None => literal.push('\\'),
            },
            '%' => {
                if chars.peek() == Some(&'%') {
                    chars.next();
                    literal.push('%');
                    continue;
                }
                // Modifiers: `<`, `>`, and status conditions (`!`, digits, `,`).
                while chars.peek().is_some_and(|c| matches!(c, '<' | '>' | '!' | ',' | '0'..='9')) {
                    chars.next();
                }
                let mut arg = None;
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut text = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => text.push(c),
                            None => return Err(FormatError::Syntax("unclosed '%{'".into())),
                        }
                    }
                    arg = Some(text);
                }
                // `%^ti` and `%^to` (trailers) have a two-letter directive.
                let mut letter = chars.next().ok_or_else(|| FormatError::Syntax("'%' at the end".into()))?.to_string();
                if letter == "^" {
                    letter.extend(chars.next());
                    letter.extend(chars.next());
                }
                flush(&mut pieces, &mut literal);
                apache_directive(&letter, arg.as_deref(), &mut pieces)?;
            }
            c => literal.push(c),
        }
    }
    flush(&mut pieces, &mut literal);
    Ok(pieces)
}

/// `LogFormat "..." nickname` as its string.
fn unwrap_apache(spec: &str) -> &str {
    let s = spec.trim();
    let Some(rest) = s.strip_prefix("LogFormat") else { return spec };
    let rest = rest.trim_start();
    let Some(body) = rest.strip_prefix('"') else { return rest };
    // The closing quote is the last one not escaped.
    let bytes = body.as_bytes();
    let end = (0..bytes.len()).rev().find(|&i| bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\\'));
    end.map_or(body, |end| &body[..end])
}

fn apache_directive(letter: &str, arg: Option<&str>, pieces: &mut Vec<Piece>) -> Result<(), FormatError> {
    let var = match (letter, arg) {
        ("h" | "a", None) => Var::RemoteAddr,
        ("l", _) => Var::Ident,
        ("u", _) => Var::RemoteUser,
        ("t", None) => {
            // `%t` writes its own brackets.
            pieces.push(Piece::Literal("[".into()));
            pieces.push(Piece::Var(Var::TimeLocal));
            pieces.push(Piece::Literal("]".into()));
            return Ok(());
        }
        ("t", Some(arg)) => apache_time(arg),
        ("r", _) => Var::Request,
        ("s", _) => Var::Status,
        ("b", _) => Var::BodyBytes,
        ("B", _) => Var::BodyBytes,
        ("O", _) => Var::BytesSent,
        ("I", _) => Var::RequestLength,
        ("D", _) => Var::Duration(1_000),
        ("T", None | Some("s")) => Var::Duration(NANOS_PER_SECOND),
        ("T", Some("ms")) => Var::Duration(1_000_000),
        ("T", Some("us")) => Var::Duration(1_000),
        ("v", _) => Var::ServerName,
        ("V", _) => Var::Host,
        ("p", None | Some("canonical" | "local")) => Var::Port,
        ("m", _) => Var::Method,
        ("U", _) => Var::Path,
        ("q", _) => Var::Query,
        ("H", _) => Var::Protocol,
        ("i", Some(header)) => match header.to_ascii_lowercase().as_str() {
            "referer" | "referrer" => Var::Referrer,
            "user-agent" => Var::UserAgent,
            "x-forwarded-for" => Var::ForwardedFor,
            "host" => Var::Host,
            other => Var::Other(format!("http_{}", snake(other)).into()),
        },
        ("x" | "e", Some(name)) if name.eq_ignore_ascii_case("SSL_PROTOCOL") => Var::TlsProtocol,
        ("o", Some(name)) => Var::Other(format!("sent_http_{}", snake(name)).into()),
        ("C", Some(name)) => Var::Other(format!("cookie_{}", snake(name)).into()),
        ("e" | "n" | "x" | "^ti" | "^to", Some(name)) => Var::Other(snake(name).into()),
        _ => Var::Other(apache_name(letter, arg).into()),
    };
    pieces.push(Piece::Var(var));
    Ok(())
}

fn apache_time(arg: &str) -> Var {
    let format = arg.strip_prefix("begin:").or_else(|| arg.strip_prefix("end:")).unwrap_or(arg);
    match format {
        "sec" => Var::EpochSeconds,
        "msec" => Var::EpochMillis,
        "usec" => Var::EpochMicros,
        "%d/%b/%Y:%H:%M:%S %z" => Var::TimeLocal,
        "%Y-%m-%dT%H:%M:%S%z" | "%Y-%m-%dT%H:%M:%S%:z" => Var::TimeIso8601,
        f if f.contains('%') => Var::TimeStrftime(f.into()),
        other => Var::Other(format!("time_{other}").into()),
    }
}

/// The name an unknown Apache directive is kept under: the nginx name of the same value where there
/// is one, else `apache_<letter>` (with `_<arg>`).
fn apache_name(letter: &str, arg: Option<&str>) -> String {
    let known = match letter {
        "A" => "server_addr",
        "P" => "pid",
        "k" => "keepalive_requests",
        "L" => "log_id",
        "R" => "handler",
        "X" => "connection_status",
        "f" => "request_filename",
        "S" => "bytes_transferred",
        "a" => "client_peer_addr",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    match arg {
        Some(arg) => format!("apache_{letter}_{}", snake(arg)),
        None => format!("apache_{letter}"),
    }
}

/// `User-Agent` as `user_agent`, the way nginx names header variables.
fn snake(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

fn flush(pieces: &mut Vec<Piece>, literal: &mut String) {
    if !literal.is_empty() {
        match pieces.last_mut() {
            Some(Piece::Literal(previous)) => previous.push_str(literal),
            _ => pieces.push(Piece::Literal(std::mem::take(literal))),
        }
        literal.clear();
    }
}
