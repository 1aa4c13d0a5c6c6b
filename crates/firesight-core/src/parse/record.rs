//! The fields of one Apache/Nginx access-log record as written, borrowed from the input, and their
//! conversion into a [`LogDocument`]. Text lines and Kinesis Agent records both end up here, so the
//! two formats fill the document the same way.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::fields::{self, present};
use crate::document::{Firesight, Http, HttpRequest, HttpResponse, LogDocument, ResponseBody, Source, User, UserAgent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// Everything before `ident authuser`: the client, possibly with an X-Forwarded-For list and a
    /// virtual host.
    pub client: &'a str,
    pub authuser: Option<&'a str>,
    pub timestamp: DateTime<Utc>,
    pub request: Option<&'a str>,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
    pub referrer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub format: &'static str,
}

impl Record<'_> {
    /// Builds the document; `original` becomes `event.original`.
    pub(crate) fn into_document(self, original: String) -> LogDocument {
        let client = fields::client_part(self.client);
        self.build(client, original)
    }

    /// Builds the document with the client already chosen (`self.client` is not read).
    pub(crate) fn build(self, client: fields::Client<'_>, original: String) -> LogDocument {
        let request = self.request.map(fields::split_request).unwrap_or_default();
        let referrer = self.referrer.and_then(present);
        let user_agent = self.user_agent.and_then(present);

        let mut doc = LogDocument { timestamp: self.timestamp, ..LogDocument::default() };
        doc.event.original = original;
        doc.source = Source {
            ip: client.ip,
            address: client.address.map(str::to_owned),
            domain: client.address.filter(|a| client.ip.is_none() && fields::is_host_name(a)).map(str::to_owned),
            ..Source::default()
        };
        doc.destination = client.vhost.map(fields::destination);
        doc.user = self.authuser.and_then(present).map(|name| User { name: Some(name.to_owned()) });
        doc.http = Http {
            version: request.version.map(fields::version),
            request: HttpRequest {
                method: request.method.map(fields::method),
                referrer: referrer.map(str::to_owned),
                bytes: None,
            },
            response: HttpResponse { status_code: self.status, body: ResponseBody { bytes: self.bytes }, bytes: None },
        };
        if let Some(target) = request.target {
            doc.url = fields::url_parts(target);
        }
        doc.user_agent = user_agent.map(|ua| UserAgent { original: Some(ua.to_owned()), ..UserAgent::default() });
        doc.firesight = Firesight {
            status_class: self.status.and_then(LogDocument::status_class),
            referrer_host: referrer.and_then(fields::referrer_host),
            forwarded_for: client.chain.iter().map(|&a| a.to_owned()).collect(),
            record_format: Some(Cow::Borrowed(self.format)),
            ..Firesight::default()
        };
        doc
    }
}
