//! Query strings, strictly. Each endpoint family declares its parameters once, as a struct that
//! derives `Deserialize` (the parser) and `IntoParams` (the documentation). The [`Params`] extractor
//! reads the struct's own documentation back and enforces it before deserialising: unknown names are
//! refused with the list this endpoint accepts, a scalar given twice is refused, and every bound the
//! spec states (`minimum`, `maximum`, `maxLength`, `maxItems`, `enum`, `pattern`) is checked with a
//! message naming the parameter. The spec therefore cannot promise what the parser does not enforce, nor
//! the reverse. Patterns come from [`crate::forms`] (times, addresses, durations); what no schema can
//! say (one parameter against another, such as `from` before `to`) each struct checks when it builds
//! the query model, and the parameter's description states it.
//!
//! Repeatable parameters are `Vec`s: repeat the name (`status=404&status=500`); a value is taken as it
//! is, commas and spaces included (a city may be `Washington, D.C.`). An empty value is
//! absent (`q=` is no search) where the schema admits the empty text; where it does not (a number, a
//! boolean, an enum, a pattern such as `from`'s) it is refused like any other value out of form.

pub mod alerts;
mod de;
pub mod delivery_errors;
pub mod filters;
pub mod forms;
pub mod logs;
pub mod replays;
pub mod stats;
pub mod tail;

use std::any::TypeId;
use std::collections::HashMap;
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
pub trait ParamSet: Sized + 'static {
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
    let pairs = Pairs::checked(raw.unwrap_or(""), Known::of::<T>())?;
    T::from_pairs(&pairs)
}

/// Every parameter a set accepts, sorted by name, built once per set.
pub struct Known {
    params: Vec<&'static ParamSpec>,
    /// The names, for the message refusing an unknown one.
    accepted: String,
}

impl Known {
    fn of<T: ParamSet>() -> &'static Known {
        cached::<T, Known>(|| {
            let mut params: Vec<&'static ParamSpec> = T::specs().into_iter().flat_map(|s| s.params.iter()).collect();
            params.sort_by(|a, b| a.name.cmp(&b.name));
            let accepted = params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
            Known { params, accepted }
        })
    }

    fn get(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.binary_search_by(|p| p.name.as_str().cmp(name)).ok().map(|i| self.params[i])
    }
}

/// A value computed once per type `T` and kept for the life of the process (the documentation of a
/// parameter struct does not change while it runs).
fn cached<T: 'static, V: Send + Sync + 'static>(build: impl FnOnce() -> V) -> &'static V {
    type Cache = RwLock<HashMap<(TypeId, TypeId), &'static (dyn std::any::Any + Send + Sync)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (TypeId::of::<T>(), TypeId::of::<V>());
    let found = cache.read().expect("parameter cache poisoned").get(&key).copied();
    let value = match found {
        Some(v) => v,
        None => {
            let built: &'static (dyn std::any::Any + Send + Sync) = Box::leak(Box::new(build()));
            *cache.write().expect("parameter cache poisoned").entry(key).or_insert(built)
        }
    };
    value.downcast_ref::<V>().expect("cached under its own type")
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
    pattern: Option<String>,
    choices: Option<Vec<String>>,
}

impl Bounds {
    /// Whether the schema admits the empty text (which then means "absent").
    fn admits_empty(&self) -> bool {
        self.kind == Kind::Text && self.pattern.is_none() && self.choices.is_none()
    }
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
        cached::<T, Spec>(Spec::read::<T>)
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
        pattern: schema["pattern"].as_str().map(str::to_owned),
        choices: schema["enum"].as_array().map(|v| v.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect()),
    }
}

/// The query string's values by name, checked against the documentation: names known, scalars given
/// once, every value within its bounds, enum values in their documented spelling.
#[derive(Debug, Default)]
pub struct Pairs {
    values: Vec<(&'static str, Vec<String>)>,
}

impl Pairs {
    fn checked(raw: &str, known: &'static Known) -> Result<Pairs, ParamError> {
        let mut values: Vec<(&'static str, Vec<String>)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let Some(spec) = known.get(&name) else {
                return Err(err(&name, format!("unknown parameter; this endpoint accepts: {}", known.accepted)));
            };
            let at = match values.iter().position(|(n, _)| *n == spec.name) {
                Some(at) => at,
                None => {
                    values.push((spec.name.as_str(), Vec::new()));
                    values.len() - 1
                }
            };
            let entry = &mut values[at].1;
            if !spec.repeatable && !entry.is_empty() {
                return Err(err(&spec.name, "give it once"));
            }
            entry.push(value.into_owned());
        }
        for (name, vals) in values.iter_mut() {
            let spec = known.get(name).expect("only known names are kept");
            if spec.max_items.is_some_and(|max| vals.len() > max) {
                return Err(err(name, format!("at most {} values", spec.max_items.unwrap_or_default())));
            }
            for v in vals.iter_mut() {
                if !(v.is_empty() && spec.item.admits_empty()) {
                    check(&spec.name, spec.repeatable, &spec.item, v)?;
                }
            }
            vals.retain(|v| !v.is_empty());
        }
        values.retain(|(_, v)| !v.is_empty());
        Ok(Pairs { values })
    }

    /// Deserialises the values `T` documents.
    pub fn deserialize<T: DeserializeOwned + IntoParams + 'static>(&self) -> Result<T, ParamError> {
        let spec = Spec::of::<T>();
        let values = self
            .values
            .iter()
            .filter(|(name, _)| spec.params.iter().any(|p| p.name == *name))
            .map(|(name, v)| (*name, v.as_slice()))
            .collect();
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
            None if choices.len() > 20 => Err(err(name, forms::many_choices(name, choices))),
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
    if let Some(pattern) = &b.pattern
        && !crate::forms::matches(pattern, value)
    {
        return Err(err(name, forms::message(pattern)));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
