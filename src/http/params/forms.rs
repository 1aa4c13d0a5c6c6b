//! The schemas of parameters whose form is a pattern from [`crate::forms`], and the message a value that
//! does not match gets.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Array, Object};

use crate::duration::UP_TO_DAYS;
use crate::forms::{self, CLIENT_IP, Form, TIME};
use crate::query::model::MAX_INTERVAL_SECS;

/// A status code or class.
pub const STATUS: Form = Form {
    pattern: "^([1-5][0-9][0-9]|[1-5][xX][xX])$",
    message: "must be a status code (100-599) or a class such as 4xx",
};
/// An HTTP method.
pub const METHOD: Form = Form { pattern: "^[A-Za-z]{1,16}$", message: "must be an HTTP method such as GET" };
/// An ISO 3166-1 alpha-2 country code.
pub const COUNTRY: Form = Form { pattern: "^[A-Za-z]{2}$", message: "must be an ISO 3166-1 alpha-2 code such as DE" };

/// A crawler category (`firesight.crawler.category`).
pub const CRAWLER_CATEGORY: Form = Form {
    pattern: "^(search|ai|monitor|seo|scanner|other)$",
    message: "must be a crawler category: search, ai, monitor, seo, scanner or other",
};

/// Patterns with a message of their own; others are named in the message.
const NAMED: [Form; 6] = [TIME, CLIENT_IP, STATUS, METHOD, COUNTRY, CRAWLER_CATEGORY];

/// What a refusal of a value that does not match `pattern` says.
pub fn message(pattern: &str) -> String {
    match NAMED.iter().find(|f| f.pattern == pattern) {
        Some(form) => form.message.to_owned(),
        None if pattern.starts_with("^(auto|") => {
            "must be auto or a width like 30s, 5m, 1h, 1d (at most 366d)".to_owned()
        }
        None => format!("must match {pattern}"),
    }
}

fn text(pattern: String) -> Object {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).build()
}

/// `from` and `to`.
pub fn time() -> Object {
    text(TIME.pattern.to_owned())
}

/// A repeatable parameter of one form, at most 100 values.
fn list(form: Form) -> Array {
    ArrayBuilder::new().items(text(form.pattern.to_owned())).max_items(Some(100)).build()
}

pub fn client_ips() -> Array {
    list(CLIENT_IP)
}

pub fn statuses() -> Array {
    list(STATUS)
}

pub fn methods() -> Array {
    list(METHOD)
}

pub fn countries() -> Array {
    list(COUNTRY)
}

pub fn crawler_categories() -> Array {
    list(CRAWLER_CATEGORY)
}

/// A timeline width: `auto` or 1 second up to 366 days.
pub fn interval() -> Object {
    text(auto_or(&forms::duration(1, MAX_INTERVAL_SECS, UP_TO_DAYS)))
}

/// A width in whole minutes: `auto` or 1 minute up to 366 days.
pub fn minutes_interval() -> Object {
    text(auto_or(&forms::duration(60, MAX_INTERVAL_SECS, &UP_TO_DAYS[1..])))
}

fn auto_or(anchored: &str) -> String {
    format!("^(auto|{})$", &anchored[2..anchored.len() - 2])
}

/// `tz`: the IANA time-zone names of the form Area/Location (and `UTC`), which every store's engine
/// knows; legacy aliases such as `ROC` or `EST5EDT` are not known to all of them, nor are zones newer
/// than OpenSearch 2.19's time-zone data (each of the others was tried there).
pub fn time_zone() -> Object {
    const NEWER_THAN_OPENSEARCH: [&str; 1] = ["America/Coyhaique"];
    let names = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| (name.contains('/') || *name == "UTC") && !NEWER_THAN_OPENSEARCH.contains(name));
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).build()
}

/// The refusal of a value outside a long list of choices: what the list is, not all of it.
pub fn many_choices(name: &str, choices: &[String]) -> String {
    match name {
        "tz" => "must be an IANA time zone such as Europe/Berlin or UTC".to_owned(),
        _ => format!("must be one of the {} values the documentation lists, such as {}", choices.len(), choices[0]),
    }
}
