//! Visit times ([`VisitTimesRequest`]): requests per local weekday and hour in an IANA time zone.
//! Requests are counted per UTC minute of each day partition (per second for a day where the zone's
//! offset is not whole minutes and constant over each minute), then each minute is folded into its
//! local weekday and hour.

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;
use tantivy::u64_to_i64;

use super::Slicer;
use crate::query::model::{VisitTimesRequest, VisitTimesResult};
use crate::store::StoreError;
use crate::store::embedded::day::DAY_MS;
use crate::store::embedded::scan::{Fetch, Part, fold_segments, u64_column};
use crate::store::embedded::schema::name;
use crate::store::embedded::state::EmbeddedStore;

const MINUTE_MS: i64 = 60_000;

/// Weekday (0 = Monday) and hour of a local time given in seconds since the local epoch.
fn weekday_hour(local_secs: i64) -> (usize, usize) {
    let days = local_secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday (3 days after a Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let hour = (local_secs.rem_euclid(86_400) / 3600) as usize;
    (weekday, hour)
}

fn offset_secs(tz: &Tz, utc_secs: i64) -> i64 {
    let t = DateTime::from_timestamp(utc_secs, 0).unwrap_or_default().naive_utc();
    i64::from(tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
}

pub fn time_zone(name: &str) -> Result<Tz, StoreError> {
    name.parse::<Tz>().map_err(|_| {
        StoreError::BadRequest(format!("unknown time zone '{name}' (use an IANA name such as Europe/Paris)"))
    })
}

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_visit_times(
        &self,
        request: &VisitTimesRequest,
    ) -> Result<VisitTimesResult, StoreError> {
        let tz = time_zone(&request.time_zone)?;
        let parts = self.parts(&request.query)?;
        let mut counts = vec![vec![0u64; 24]; 7];
        // Requests per UTC minute of each day, then each minute to its local weekday and hour. A minute
        // is one local hour as long as the zone's offset is whole minutes and constant over it (every
        // zone since 1972); a day where it is not is counted per second.
        let per_minute = self.count_per(&parts, MINUTE_MS)?;
        let mut per_second: Option<Vec<Vec<u64>>> = None;
        for (p, (part, minutes)) in parts.iter().zip(&per_minute).enumerate() {
            let start_secs = part.day.start_ms / 1000;
            let whole_minutes = minutes.iter().enumerate().filter(|(_, n)| **n > 0).all(|(m, _)| {
                let at = start_secs + m as i64 * 60;
                let offset = offset_secs(&tz, at);
                offset % 60 == 0 && offset_secs(&tz, at + 59) == offset
            });
            let (per, step) = if whole_minutes {
                (minutes, 60)
            } else {
                if per_second.is_none() {
                    per_second = Some(self.count_per(&parts, 1000)?);
                }
                (&per_second.as_ref().expect("counted")[p], 1)
            };
            for (i, n) in per.iter().enumerate().filter(|(_, n)| **n > 0) {
                let at = start_secs + i as i64 * step;
                let (weekday, hour) = weekday_hour(at + offset_secs(&tz, at));
                counts[weekday][hour] += n;
            }
        }
        Ok(VisitTimesResult { counts })
    }

    /// Matching requests of each part's day per `step_ms` slice of it.
    fn count_per(&self, parts: &[Part], step_ms: i64) -> Result<Vec<Vec<u64>>, StoreError> {
        let slices = (DAY_MS / step_ms) as usize;
        let init = || vec![vec![0u64; slices]; parts.len()];
        let partial = fold_segments(parts, self.threads(), init, |acc, p, seg| {
            let part = &parts[p];
            let per = &mut acc[p];
            let ts = u64_column(seg, name::TS)?;
            let mut fetch = Fetch::default();
            let mut slicer = Slicer::new(part.day.start_ms, step_ms, slices);
            part.for_each_block(seg, |block| {
                for t in fetch.values(&ts, block) {
                    if let Some(i) = slicer.slice(u64_to_i64(*t)) {
                        per[i] += 1;
                    }
                }
            })
        })?;
        let mut partial = partial.into_iter();
        let mut all = partial.next().unwrap_or_else(init);
        for other in partial {
            for (x, y) in all.iter_mut().zip(other) {
                x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn weekdays_and_hours_from_local_seconds() {
        // 2015-05-18 was a Monday.
        let monday = "2015-05-18T00:00:00Z".parse::<DateTime<Utc>>().unwrap().timestamp();
        assert_eq!(weekday_hour(monday), (0, 0));
        assert_eq!(weekday_hour(monday + 86_400 * 6 + 23 * 3600 + 3599), (6, 23));
        assert_eq!(weekday_hour(-1), (2, 23), "1969-12-31 23:59:59 was a Wednesday");
        let tz = time_zone("Asia/Kolkata").unwrap();
        assert_eq!(offset_secs(&tz, monday), 19_800);
        assert!(matches!(time_zone("Europe/Atlantis"), Err(StoreError::BadRequest(_))));
    }
}
