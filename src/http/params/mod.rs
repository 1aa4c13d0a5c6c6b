//! Query strings, strictly. Each endpoint family declares its parameters once, as a struct that
//! derives `Deserialize` (the parser) and `IntoParams` (the documentation). The [`Params`] extractor
//! reads the struct's own documentation back and enforces it before deserialising: unknown names are
//! refused with the list this endpoint accepts, a scalar given twice is refused, and every bound the
//! spec states (`minimum`, `maximum`, `maxLength`, `maxItems`, `enum`) is checked with a message naming
//! the parameter. The spec therefore cannot promise what the parser does not enforce, nor the reverse.
//! What a schema cannot say (an RFC 3339 time, a CIDR block) each struct checks when it builds the
//! query model.
//!
//! Repeatable parameters are `Vec`s: repeat the name or separate values with commas. Empty values are
//! absent (`from=` is the default).

pub mod alerts;
mod de;
pub mod delivery_errors;
pub mod filters;
pub mod logs;
pub mod stats;

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::sync::{OnceLock, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use super::problem::ApiError;
pub use crate::query::params::{ParamError, err};

/// A set of query parameters: one documented struct, or a tuple of them (an endpoint taking the shared
/// filters plus its own).
pub trait ParamSet: Sized {
    /// The documented parameters of every struct in the set.
    fn specs() -> Vec<&'static Spec>;
    /// Deserialises from checked pairs (each struct takes the names it documents).
    fn from_pairs(pairs: &Pairs) -> Result<Self, ParamError>;
}

/// Implements [`ParamSet`] for documented parameter structs.
macro_rules! param_set {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::http::params::ParamSet for $t {
            fn specs() -> Vec<&'static $crate::http::params::Spec> {
                vec![$crate::http::params::Spec::of::<$t>()]
            }
            fn from_pairs(pairs: &$crate::http::params::Pairs) -> Result<Self, $crate::http::params::ParamError> {
                pairs.deserialize::<$t>()
            }
        }
    )*};
}
pub(crate) use param_set;

impl<A: ParamSet, B: ParamSet> ParamSet for (A, B) {
    fn specs() -> Vec<&'static Spec> {
        let mut specs = A::specs();
        specs.extend(B::specs());
        specs
    }
    fn from_pairs(pairs: &Pairs) -> Result<Self, ParamError> {
        Ok((A::from_pairs(pairs)?, B::from_pairs(pairs)?))
    }
}

/// Extractor: the query string checked against `T`'s documentation and deserialised into it.
pub struct Params<T>(pub T);

impl<T: ParamSet, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Params(parse::<T>(parts.uri.query())?))
    }
}

/// Parses a raw query string into `T` (what the extractor does; public for tests and tools).
pub fn parse<T: ParamSet>(raw: Option<&str>) -> Result<T, ParamError> {
    let specs = T::specs();
    let pairs = Pairs::checked(raw.unwrap_or(""), &specs)?;
    T::from_pairs(&pairs)
}

/// One parameter as its documentation states it.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: String,
    repeatable: bool,
    item: Bounds,
    max_items: Option<usize>,
}

/// The bounds of one value.
#[derive(Debug, Clone, Default)]
struct Bounds {
    kind: Kind,
    minimum: Option<f64>,
    maximum: Option<f64>,
    max_length: Option<usize>,
    choices: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Text,
    Integer,
    Number,
    Boolean,
}

/// The documented parameters of one struct.
#[derive(Debug)]
pub struct Spec {
    pub params: Vec<ParamSpec>,
}

impl Spec {
    /// `T`'s documentation, read once per type.
    pub fn of<T: IntoParams + 'static>() -> &'static Spec {
        static SPECS: OnceLock<RwLock<HashMap<TypeId, &'static Spec>>> = OnceLock::new();
        let specs = SPECS.get_or_init(Default::default);
        if let Some(spec) = specs.read().expect("spec cache poisoned").get(&TypeId::of::<T>()) {
            return spec;
        }
        let spec: &'static Spec = Box::leak(Box::new(Spec::read::<T>()));
        specs.write().expect("spec cache poisoned").entry(TypeId::of::<T>()).or_insert(spec)
    }

    fn read<T: IntoParams>() -> Spec {
        let params = T::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .map(|p| {
                let json = serde_json::to_value(&p).expect("parameters serialise");
                let schema = &json["schema"];
                let repeatable = has_type(schema, "array");
                let (item, max_items) = if repeatable {
                    (bounds(&schema["items"]), schema["maxItems"].as_u64().map(|n| n as usize))
                } else {
                    (bounds(schema), None)
                };
                ParamSpec { name: p.name, repeatable, item, max_items }
            })
            .collect();
        Spec { params }
    }
}

fn has_type(schema: &Value, wanted: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == wanted,
        Value::Array(types) => types.iter().any(|t| t == wanted),
        _ => false,
    }
}

fn bounds(schema: &Value) -> Bounds {
    let kind = if has_type(schema, "integer") {
        Kind::Integer
    } else if has_type(schema, "number") {
        Kind::Number
    } else if has_type(schema, "boolean") {
        Kind::Boolean
    } else {
        Kind::Text
    };
    Bounds {
        kind,
        minimum: schema["minimum"].as_f64(),
        maximum: schema["maximum"].as_f64(),
        max_length: schema["maxLength"].as_u64().map(|n| n as usize),
        choices: schema["enum"].as_array().map(|v| v.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect()),
    }
}

/// The query string's values by name, checked against the documentation: names known, scalars given
/// once, every value within its bounds, enum values in their documented spelling.
#[derive(Debug, Default)]
pub struct Pairs {
    values: BTreeMap<String, Vec<String>>,
}

impl Pairs {
    fn checked(raw: &str, specs: &[&Spec]) -> Result<Pairs, ParamError> {
        let known: BTreeMap<&str, &ParamSpec> =
            specs.iter().flat_map(|s| s.params.iter()).map(|p| (p.name.as_str(), p)).collect();
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let Some(spec) = known.get(name.as_ref()) else {
                let accepted: Vec<&str> = known.keys().copied().collect();
                return Err(err(&name, format!("unknown parameter; this endpoint accepts: {}", accepted.join(", "))));
            };
            let entry = values.entry(spec.name.clone()).or_default();
            if spec.repeatable {
                entry.extend(value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned));
            } else {
                if !entry.is_empty() {
                    return Err(err(&spec.name, "give it once"));
                }
                entry.push(value.trim().to_owned());
            }
        }
        for (name, vals) in values.iter_mut() {
            let spec = known[name.as_str()];
            if spec.max_items.is_some_and(|max| vals.len() > max) {
                return Err(err(name, format!("at most {} values", spec.max_items.unwrap_or_default())));
            }
            vals.retain(|v| !v.is_empty());
            for v in vals.iter_mut() {
                check(&spec.name, spec.repeatable, &spec.item, v)?;
            }
        }
        values.retain(|_, v| !v.is_empty());
        Ok(Pairs { values })
    }

    /// Deserialises the values `T` documents.
    pub fn deserialize<T: DeserializeOwned + IntoParams + 'static>(&self) -> Result<T, ParamError> {
        let names: Vec<&str> = Spec::of::<T>().params.iter().map(|p| p.name.as_str()).collect();
        let values = self.values.iter().filter(|(k, _)| names.contains(&k.as_str())).collect();
        T::deserialize(de::PairsDeserializer::new(values))
    }
}

/// Checks one value against its documented bounds; an enum value is rewritten to its documented
/// spelling (matching ignores case).
fn check(name: &str, repeatable: bool, b: &Bounds, value: &mut String) -> Result<(), ParamError> {
    if let Some(choices) = &b.choices {
        return match choices.iter().find(|c| c.eq_ignore_ascii_case(value)) {
            Some(c) => {
                value.clone_from(c);
                Ok(())
            }
            None => Err(err(name, format!("must be one of: {}", choices.join(", ")))),
        };
    }
    match b.kind {
        Kind::Integer | Kind::Number => {
            let n = match b.kind {
                Kind::Integer => value.parse::<i64>().ok().map(|n| n as f64),
                _ => value.parse::<f64>().ok().filter(|n| n.is_finite()),
            };
            let within = n.is_some_and(|n| b.minimum.is_none_or(|m| n >= m) && b.maximum.is_none_or(|m| n <= m));
            if !within {
                let what = if b.kind == Kind::Integer { "an integer" } else { "a number" };
                let range = match (b.minimum, b.maximum) {
                    (Some(lo), Some(hi)) => format!(" from {lo} to {hi}"),
                    (Some(lo), None) => format!(" of at least {lo}"),
                    (None, Some(hi)) => format!(" of at most {hi}"),
                    (None, None) => String::new(),
                };
                return Err(err(name, format!("must be {what}{range}")));
            }
        }
        Kind::Boolean => {
            if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
                value.make_ascii_lowercase();
            } else {
                return Err(err(name, "must be one of: true, false"));
            }
        }
        Kind::Text => {}
    }
    if let Some(max) = b.max_length
        && value.chars().count() > max
    {
        let reason = if repeatable {
            format!("values are at most {max} characters")
        } else {
            format!("at most {max} characters")
        };
        return Err(err(name, reason));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
