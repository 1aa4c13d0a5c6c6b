//! A Firehose HTTP-endpoint client that follows the AWS delivery spec (protocol 1.0): the
//! `X-Amz-Firehose-*` headers, a JSON body of base64 records, optional gzip, and the same request id on
//! every retry of one delivery. It stands in for Firehose, which no emulator reproduces faithfully.

use std::io::Write;

use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

pub const ACCESS_KEY: &str = "firehose-key-0123456789";
pub const STREAM_ARN: &str = "arn:aws:firehose:us-east-1:123456789012:deliverystream/weblogs";

pub struct FirehoseClient {
    pub url: String,
    pub access_key: String,
    pub gzip: bool,
    pub common_attributes: Option<Value>,
    http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl FirehoseClient {
    pub fn new(base: &str) -> Self {
        Self {
            url: format!("{base}/v1/firehose"),
            access_key: ACCESS_KEY.to_owned(),
            gzip: true,
            common_attributes: Some(json!({"commonAttributes": {"env": "test", "team": "web"}})),
            http: crate::harness::http(),
        }
    }

    /// The request body Firehose would send for these records.
    pub fn body(request_id: &str, records: &[Vec<u8>]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let records: Vec<Value> = records.iter().map(|r| json!({"data": b64.encode(r)})).collect();
        serde_json::to_vec(&json!({"requestId": request_id, "timestamp": 1_764_115_200_000i64, "records": records}))
            .unwrap()
    }

    /// The headers and (possibly gzipped) body Firehose sends for `json`.
    fn request(&self, request_id: &str, json: Vec<u8>) -> (HeaderMap, Vec<u8>) {
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        };
        set("x-amz-firehose-protocol-version", "1.0");
        set("x-amz-firehose-request-id", request_id);
        set("x-amz-firehose-source-arn", STREAM_ARN);
        set("x-amz-firehose-access-key", &self.access_key);
        set("content-type", "application/json");
        if let Some(attrs) = &self.common_attributes {
            set("x-amz-firehose-common-attributes", &attrs.to_string());
        }
        let body = if self.gzip {
            set("content-encoding", "gzip");
            gzip(&json)
        } else {
            json
        };
        (headers, body)
    }

    /// Sends a delivery body; `None` when no answer came (the connection failed or was reset), which
    /// Firehose treats as a failed attempt.
    pub async fn try_send(&self, request_id: &str, json: Vec<u8>) -> Option<u16> {
        let (headers, body) = self.request(request_id, json);
        let response = self.http.post(&self.url).headers(headers).body(body).send().await.ok()?;
        let status = response.status().as_u16();
        response.bytes().await.ok()?;
        Some(status)
    }

    pub async fn deliver(&self, request_id: &str, records: &[Vec<u8>]) -> Reply {
        self.send_raw(request_id, Self::body(request_id, records), |_| {}).await
    }

    /// Sends `json` as the body (gzipped when configured), letting the caller alter the request.
    pub async fn send_raw(&self, request_id: &str, json: Vec<u8>, alter: impl FnOnce(&mut HeaderMap)) -> Reply {
        let (mut headers, body) = self.request(request_id, json);
        alter(&mut headers);
        let response =
            self.http.post(&self.url).headers(headers).body(body).send().await.expect("the endpoint answers");
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not Firehose JSON ({e}): {text}"));
        Reply { status, content_type, body }
    }
}

impl Reply {
    /// The spec's response shape: `requestId` echoed, numeric millisecond `timestamp`, `errorMessage`
    /// exactly on failure.
    pub fn assert_firehose_shape(&self, request_id: &str) {
        assert_eq!(self.content_type, "application/json", "{:?}", self.body);
        assert_eq!(self.body["requestId"], request_id, "{:?}", self.body);
        let ts = self.body["timestamp"].as_i64().unwrap_or_else(|| panic!("numeric timestamp: {:?}", self.body));
        assert!(ts > 1_700_000_000_000, "milliseconds: {ts}");
        if self.status == 200 {
            assert!(self.body.get("errorMessage").is_none(), "{:?}", self.body);
        } else {
            let message = self.body["errorMessage"].as_str().unwrap_or_else(|| panic!("errorMessage: {:?}", self.body));
            assert!(!message.is_empty() && message.len() <= 8192);
        }
    }

    pub fn error(&self) -> &str {
        self.body["errorMessage"].as_str().unwrap_or("")
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
