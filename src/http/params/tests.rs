//! The parameter structs parse strictly, and refuse exactly what their documentation says they refuse.

use serde_json::Value;

use super::delivery_errors::{CorrelationParams, ErrorFilterParams};
use super::filters::FilterParams;
use super::logs::PageParams;
use super::stats::{GeoParams, SummaryParams, TimelineParams, TopParams, VisitTimesParams};
use super::*;
use crate::query::model::{Query, Split, StatusFilter};
use crate::query::params::Resolve;

fn resolve() -> Resolve {
    crate::query::params::test_resolve()
}

fn query(qs: &str) -> Result<Query, ParamError> {
    let (filters, _): (FilterParams, SummaryParams) = parse(Some(qs))?;
    filters.query(&resolve())
}

#[test]
fn filters_are_validated_and_normalised() {
    let q = query("status=5xx&status=404&status=200&method=get&country=de&country=FR&client_ip=10.1.2.3/8&bot=false")
        .unwrap();
    let f = &q.filters;
    assert_eq!(f.status, [StatusFilter::Code(200), StatusFilter::Code(404), StatusFilter::Class(5)]);
    assert_eq!(f.method, ["GET"]);
    assert_eq!(f.country, ["DE", "FR"]);
    assert_eq!(f.client_ip[0].to_string(), "10.0.0.0/8");
    assert_eq!(f.bot, Some(false));
    // Same filters in another order make the same query (one cache entry).
    assert_eq!(
        query("country=FR&country=de&status=404&status=5xx&status=200&method=GET&client_ip=10.0.0.0/8&bot=false")
            .unwrap(),
        q
    );
    // An empty value is absent where the schema admits the empty text, and refused where it does not.
    assert_eq!(query("q=&path_prefix=&city=").unwrap(), query("").unwrap());
    for qs in ["from=", "status=", "bot=", "client_ip="] {
        assert!(query(qs).is_err(), "{qs}");
    }
    // A value is taken whole: a comma is part of it.
    assert_eq!(query("city=Washington,%20D.C.").unwrap().filters.city, ["Washington, D.C."]);
}

#[test]
fn bad_values_name_the_parameter_and_what_it_accepts() {
    for (qs, param, hint) in [
        ("status=6xx", "status", "4xx"),
        ("status=abc", "status", "status code"),
        ("country=Germany", "country", "alpha-2"),
        ("client_ip=10.0.0.300", "client_ip", "CIDR"),
        ("bot=maybe", "bot", "true, false"),
        ("crawler_category=robots", "crawler_category", "search, ai, monitor, seo, scanner or other"),
        ("compare=last_year", "compare", "previous_period"),
        ("statuss=404", "statuss", "accepts: "),
        ("from=now-1h&from=now-2h", "from", "once"),
    ] {
        let e = query(qs).unwrap_err();
        assert_eq!(e.param, param, "{qs}");
        assert!(e.reason.contains(hint), "{qs}: {}", e.reason);
    }
    let e = query(&format!("q={}", "x".repeat(257))).unwrap_err();
    assert_eq!((e.param.as_str(), e.reason.as_str()), ("q", "at most 256 characters"));
    let many = (0..101).map(|i| format!("path=/{i}")).collect::<Vec<_>>().join("&");
    assert_eq!(query(&many).unwrap_err().reason, "at most 100 values");
    let e = query("statuss=404").unwrap_err();
    assert!(e.reason.ends_with("this endpoint accepts: bot, browser, city, client_ip, compare, country, crawler, crawler_category, device, from, method, os, path, path_prefix, q, referrer_host, status, to, vhost"), "{}", e.reason);
}

#[test]
fn crawler_filters_are_repeatable_and_categories_are_the_enricher_s() {
    let q = query("crawler=GPTBot&crawler=Googlebot&crawler_category=ai&crawler_category=search").unwrap();
    assert_eq!(q.filters.crawler, ["GPTBot", "Googlebot"]);
    assert_eq!(q.filters.crawler_category, ["ai", "search"]);
    for category in crate::enrich::CRAWLER_CATEGORIES {
        assert!(query(&format!("crawler_category={category}")).is_ok(), "{category}");
    }
    let pattern = forms::CRAWLER_CATEGORY.pattern;
    assert_eq!(pattern, format!("^({})$", crate::enrich::CRAWLER_CATEGORIES.join("|")));
}

#[test]
fn endpoint_parameters_keep_their_bounds_and_defaults() {
    let (_, top): (FilterParams, TopParams) = parse(Some("limit=25&compare=PREVIOUS_PERIOD")).unwrap();
    assert_eq!(top.limit, Some(25));
    assert!(top.compare.is_some());
    let e = parse::<(FilterParams, TopParams)>(Some("limit=0")).unwrap_err();
    assert_eq!((e.param.as_str(), e.reason.as_str()), ("limit", "must be an integer from 1 to 1000"));
    let e = parse::<(FilterParams, GeoParams)>(Some("city_limit=-1")).unwrap_err();
    assert_eq!(e.reason, "must be an integer from 1 to 1000");
    let e = parse::<(FilterParams, PageParams)>(Some("size=100000")).unwrap_err();
    assert_eq!(e.reason, "must be an integer from 1 to 1000");
    let e = parse::<(FilterParams, PageParams)>(Some("order=sideways")).unwrap_err();
    assert_eq!(e.reason, "must be one of: desc, asc");
    let e = parse::<(ErrorFilterParams, CorrelationParams)>(Some("min_drop=0.01")).unwrap_err();
    assert_eq!(e.reason, "must be a number from 0.05 to 1");
    let (_, c): (ErrorFilterParams, CorrelationParams) = parse(Some("min_drop=0.5&family=LAMBDA")).unwrap();
    assert_eq!(c.min_drop, Some(0.5));

    let (_, t): (FilterParams, TimelineParams) = parse(Some("split=browser&split_limit=3")).unwrap();
    assert_eq!(t.split(), Split::Dimension(crate::query::model::Dimension::Browser, 3));
    let (_, t): (FilterParams, TimelineParams) = parse(Some("split=status_class")).unwrap();
    assert_eq!(t.split(), Split::StatusClass);
    let e = parse::<(FilterParams, TimelineParams)>(Some("split=weather")).unwrap_err();
    assert!(e.reason.starts_with("must be one of: status_class, country, city"), "{}", e.reason);

    let (_, v): (FilterParams, VisitTimesParams) = parse(Some("tz=Europe/Berlin")).unwrap();
    assert_eq!(v.time_zone().unwrap(), "Europe/Berlin");
    let e = parse::<(FilterParams, VisitTimesParams)>(Some("tz=Mars/Olympus")).unwrap_err();
    assert!(e.reason.contains("IANA time zone"), "{}", e.reason);
}

/// Every bound the documentation states is enforced: a value just inside is accepted and one just
/// outside is refused, naming the parameter. Walks the generated spec, so a new bound is covered.
#[test]
fn every_documented_bound_is_enforced() {
    let spec = serde_json::to_value(crate::http::openapi()).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(params) = op["parameters"].as_array() else { continue };
            let query: Vec<&Value> = params.iter().filter(|p| p["in"] == "query").collect();
            for p in &query {
                let name = p["name"].as_str().unwrap();
                let schema = &p["schema"];
                let item_schema = if schema["type"] == "array" { &schema["items"] } else { schema };
                let mut cases: Vec<(String, bool)> = Vec::new();
                if let (Some(lo), Some(hi)) = (item_schema["minimum"].as_f64(), item_schema["maximum"].as_f64()) {
                    cases.extend([(fmt(lo), true), (fmt(hi), true)]);
                    let step = if has_type(item_schema, "integer") { 1.0 } else { 0.001 };
                    cases.extend([(fmt(lo - step), false), (fmt(hi + step), false)]);
                }
                if let Some(max) = item_schema["maxLength"].as_u64() {
                    cases.push(("x".repeat(max as usize + 1), false));
                }
                if let Some(choices) = item_schema["enum"].as_array() {
                    cases.push(("no_such_choice".to_owned(), false));
                    cases.extend(choices.iter().map(|c| (c.as_str().unwrap().to_owned(), true)));
                }
                if let Some(max) = schema["maxItems"].as_u64() {
                    let first = cases.iter().find(|c| c.1).map(|c| c.0.clone()).unwrap_or_else(|| "a".to_owned());
                    cases.push((vec![first; max as usize + 1].join("\n"), false));
                }
                for (value, ok) in cases {
                    // A list is the name repeated, one value each.
                    let mut qs = url::form_urlencoded::Serializer::new(String::new());
                    for v in value.split('\n') {
                        qs.append_pair(name, v);
                    }
                    let qs = qs.finish();
                    let got = parse_for(path, method, &qs);
                    match (ok, got) {
                        (true, Err(e)) if e.param == name => panic!("{method} {path}: {qs} refused: {e}"),
                        (false, Ok(())) => panic!("{method} {path}: {qs} accepted"),
                        (false, Err(e)) => assert_eq!(e.param, name, "{method} {path}: {qs}"),
                        _ => {}
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} cases");
}

fn fmt(n: f64) -> String {
    if n.fract() == 0.0 { format!("{}", n as i64) } else { format!("{n}") }
}

/// Parses `qs` as the operation would, up to the checks the documentation states.
fn parse_for(path: &str, method: &str, qs: &str) -> Result<(), ParamError> {
    use super::alerts::{IncidentListParams, ListParams, RedeliverParams};
    use super::delivery_errors::{ErrorPageParams, IncidentParams, IntervalParams};
    use super::logs::ExportParams;
    let q = Some(qs);
    match (method, path) {
        (_, "/v1/logs") => parse::<(FilterParams, PageParams)>(q).map(drop),
        (_, "/v1/logs/export") => parse::<(FilterParams, ExportParams)>(q).map(drop),
        (_, "/v1/logs/tail") => parse::<(FilterParams, super::tail::TailParams)>(q).map(drop),
        (_, "/v1/stats/top/{dimension}") => parse::<(FilterParams, TopParams)>(q).map(drop),
        (_, "/v1/stats/timeline") => parse::<(FilterParams, TimelineParams)>(q).map(drop),
        (_, "/v1/stats/summary") => parse::<(FilterParams, SummaryParams)>(q).map(drop),
        (_, "/v1/stats/visit-times") => parse::<(FilterParams, VisitTimesParams)>(q).map(drop),
        (_, "/v1/stats/geo") => parse::<(FilterParams, GeoParams)>(q).map(drop),
        (_, "/v1/delivery-errors") => parse::<(ErrorFilterParams, ErrorPageParams)>(q).map(drop),
        (_, "/v1/delivery-errors/summary") => parse::<(ErrorFilterParams, IntervalParams)>(q).map(drop),
        (_, "/v1/delivery-errors/correlation") => parse::<(ErrorFilterParams, CorrelationParams)>(q).map(drop),
        (_, "/v1/delivery-errors/incidents") => parse::<(ErrorFilterParams, IncidentParams)>(q).map(drop),
        ("post", "/v1/delivery-errors/replays") => parse::<super::replays::ReplayStartParams>(q).map(drop),
        ("get", "/v1/delivery-errors/replays") => parse::<super::replays::ReplayListParams>(q).map(drop),
        (_, "/v1/alerts/incidents") => parse::<(IncidentListParams, ListParams)>(q).map(drop),
        (_, "/v1/alerts/events/{id}/redeliver") => parse::<RedeliverParams>(q).map(drop),
        (_, p) if p.starts_with("/v1/alerts/") => parse::<ListParams>(q).map(drop),
        (m, p) => panic!("no parameter set known for {m} {p}: add it here"),
    }
}

#[test]
fn durations_and_virtual_hosts_parse_and_refuse_as_documented() {
    use super::stats::{RankBy, TimelineMetric};
    use crate::query::model::DurationRank;
    let q = query("vhost=shop.example&vhost=a.example&vhost=shop.example").unwrap();
    assert_eq!(q.filters.vhost, ["a.example", "shop.example"], "sorted and deduplicated");
    let top: TopParams = parse(Some("rank_by=duration_p95&min_requests=20")).unwrap();
    assert_eq!((top.rank_by.unwrap().duration(), top.min_requests), (Some(DurationRank::P95), Some(20)));
    let top: TopParams = parse(Some("rank_by=duration_total")).unwrap();
    assert_eq!(top.rank_by, Some(RankBy::DurationTotal));
    assert_eq!(TopParams::default().rank_by.unwrap_or_default().duration(), None, "count by default");
    for bad in ["rank_by=p95", "min_requests=0", "min_requests=1000001"] {
        let e = parse::<TopParams>(Some(bad)).unwrap_err();
        assert_eq!(e.param, bad.split('=').next().unwrap(), "{bad}");
    }
    let timeline: TimelineParams = parse(Some("metric=duration")).unwrap();
    assert_eq!(timeline.metric, Some(TimelineMetric::Duration));
    assert_eq!(parse::<TimelineParams>(Some("metric=latency")).unwrap_err().param, "metric");
}
