//! `/v1/logs` (pages of documents with a cursor) and `/v1/logs/export` (the whole result streamed as
//! CSV or NDJSON, one store page in memory at a time).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::params::Params;
use super::params::filters::FilterParams;
use super::params::logs::{ExportFormat, ExportParams, PageParams};
use super::problem::{ApiError, BadRequestResponse, UnauthorizedResponse, UnavailableResponse};
use super::stats::resolve;
use crate::app::App;
use crate::document::LogDocument;
use crate::query::model::{SearchRequest, StoredDoc};
use crate::read::response::LogsPage;

/// Search access logs.
///
/// Matching documents in time order (newest first by default), `size` per page. Pass `next_cursor` back
/// as `cursor` to continue; it is absent on the last page, and paging goes past 10,000 results. The
/// other parameters must stay the same while paging.
#[utoipa::path(get, path = "/v1/logs", tag = "logs", security(("api_key" = [])),
    params(FilterParams, PageParams),
    responses(
        (status = 200, description = "A page of documents", body = LogsPage),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn search(
    State(app): State<App>,
    Params((filters, page)): Params<(FilterParams, PageParams)>,
) -> Result<Json<LogsPage>, ApiError> {
    let query = filters.query(&resolve(&app.query))?;
    let size = page.size.unwrap_or(app.query.config().default_page_size);
    let order = page.order.unwrap_or_default().into();
    Ok(Json(app.query.logs(&SearchRequest { query, order, size, cursor: page.cursor }).await?))
}

/// Export access logs.
///
/// Every matching document, streamed as CSV (a header row, then one row per request) or NDJSON (one
/// document per line), chosen by `format` or the `Accept` header (`text/csv`, `application/x-ndjson`).
/// Any size: the service holds one page at a time.
#[utoipa::path(get, path = "/v1/logs/export", tag = "logs", security(("api_key" = [])),
    params(FilterParams, ExportParams),
    responses(
        (status = 200, description = "The documents", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"))),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn export(
    State(app): State<App>,
    Params((filters, params)): Params<(FilterParams, ExportParams)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = filters.query(&resolve(&app.query))?;
    let order = params.order.unwrap_or_default().into();
    let format = params.format.unwrap_or_else(|| {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        if accept.contains("ndjson") || accept.contains("application/jsonl") {
            ExportFormat::Ndjson
        } else {
            ExportFormat::Csv
        }
    });

    let header_row = (format == ExportFormat::Csv).then(|| bytes::Bytes::from(csv_header()));
    let pages = app.query.export(query, order).map(move |page| match page {
        Ok(docs) => Ok::<_, std::io::Error>(bytes::Bytes::from(encode(&docs, format))),
        Err(e) => {
            // The status line is gone once streaming began: end the body early, visibly truncated.
            tracing::error!(error = crate::telemetry::chain(&e), "export aborted");
            Err(std::io::Error::other("log store failed during export"))
        }
    });
    let body = futures::stream::iter(header_row.map(Ok)).chain(pages);
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"firesight-logs.{extension}\"")).expect("ascii"),
    );
    Ok(response)
}

const CSV_COLUMNS: [&str; 19] = [
    "id",
    "timestamp",
    "client_ip",
    "country",
    "city",
    "method",
    "path",
    "query",
    "http_version",
    "status",
    "bytes",
    "referrer",
    "user_agent",
    "browser",
    "os",
    "device",
    "bot",
    "crawler",
    "crawler_category",
];

fn csv_header() -> String {
    let mut s = CSV_COLUMNS.join(",");
    s.push_str("\r\n");
    s
}

fn encode(docs: &[StoredDoc], format: ExportFormat) -> Vec<u8> {
    let mut out = Vec::with_capacity(docs.len() * 400);
    for d in docs {
        match format {
            ExportFormat::Ndjson => {
                let item = crate::read::response::LogItem { id: d.id.clone(), document: d.doc.clone() };
                serde_json::to_writer(&mut out, &item).expect("documents serialise");
                out.push(b'\n');
            }
            ExportFormat::Csv => csv_row(&mut out, &d.id, &d.doc),
        }
    }
    out
}

fn csv_row(out: &mut Vec<u8>, id: &str, doc: &LogDocument) {
    let geo = doc.source.geo.as_ref();
    let ua = doc.user_agent.as_ref();
    let fields: [String; 19] = [
        id.to_owned(),
        doc.timestamp.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        doc.source.ip.map(|ip| ip.to_string()).or_else(|| doc.source.address.clone()).unwrap_or_default(),
        geo.and_then(|g| g.country_iso_code.clone()).unwrap_or_default(),
        geo.and_then(|g| g.city_name.clone()).unwrap_or_default(),
        doc.http.request.method.as_deref().unwrap_or_default().to_owned(),
        doc.url.path.clone().unwrap_or_default(),
        doc.url.query.clone().unwrap_or_default(),
        doc.http.version.as_deref().unwrap_or_default().to_owned(),
        doc.http.response.status_code.map(|s| s.to_string()).unwrap_or_default(),
        doc.http.response.body.bytes.map(|b| b.to_string()).unwrap_or_default(),
        doc.http.request.referrer.clone().unwrap_or_default(),
        ua.and_then(|u| u.original.clone()).unwrap_or_default(),
        ua.and_then(|u| u.name.as_deref()).unwrap_or_default().to_owned(),
        ua.and_then(|u| u.os.as_ref()).and_then(|o| o.name.clone()).unwrap_or_default(),
        ua.and_then(|u| u.device.as_ref()).and_then(|d| d.name.clone()).unwrap_or_default(),
        doc.firesight.bot.map(|b| b.to_string()).unwrap_or_default(),
        doc.firesight.crawler.as_ref().and_then(|c| c.name.clone()).unwrap_or_default(),
        doc.firesight.crawler.as_ref().and_then(|c| c.category.clone()).unwrap_or_default(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, field);
    }
    out.extend_from_slice(b"\r\n");
}

/// What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list, plus NUL).
const FORMULA_TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\0'];

/// RFC 4180 quoting; a leading formula character is neutralised so spreadsheets do not execute it.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    let formula = field.starts_with(FORMULA_TRIGGERS) && field.parse::<f64>().is_err();
    let needs_quotes = formula || field.contains([',', '"', '\r', '\n']);
    if !needs_quotes {
        out.extend_from_slice(field.as_bytes());
        return;
    }
    out.push(b'"');
    if formula {
        out.push(b'\'');
    }
    for b in field.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut out = Vec::new();
        csv_field(&mut out, "a,\"b\"");
        out.push(b'|');
        csv_field(&mut out, "=HYPERLINK(\"x\")");
        out.push(b'|');
        csv_field(&mut out, "-1");
        out.push(b'|');
        csv_field(&mut out, "plain");
        assert_eq!(String::from_utf8(out).unwrap(), "\"a,\"\"b\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"|-1|plain");
    }

    #[test]
    fn csv_defuses_tab_carriage_return_and_nul_triggers() {
        for (field, written) in [
            ("\t=cmd|' /C calc'!A0", "\"'\t=cmd|' /C calc'!A0\""),
            ("\r=1+1", "\"'\r=1+1\""),
            ("\0@SUM(A1)", "\"'\0@SUM(A1)\""),
            ("Mozilla/5.0\t(X11)", "Mozilla/5.0\t(X11)"),
        ] {
            let mut out = Vec::new();
            csv_field(&mut out, field);
            assert_eq!(String::from_utf8(out).unwrap(), written, "{field:?}");
        }
    }
}
