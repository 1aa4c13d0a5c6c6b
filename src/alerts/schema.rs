//! The request bodies' schemas where a field's form comes from [`crate::forms`] or depends on another
//! field (a rule's kind decides its threshold's range and which filters it takes). Each states exactly
//! what [`super::validate`] accepts, from the same constants ([`super::bounds`]).

use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use super::bounds::{
    MAX_FILTER_VALUE, MAX_FILTER_VALUES, MAX_MIN_REQUESTS, MAX_NAME, MAX_SPAN_SECS, MAX_THRESHOLD, MIN_WINDOW_SECS,
    SUBSCRIBABLE,
};
use super::rules::{LATENCY_PERCENTILES, MAX_THRESHOLD_MS};
use super::target::MAX_URL_LEN;
use crate::delivery_errors::event::Family;
use crate::duration::UP_TO_DAYS;
use crate::forms::{self, NOT_BLANK, WEBHOOK_URL};

fn schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).expect("a valid schema")
}

/// The same schema, or `null` (which leaves a field of an update as it is).
fn or_null(mut value: Value) -> Value {
    let kind = value["type"].clone();
    value["type"] = json!([kind, "null"]);
    if let Some(choices) = value.get_mut("enum").and_then(Value::as_array_mut) {
        choices.push(Value::Null);
    }
    value
}

fn url() -> Value {
    json!({"type": "string", "maxLength": MAX_URL_LEN, "pattern": WEBHOOK_URL.pattern})
}

fn events() -> Value {
    json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": SUBSCRIBABLE}})
}

fn name() -> Value {
    json!({"type": "string", "maxLength": MAX_NAME, "pattern": NOT_BLANK})
}

fn window() -> Value {
    json!({"type": "string", "pattern": forms::duration(MIN_WINDOW_SECS, MAX_SPAN_SECS, UP_TO_DAYS)})
}

fn cooldown() -> Value {
    json!({"type": "string", "pattern": forms::duration(0, MAX_SPAN_SECS, UP_TO_DAYS)})
}

fn values() -> Value {
    json!({"type": "array", "maxItems": MAX_FILTER_VALUES,
        "items": {"type": "string", "maxLength": MAX_FILTER_VALUE, "pattern": NOT_BLANK}})
}

fn families() -> Value {
    let names: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
    json!({"type": "array", "maxItems": MAX_FILTER_VALUES, "items": {"type": "string", "enum": names}})
}

fn count_threshold() -> Value {
    json!({"type": "number", "minimum": 1, "maximum": MAX_THRESHOLD})
}

pub fn webhook_url() -> RefOr<Schema> {
    schema(url())
}

pub fn webhook_url_update() -> RefOr<Schema> {
    schema(or_null(url()))
}

pub fn webhook_events() -> RefOr<Schema> {
    schema(events())
}

pub fn webhook_events_update() -> RefOr<Schema> {
    schema(or_null(events()))
}

pub fn rule_name_update() -> RefOr<Schema> {
    schema(or_null(name()))
}

pub fn rule_window_update() -> RefOr<Schema> {
    schema(or_null(window()))
}

pub fn rule_cooldown_update() -> RefOr<Schema> {
    schema(or_null(cooldown()))
}

pub fn rule_values_update() -> RefOr<Schema> {
    schema(or_null(values()))
}

pub fn rule_families_update() -> RefOr<Schema> {
    schema(or_null(families()))
}

pub fn rule_threshold_update() -> RefOr<Schema> {
    schema(json!({"type": ["number", "null"], "minimum": 0, "maximum": MAX_THRESHOLD}))
}

pub fn rule_threshold_ms_update() -> RefOr<Schema> {
    schema(json!({"type": ["number", "null"], "minimum": 0, "maximum": MAX_THRESHOLD_MS}))
}

pub fn rule_percentile_update() -> RefOr<Schema> {
    schema(json!({"type": ["integer", "null"], "enum": [50, 90, 95, 99, null]}))
}

pub fn rule_min_requests_update() -> RefOr<Schema> {
    schema(json!({"type": ["integer", "null"], "minimum": 0, "maximum": MAX_MIN_REQUESTS}))
}

/// A new `latency` rule: `threshold_ms` and `percentile` instead of `threshold`.
fn latency() -> Value {
    json!({"type": "object", "title": "latency", "description": "The `percentile` (50, 90, 95 or 99) of the request durations in the window above `threshold_ms` milliseconds; windows with fewer than `min_requests` requests with a duration (default 10) never fire.",
        "properties": {
            "kind": {"type": "string", "enum": ["latency"]},
            "name": name(),
            "percentile": {"type": "integer", "enum": LATENCY_PERCENTILES},
            "threshold_ms": {"type": "number", "minimum": 0, "maximum": MAX_THRESHOLD_MS},
            "window": window(),
            "cooldown": cooldown(),
            "enabled": {"type": "boolean"},
            "min_requests": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_MIN_REQUESTS},
        },
        "required": ["kind", "name", "percentile", "threshold_ms", "window"], "additionalProperties": false})
}

/// A new rule: one shape per kind.
pub fn rule_create() -> RefOr<Schema> {
    let variant = |kind: &str, summary: &str, threshold: Value, extra: Value| {
        let mut properties = json!({
            "kind": {"type": "string", "enum": [kind]},
            "name": name(),
            "threshold": threshold,
            "window": window(),
            "cooldown": cooldown(),
            "enabled": {"type": "boolean"},
        });
        for (key, value) in extra.as_object().expect("an object") {
            properties[key] = value.clone();
        }
        json!({"type": "object", "title": kind, "description": summary, "properties": properties,
            "required": ["kind", "name", "threshold", "window"], "additionalProperties": false})
    };
    schema(json!({
        "description": "A new alert rule. `window`: the span the condition looks back over (10 seconds to 7 days); \
    `cooldown`: after an incident opens, the rule opens no other one until this has passed (default `10m`, `0s` to 7 \
    days); `enabled` defaults to true.",
        "oneOf": [
            variant("delivery_errors", "Delivery errors in the window at or above `threshold` (a count), optionally \
    only those of some `streams`, `codes` or `families`.", count_threshold(),
                json!({"streams": or_null(values()), "codes": or_null(values()), "families": or_null(families())})),
            variant("ingest_silence", "Fewer records than `threshold` in the window (1 means none) while the 6 windows \
    before averaged at least that many.", count_threshold(), json!({})),
            variant("error_rate", "The percentage of 5xx responses in the window above `threshold`; windows with \
    fewer than `min_requests` requests (default 10) never fire.",
                json!({"type": "number", "minimum": 0, "exclusiveMaximum": 100}),
                json!({"min_requests": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_MIN_REQUESTS}})),
            latency(),
        ],
        "discriminator": {"propertyName": "kind"},
        "example": {"name": "weblogs delivery failing", "kind": "delivery_errors", "threshold": 5, "window": "5m",
            "cooldown": "10m", "streams": ["weblogs"]},
    }))
}
