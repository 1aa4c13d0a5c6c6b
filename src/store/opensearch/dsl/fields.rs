//! The field map: which field of the read indices holds each logical field. firesight's own indices use
//! the ECS names of [`crate::document::LogDocument`]; indices a Firehose stream writes itself (Kinesis
//! Agent's `{host, response, request, datetime, bytes, referrer, agent}`, a Lambda's own shape) name them
//! differently, and [`FieldMapConfig`] says how. An empty name declares a field absent.

use crate::config::FieldMapConfig;
use crate::query::model::Dimension;
use crate::store::StoreError;

/// A logical field the read path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Timestamp,
    ClientIp,
    Status,
    Method,
    Path,
    Bytes,
    ReferrerHost,
    Country,
    CountryName,
    City,
    Location,
    Browser,
    Os,
    Device,
    UserAgent,
    Bot,
    Visitor,
    Crawler,
    CrawlerCategory,
    Vhost,
    Duration,
}

impl Field {
    pub const ALL: [Field; 21] = [
        Field::Timestamp,
        Field::ClientIp,
        Field::Status,
        Field::Method,
        Field::Path,
        Field::Bytes,
        Field::ReferrerHost,
        Field::Country,
        Field::CountryName,
        Field::City,
        Field::Location,
        Field::Browser,
        Field::Os,
        Field::Device,
        Field::UserAgent,
        Field::Bot,
        Field::Visitor,
        Field::Crawler,
        Field::CrawlerCategory,
        Field::Vhost,
        Field::Duration,
    ];

    /// The configuration key (`opensearch.fields.<key>`).
    pub fn key(self) -> &'static str {
        match self {
            Field::Timestamp => "timestamp",
            Field::ClientIp => "client_ip",
            Field::Status => "status",
            Field::Method => "method",
            Field::Path => "path",
            Field::Bytes => "bytes",
            Field::ReferrerHost => "referrer_host",
            Field::Country => "country",
            Field::CountryName => "country_name",
            Field::City => "city",
            Field::Location => "location",
            Field::Browser => "browser",
            Field::Os => "os",
            Field::Device => "device",
            Field::UserAgent => "user_agent",
            Field::Bot => "bot",
            Field::Visitor => "visitor",
            Field::Crawler => "crawler",
            Field::CrawlerCategory => "crawler_category",
            Field::Vhost => "vhost",
            Field::Duration => "duration",
        }
    }

    /// firesight's (ECS) name, used when the configuration leaves the field unset.
    pub fn ecs(self) -> &'static str {
        match self {
            Field::Timestamp => "@timestamp",
            Field::ClientIp => "source.ip",
            Field::Status => "http.response.status_code",
            Field::Method => "http.request.method",
            Field::Path => "url.path",
            Field::Bytes => "http.response.body.bytes",
            Field::ReferrerHost => "firesight.referrer_host",
            Field::Country => "source.geo.country_iso_code",
            Field::CountryName => "source.geo.country_name",
            Field::City => "source.geo.city_name",
            Field::Location => "source.geo.location",
            Field::Browser => "user_agent.name",
            Field::Os => "user_agent.os.name",
            Field::Device => "user_agent.device.name",
            Field::UserAgent => "user_agent.original",
            Field::Bot => "firesight.bot",
            Field::Visitor => "firesight.visitor",
            Field::Crawler => "firesight.crawler.name",
            Field::CrawlerCategory => "firesight.crawler.category",
            Field::Vhost => "destination.domain",
            Field::Duration => "event.duration",
        }
    }

    pub fn of(dimension: Dimension) -> Field {
        match dimension {
            Dimension::Country => Field::Country,
            Dimension::City => Field::City,
            Dimension::Browser => Field::Browser,
            Dimension::Os => Field::Os,
            Dimension::Device => Field::Device,
            Dimension::Path => Field::Path,
            Dimension::ReferrerHost => Field::ReferrerHost,
            Dimension::Status => Field::Status,
            Dimension::Method => Field::Method,
            Dimension::ClientIp => Field::ClientIp,
            Dimension::Crawler => Field::Crawler,
            Dimension::CrawlerCategory => Field::CrawlerCategory,
            Dimension::Vhost => Field::Vhost,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Resolved field names, one per [`Field`]; `None` is a field the read indices do not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    names: [Option<String>; Field::ALL.len()],
    /// Whether firesight's id is only in the documents (`event.id`), not `_id`: Serverless time-series
    /// collections.
    ids_in_documents: bool,
}

impl Default for FieldMap {
    fn default() -> Self {
        Self::ecs()
    }
}

impl FieldMap {
    /// Orders ties by `event.id` instead of `_id` (documents that carry their id inside).
    pub fn with_ids_in_documents(mut self) -> Self {
        self.ids_in_documents = true;
        self
    }

    pub fn ids_in_documents(&self) -> bool {
        self.ids_in_documents
    }

    /// firesight's own indices.
    pub fn ecs() -> Self {
        FieldMap { names: Field::ALL.map(|f| Some(f.ecs().to_owned())), ids_in_documents: false }
    }

    pub fn from_config(config: &FieldMapConfig) -> Self {
        let FieldMapConfig {
            timestamp,
            client_ip,
            status,
            method,
            path,
            bytes,
            referrer_host,
            country,
            country_name,
            city,
            location,
            browser,
            os,
            device,
            user_agent,
            bot,
            visitor,
            crawler,
            crawler_category,
            vhost,
            duration,
        } = config;
        let mut map = Self::ecs();
        for (field, configured) in [
            (Field::Timestamp, timestamp),
            (Field::ClientIp, client_ip),
            (Field::Status, status),
            (Field::Method, method),
            (Field::Path, path),
            (Field::Bytes, bytes),
            (Field::ReferrerHost, referrer_host),
            (Field::Country, country),
            (Field::CountryName, country_name),
            (Field::City, city),
            (Field::Location, location),
            (Field::Browser, browser),
            (Field::Os, os),
            (Field::Device, device),
            (Field::UserAgent, user_agent),
            (Field::Bot, bot),
            (Field::Visitor, visitor),
            (Field::Crawler, crawler),
            (Field::CrawlerCategory, crawler_category),
            (Field::Vhost, vhost),
            (Field::Duration, duration),
        ] {
            if let Some(name) = configured {
                map = map.with(field, Some(name.trim()).filter(|n| !n.is_empty()));
            }
        }
        map
    }

    /// The same map with one field renamed (`None`: absent).
    pub fn with(mut self, field: Field, name: Option<&str>) -> Self {
        self.names[field.index()] = name.map(str::to_owned);
        self
    }

    /// The field's name, `None` when the indices lack it.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.names[field.index()].as_deref()
    }

    /// The field's name, or the 400 a request needing an absent field answers.
    pub fn require(&self, field: Field) -> Result<&str, StoreError> {
        self.get(field).ok_or_else(|| absent(field))
    }

    /// Whether the field keeps firesight's own name (and so firesight's mapping, sub-fields included).
    pub fn is_ecs(&self, field: Field) -> bool {
        self.get(field) == Some(field.ecs())
    }
}

pub fn absent(field: Field) -> StoreError {
    StoreError::BadRequest(format!(
        "the {} field is not available in this index (opensearch.fields.{} is empty)",
        field.key(),
        field.key()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_keeps_ecs_empty_is_absent_set_renames() {
        let config = FieldMapConfig {
            status: Some("response".into()),
            country: Some(String::new()),
            city: Some("  ".into()),
            ..Default::default()
        };
        let map = FieldMap::from_config(&config);
        assert_eq!(map.get(Field::Status), Some("response"));
        assert!(!map.is_ecs(Field::Status));
        assert_eq!(map.get(Field::Country), None);
        assert_eq!(map.get(Field::City), None);
        assert_eq!(map.get(Field::Timestamp), Some("@timestamp"));
        assert!(map.is_ecs(Field::Path));
        let err = map.require(Field::Country).unwrap_err();
        assert!(matches!(err, StoreError::BadRequest(_)));
        assert!(err.to_string().contains("not available in this index"), "{err}");
    }

    #[test]
    fn dimensions_map_to_their_ecs_fields() {
        for d in Dimension::ALL {
            assert_eq!(Field::of(d).ecs(), d.field());
        }
    }
}
