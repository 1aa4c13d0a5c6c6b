//! What a rule means, without any I/O: the four kinds of rule, and the decision an evaluation makes
//! from the counts it read. Rules write their windows as [`crate::duration`]s.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest `threshold_ms` of a `latency` rule: one day.
pub const MAX_THRESHOLD_MS: f64 = 86_400_000.0;

/// Windows before the current one that tell whether a stream "normally has traffic" (ingest silence).
pub const SILENCE_BASELINE_WINDOWS: u32 = 6;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Firehose delivery errors (from CloudWatch Logs) at or above `threshold` within the window.
    DeliveryErrors,
    /// Fewer than `threshold` records ingested within the window while the six windows before it
    /// averaged at least `threshold`.
    IngestSilence,
    /// The share of 5xx responses in the access logs above `threshold` percent over the window.
    ErrorRate,
    /// The `percentile` of the request durations over the window above `threshold_ms` milliseconds.
    Latency,
}

/// The percentiles a `latency` rule may watch.
pub const LATENCY_PERCENTILES: [u8; 4] = [50, 90, 95, 99];

impl RuleKind {
    pub const ALL: [RuleKind; 4] =
        [RuleKind::DeliveryErrors, RuleKind::IngestSilence, RuleKind::ErrorRate, RuleKind::Latency];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::DeliveryErrors => "delivery_errors",
            RuleKind::IngestSilence => "ingest_silence",
            RuleKind::ErrorRate => "error_rate",
            RuleKind::Latency => "latency",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The counts one evaluation read for one rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Counts {
    DeliveryErrors {
        errors: u64,
    },
    IngestSilence {
        records: u64,
        baseline_records: u64,
    },
    ErrorRate {
        requests: u64,
        errors_5xx: u64,
    },
    /// Requests with a duration in the window and the watched percentile of their durations (ms).
    Latency {
        timed_requests: u64,
        percentile_ms: Option<f64>,
    },
}

/// The decision for one rule at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The condition holds.
    pub breached: bool,
    /// The value compared with the threshold: errors, records, or the 5xx percentage.
    pub value: f64,
}

/// Decides whether the condition of a rule holds. `open` says whether the rule already has an open
/// incident: ingest silence then stays breached while the window is quiet, even once the baseline
/// windows have gone quiet too (otherwise a long outage would resolve itself).
pub fn judge(threshold: f64, min_requests: u64, counts: &Counts, open: bool) -> Verdict {
    match *counts {
        Counts::DeliveryErrors { errors } => Verdict { breached: errors as f64 >= threshold, value: errors as f64 },
        Counts::IngestSilence { records, baseline_records } => {
            let quiet = (records as f64) < threshold;
            let normally_busy = baseline_records as f64 / f64::from(SILENCE_BASELINE_WINDOWS) >= threshold;
            Verdict { breached: quiet && (open || normally_busy), value: records as f64 }
        }
        Counts::ErrorRate { requests, errors_5xx } => {
            let percent = if requests == 0 { 0.0 } else { errors_5xx as f64 * 100.0 / requests as f64 };
            Verdict { breached: requests >= min_requests.max(1) && percent > threshold, value: percent }
        }
        Counts::Latency { timed_requests, percentile_ms } => {
            let value = percentile_ms.unwrap_or(0.0);
            Verdict { breached: timed_requests >= min_requests.max(1) && value > threshold, value }
        }
    }
}

/// Checks a threshold for a kind; the reason when it makes no sense.
pub fn check_threshold(kind: RuleKind, threshold: f64) -> Result<(), &'static str> {
    if !threshold.is_finite() {
        return Err("must be a number");
    }
    match kind {
        RuleKind::DeliveryErrors | RuleKind::IngestSilence if !(1.0..=1e9).contains(&threshold) => {
            Err("must be a count from 1 to 1000000000")
        }
        RuleKind::ErrorRate if !(0.0..100.0).contains(&threshold) => Err("must be a percentage from 0 to below 100"),
        RuleKind::Latency if !(0.0..=MAX_THRESHOLD_MS).contains(&threshold) => {
            Err("must be milliseconds from 0 to 86400000")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_errors_fire_at_the_threshold() {
        let v = judge(5.0, 0, &Counts::DeliveryErrors { errors: 4 }, false);
        assert!(!v.breached);
        let v = judge(5.0, 0, &Counts::DeliveryErrors { errors: 5 }, false);
        assert!(v.breached);
        assert_eq!(v.value, 5.0);
    }

    #[test]
    fn silence_needs_a_busy_baseline_to_open_but_not_to_stay_open() {
        let quiet_after_busy = Counts::IngestSilence { records: 0, baseline_records: 600 };
        assert!(judge(1.0, 0, &quiet_after_busy, false).breached);
        let always_quiet = Counts::IngestSilence { records: 0, baseline_records: 0 };
        assert!(!judge(1.0, 0, &always_quiet, false).breached, "a stream that never had traffic is not silent");
        assert!(judge(1.0, 0, &always_quiet, true).breached, "a long outage stays open");
        let back = Counts::IngestSilence { records: 3, baseline_records: 0 };
        assert!(!judge(1.0, 0, &back, true).breached);
    }

    #[test]
    fn error_rate_is_a_percentage_above_the_threshold_with_enough_requests() {
        let c = Counts::ErrorRate { requests: 200, errors_5xx: 20 };
        let v = judge(5.0, 10, &c, false);
        assert!(v.breached);
        assert_eq!(v.value, 10.0);
        assert!(!judge(10.0, 10, &c, false).breached, "above, not at");
        assert!(!judge(5.0, 500, &c, false).breached, "too few requests to judge");
        assert!(!judge(5.0, 0, &Counts::ErrorRate { requests: 0, errors_5xx: 0 }, false).breached);
    }

    #[test]
    fn latency_fires_above_the_threshold_with_enough_timed_requests() {
        let c = Counts::Latency { timed_requests: 50, percentile_ms: Some(750.0) };
        let v = judge(500.0, 20, &c, false);
        assert!(v.breached);
        assert_eq!(v.value, 750.0);
        assert!(!judge(750.0, 20, &c, false).breached, "above, not at");
        assert!(!judge(500.0, 51, &c, false).breached, "too few requests to judge");
        assert!(!judge(0.0, 0, &Counts::Latency { timed_requests: 0, percentile_ms: None }, false).breached);
        assert!(check_threshold(RuleKind::Latency, 250.5).is_ok());
        assert!(check_threshold(RuleKind::Latency, -1.0).is_err());
        assert!(check_threshold(RuleKind::Latency, 86_400_001.0).is_err());
    }

    #[test]
    fn thresholds_are_checked_per_kind() {
        assert!(check_threshold(RuleKind::DeliveryErrors, 0.0).is_err());
        assert!(check_threshold(RuleKind::DeliveryErrors, 3.0).is_ok());
        assert!(check_threshold(RuleKind::ErrorRate, 100.0).is_err());
        assert!(check_threshold(RuleKind::ErrorRate, 2.5).is_ok());
        assert!(check_threshold(RuleKind::IngestSilence, f64::NAN).is_err());
    }
}
