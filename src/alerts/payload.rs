//! Webhook bodies: the event itself (`json`), or a Slack incoming-webhook message (`slack`). Both are
//! derived from the stored event, so every retry and redelivery sends the same bytes. Also the sample
//! event a webhook test sends ([`sample_event`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::model::*;
use super::rules::RuleKind;

pub fn body(format: PayloadFormat, event: &AlertEvent) -> Vec<u8> {
    match format {
        PayloadFormat::Json => serde_json::to_vec(event).expect("events serialise"),
        PayloadFormat::Slack => {
            serde_json::to_vec(&serde_json::json!({ "text": slack_text(event) })).expect("messages serialise")
        }
    }
}

/// The Slack message: what fired or resolved, the value against the threshold, the window, the top
/// codes and the links (clickable when they are absolute).
pub fn slack_text(event: &AlertEvent) -> String {
    let d = match &event.data {
        EventData::Incident(d) => d,
        EventData::ReplayCompleted(r) => {
            let c = &r.counts;
            let link = if r.link.starts_with("http") { format!("<{}|replay>", r.link) } else { r.link.clone() };
            return format!(
                ":recycle: *Replay {}*{} of `{}`: {} failed records read ({} lines): {} indexed, {} already \
                 present, {} still unparseable. {}",
                escape(&r.status),
                if r.dry_run { " (dry run)" } else { "" },
                escape(&r.location),
                c.records,
                c.lines,
                c.indexed,
                c.already_present,
                c.dead_lettered,
                link,
            );
        }
        EventData::EndpointDisabled(e) => {
            return format!(
                ":no_entry: *Webhook disabled*: `{}` ({}) failed every attempt since {}; last error: {}. \
                 Enable it again with PATCH /v1/alerts/webhooks/{} {{\"enabled\": true}}.",
                escape(&e.webhook_id),
                escape(&e.host),
                e.failing_since.format("%Y-%m-%d %H:%M:%S UTC"),
                escape(&e.reason),
                escape(&e.webhook_id),
            );
        }
    };
    let f = &d.findings;
    let headline = match event.kind.as_str() {
        EVENT_FIRING => format!(":rotating_light: *Firing*: {}", escape(&d.rule.name)),
        EVENT_RESOLVED => format!(":white_check_mark: *Resolved*: {}", escape(&d.rule.name)),
        _ => format!(":test_tube: *Test*: {}", escape(&d.rule.name)),
    };
    let measure = match d.rule.kind {
        RuleKind::DeliveryErrors => format!("{} delivery errors (threshold {})", f.value, f.threshold),
        RuleKind::IngestSilence => format!("{} records ingested (expected at least {})", f.value, f.threshold),
        RuleKind::ErrorRate => format!("{:.2}% of responses were 5xx (threshold {}%)", f.value, f.threshold),
        RuleKind::Latency => format!("request-duration percentile {:.1} ms (threshold {} ms)", f.value, f.threshold),
    };
    let mut text = format!(
        "{headline}\n{measure} in the {} window {} – {}",
        f.window.duration,
        f.window.from.format("%Y-%m-%d %H:%M:%S UTC"),
        f.window.to.format("%H:%M:%S UTC"),
    );
    if let Some(resolved) = d.resolved_at {
        text.push_str(&format!(
            "\nOpen from {} to {}",
            d.opened_at.format("%H:%M:%S"),
            resolved.format("%H:%M:%S UTC")
        ));
    }
    if !f.top_codes.is_empty() {
        let codes: Vec<String> = f.top_codes.iter().map(|c| format!("`{}` ({})", escape(&c.code), c.count)).collect();
        text.push_str(&format!("\nTop codes: {}", codes.join(", ")));
    }
    let links: Vec<String> = f
        .links
        .iter()
        .map(|(name, url)| if url.starts_with("http") { format!("<{url}|{name}>") } else { format!("{name}: {url}") })
        .collect();
    if !links.is_empty() {
        text.push_str(&format!("\n{}", links.join(" · ")));
    }
    text
}

/// Slack's three control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The `alert.test` event: the shape of a firing delivery-errors alert with sample values.
pub fn sample_event(now: DateTime<Utc>) -> AlertEvent {
    let from = now - chrono::TimeDelta::minutes(5);
    AlertEvent {
        kind: EVENT_TEST.to_owned(),
        timestamp: now,
        data: EventData::Incident(Box::new(AlertData {
            rule: RuleRef {
                id: "rule_sample".into(),
                name: "Sample: delivery errors on weblogs".into(),
                kind: RuleKind::DeliveryErrors,
                threshold: 5.0,
                window: "5m".into(),
                cooldown: "10m".into(),
                streams: vec!["weblogs".into()],
                codes: Vec::new(),
                families: Vec::new(),
            },
            incident_id: "inc_sample".into(),
            status: IncidentStatus::Open,
            opened_at: now,
            resolved_at: None,
            findings: Findings {
                window: Window { from, to: now, duration: "5m".into() },
                value: 12.0,
                threshold: 5.0,
                counts: BTreeMap::from([("delivery_errors".to_owned(), 12)]),
                top_codes: vec![CodeCount { code: "HttpEndpoint.DestinationException".into(), count: 12 }],
                streams: vec![CodeCount { code: "weblogs".into(), count: 12 }],
                links: BTreeMap::new(),
            },
            test: true,
        })),
    }
}
