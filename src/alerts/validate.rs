//! Checks of what clients send to create or change webhooks and rules: bounded names, descriptions and
//! filter lists, known event types and error families, durations within range, and the constraints that
//! depend on a rule's kind. Each returns the normalised value or an [`AlertError::Invalid`] naming the
//! field.

use super::error::{AlertError, invalid};
use super::model::*;
use super::rules::{LATENCY_PERCENTILES, RuleKind, check_threshold};
use crate::delivery_errors::event::Family;
use crate::duration::format as format_duration;

pub(super) use super::bounds::MIN_WINDOW_SECS;
use super::bounds::{MAX_DESCRIPTION, MAX_FILTER_VALUE, MAX_FILTER_VALUES, MAX_MIN_REQUESTS, MAX_NAME, MAX_SPAN_SECS};

/// Text with something besides ASCII white space, which is trimmed.
fn not_blank(text: &str) -> bool {
    crate::forms::matches(crate::forms::NOT_BLANK, text)
}

pub(super) fn check_name(name: String) -> Result<String, AlertError> {
    if !not_blank(&name) || name.chars().count() > MAX_NAME {
        return Err(invalid("name", format!("must be 1 to {MAX_NAME} characters, not only white space")));
    }
    Ok(name.trim_matches(|c: char| c.is_ascii_whitespace()).to_owned())
}

pub(super) fn check_description(description: String) -> Result<String, AlertError> {
    if description.chars().count() > MAX_DESCRIPTION || description.contains('\0') {
        return Err(invalid("description", format!("must be at most {MAX_DESCRIPTION} characters, without NUL")));
    }
    Ok(description)
}

pub(super) fn check_events(mut events: Vec<String>) -> Result<Vec<String>, AlertError> {
    if events.is_empty() {
        return Err(invalid("events", format!("name at least one of: {}", SUBSCRIBABLE.join(", "))));
    }
    if let Some(bad) = events.iter().find(|e| !SUBSCRIBABLE.contains(&e.as_str())) {
        return Err(invalid("events", format!("{bad:?} is not one of: {}", SUBSCRIBABLE.join(", "))));
    }
    events.sort();
    events.dedup();
    Ok(events)
}

pub(super) fn check_span(field: &'static str, text: &str, min_secs: u64) -> Result<u64, AlertError> {
    let pattern = crate::forms::duration(min_secs, MAX_SPAN_SECS, crate::duration::UP_TO_DAYS);
    if !crate::forms::matches(&pattern, text) {
        return Err(invalid(
            field,
            format!("must be a duration like 30s, 5m, 1h or 1d from {} to 7d", format_duration(min_secs)),
        ));
    }
    let secs = crate::duration::parse(text, crate::duration::UP_TO_DAYS)
        .map(|d| d.as_secs())
        .ok_or_else(|| invalid(field, format!("{text:?} is not a duration like 30s, 5m, 1h or 1d")))?;
    if secs < min_secs || secs > MAX_SPAN_SECS {
        return Err(invalid(field, format!("must be from {} to 7d", format_duration(min_secs))));
    }
    Ok(secs)
}

pub(super) fn check_values(field: &'static str, values: Vec<String>) -> Result<Vec<String>, AlertError> {
    if values.len() > MAX_FILTER_VALUES || values.iter().any(|v| !not_blank(v) || v.chars().count() > MAX_FILTER_VALUE)
    {
        return Err(invalid(
            field,
            format!("at most {MAX_FILTER_VALUES} values of 1 to {MAX_FILTER_VALUE} characters, not only white space"),
        ));
    }
    let mut values: Vec<String> =
        values.into_iter().map(|v| v.trim_matches(|c: char| c.is_ascii_whitespace()).to_owned()).collect();
    values.sort();
    values.dedup();
    Ok(values)
}

pub(super) fn check_families(families: Vec<String>) -> Result<Vec<String>, AlertError> {
    let families = check_values("families", families)?;
    if let Some(bad) = families.iter().find(|f| Family::parse(f).is_none()) {
        let names: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
        return Err(invalid("families", format!("{bad:?} is not one of: {}", names.join(", "))));
    }
    Ok(families)
}

/// The checks that depend on the kind.
pub(super) fn check_rule(rule: &Rule) -> Result<(), AlertError> {
    let threshold_field = if rule.kind == RuleKind::Latency { "threshold_ms" } else { "threshold" };
    check_threshold(rule.kind, rule.threshold).map_err(|reason| invalid(threshold_field, reason))?;
    let filtered = !(rule.streams.is_empty() && rule.codes.is_empty() && rule.families.is_empty());
    if rule.kind != RuleKind::DeliveryErrors && filtered {
        return Err(invalid("streams", "streams, codes and families apply to delivery_errors rules only"));
    }
    if !matches!(rule.kind, RuleKind::ErrorRate | RuleKind::Latency) && rule.min_requests.is_some() {
        return Err(invalid("min_requests", "applies to error_rate and latency rules only"));
    }
    match (rule.kind, rule.percentile) {
        (RuleKind::Latency, Some(p)) if LATENCY_PERCENTILES.contains(&p) => {}
        (RuleKind::Latency, _) => return Err(invalid("percentile", "must be one of 50, 90, 95, 99")),
        (_, Some(_)) => return Err(invalid("percentile", "applies to latency rules only")),
        (_, None) => {}
    }
    if rule.min_requests.is_some_and(|m| m > MAX_MIN_REQUESTS) {
        return Err(invalid("min_requests", format!("must be at most {MAX_MIN_REQUESTS}")));
    }
    Ok(())
}
