//! Geography ([`GeoRequest`]): requests per country (ISO code, with its most frequent name) and the
//! top cities (with their most frequent country and the centroid of their located requests). Per
//! segment, counts go by term ordinal and become terms once per distinct value; countries and cities
//! are ranked by count, ties by key.

use std::collections::HashMap;

use tantivy::u64_to_f64;

use super::top_entries;
use crate::query::model::{CityCount, CountryCount, GeoRequest, GeoResult, MAX_TOP_LIMIT};
use crate::store::StoreError;
use crate::store::embedded::scan::{Fetch, KeyCounts, Ords, nonzero, u64_column};
use crate::store::embedded::schema::name;
use crate::store::embedded::state::EmbeddedStore;

/// Countries a geo answer lists at most (as the OpenSearch adapter).
const MAX_COUNTRIES: usize = 300;

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_geo(&self, request: &GeoRequest) -> Result<GeoResult, StoreError> {
        let parts = self.parts(&request.query)?;
        let city_limit = request.city_limit.min(MAX_TOP_LIMIT) as usize;
        let mut countries = KeyCounts::default();
        let mut country_names: Vec<KeyCounts> = Vec::new();
        let mut cities = KeyCounts::default();
        let mut city_countries: Vec<KeyCounts> = Vec::new();
        // Per city: documents with a location, and the sums of their coordinates.
        let mut centroids: Vec<(u64, f64, f64)> = Vec::new();
        for part in &parts {
            for seg in part.segments() {
                let mut country = Ords::open(seg, name::COUNTRY)?;
                let mut country_name = Ords::open(seg, name::COUNTRY_NAME)?;
                let mut city = Ords::open(seg, name::CITY)?;
                let lat = u64_column(seg, name::LAT)?;
                let lon = u64_column(seg, name::LON)?;
                let mut country_counts = vec![0u32; country.num_terms()];
                let mut city_counts = vec![0u32; city.num_terms()];
                let mut city_location = vec![(0u64, 0f64, 0f64); if city_limit > 0 { city.num_terms() } else { 0 }];
                let mut name_pairs: HashMap<(u64, u64), u64> = HashMap::new();
                let mut city_pairs: HashMap<(u64, u64), u64> = HashMap::new();
                let (mut f_lat, mut f_lon) = (Fetch::default(), Fetch::default());
                let (mut c_buf, mut n_buf, mut ci_buf, mut la_buf, mut lo_buf) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                part.for_each_block(seg, |block| {
                    country.aligned(block, &mut c_buf);
                    country_name.aligned(block, &mut n_buf);
                    for (c, n) in c_buf.iter().zip(&n_buf) {
                        if let Some(c) = c {
                            country_counts[*c as usize] += 1;
                            if let Some(n) = n {
                                *name_pairs.entry((*c, *n)).or_default() += 1;
                            }
                        }
                    }
                    if city_limit == 0 {
                        return;
                    }
                    city.aligned(block, &mut ci_buf);
                    f_lat.aligned(&lat, block, &mut la_buf);
                    f_lon.aligned(&lon, block, &mut lo_buf);
                    for (i, ci) in ci_buf.iter().enumerate() {
                        let Some(ci) = ci else { continue };
                        city_counts[*ci as usize] += 1;
                        if let Some(c) = c_buf[i] {
                            *city_pairs.entry((*ci, c)).or_default() += 1;
                        }
                        if let (Some(la), Some(lo)) = (la_buf[i], lo_buf[i]) {
                            let e = &mut city_location[*ci as usize];
                            e.0 += 1;
                            e.1 += u64_to_f64(la);
                            e.2 += u64_to_f64(lo);
                        }
                    }
                })?;
                // Ordinals → global entries.
                let mut country_entry: HashMap<u64, usize> = HashMap::new();
                let (os, ns) = nonzero(&country_counts);
                country.terms(&os, |i, term| {
                    let e = countries.add(term, u64::from(ns[i]));
                    if e == country_names.len() {
                        country_names.push(KeyCounts::default());
                    }
                    country_entry.insert(os[i], e);
                })?;
                let mut name_ords: Vec<u64> = name_pairs.keys().map(|(_, n)| *n).collect();
                name_ords.sort_unstable();
                name_ords.dedup();
                let mut name_terms: HashMap<u64, Box<[u8]>> = HashMap::new();
                country_name.terms(&name_ords, |i, term| {
                    name_terms.insert(name_ords[i], term.into());
                })?;
                for ((c, n), count) in name_pairs {
                    country_names[country_entry[&c]].add(&name_terms[&n], count);
                }
                if city_limit == 0 {
                    continue;
                }
                let mut city_entry: HashMap<u64, usize> = HashMap::new();
                let (os, ns) = nonzero(&city_counts);
                city.terms(&os, |i, term| {
                    let e = cities.add(term, u64::from(ns[i]));
                    if e == city_countries.len() {
                        city_countries.push(KeyCounts::default());
                        centroids.push((0, 0.0, 0.0));
                    }
                    let (n, la, lo) = city_location[os[i] as usize];
                    let c = &mut centroids[e];
                    c.0 += n;
                    c.1 += la;
                    c.2 += lo;
                    city_entry.insert(os[i], e);
                })?;
                let mut pair_countries: Vec<u64> = city_pairs.keys().map(|(_, c)| *c).collect();
                pair_countries.sort_unstable();
                pair_countries.dedup();
                let mut country_terms: HashMap<u64, Box<[u8]>> = HashMap::new();
                country.terms(&pair_countries, |i, term| {
                    country_terms.insert(pair_countries[i], term.into());
                })?;
                for ((ci, c), count) in city_pairs {
                    city_countries[city_entry[&ci]].add(&country_terms[&c], count);
                }
            }
        }
        let first_key =
            |keys: &KeyCounts| top_entries(keys, 1).first().map(|e| String::from_utf8_lossy(keys.key(*e)).into_owned());
        let countries = top_entries(&countries, MAX_COUNTRIES)
            .into_iter()
            .map(|e| CountryCount {
                iso_code: String::from_utf8_lossy(countries.key(e)).into_owned(),
                name: first_key(&country_names[e]),
                count: countries.count(e),
            })
            .collect();
        let cities = top_entries(&cities, city_limit)
            .into_iter()
            .map(|e| {
                let (n, lat, lon) = centroids[e];
                let located = n > 0;
                CityCount {
                    name: String::from_utf8_lossy(cities.key(e)).into_owned(),
                    country_iso_code: first_key(&city_countries[e]),
                    lat: located.then(|| lat / n as f64),
                    lon: located.then(|| lon / n as f64),
                    count: cities.count(e),
                }
            })
            .collect();
        Ok(GeoResult { countries, cities })
    }
}
