//! The presets: the formats servers ship, by name.

/// The presets: the name (also the label kept in `firesight.record_format`) and the format string.
pub const PRESETS: [(&str, &str); 7] = [
    // Apache's `combined` and `common`, as httpd's own `httpd.conf` defines them.
    ("combined", r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#),
    ("common", r#"%h %l %u %t "%r" %>s %b"#),
    // Debian's and Ubuntu's `apache2.conf`.
    ("vhost_combined", r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#),
    // nginx's built-in `combined`, and the `main` of the `nginx.conf` nginx ships.
    (
        "nginx_combined",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
    ),
    (
        "nginx_main",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#,
    ),
    // nginx `combined` with the request time: the `timed` format of the local pipeline's nginx.
    (
        "combined_timed",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#,
    ),
    (
        "nginx_timed",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#,
    ),
];
