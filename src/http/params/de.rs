//! A serde deserializer over checked query-string values: a struct's fields by name, each either one
//! value (scalars, `Option`s, enums) or all of them (`Vec`s). The values were checked against the
//! documentation first, so the errors here are only for shapes the documentation cannot state.

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use crate::query::params::{ParamError, err};

impl de::Error for ParamError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        err("", msg.to_string())
    }
}

pub struct PairsDeserializer<'a> {
    entries: std::vec::IntoIter<(&'static str, &'a [String])>,
    value: Option<(&'static str, &'a [String])>,
}

impl<'a> PairsDeserializer<'a> {
    pub fn new(entries: Vec<(&'static str, &'a [String])>) -> Self {
        Self { entries: entries.into_iter(), value: None }
    }
}

impl<'de> de::Deserializer<'de> for PairsDeserializer<'_> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for PairsDeserializer<'_> {
    type Error = ParamError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ParamError> {
        let Some(entry) = self.entries.next() else { return Ok(None) };
        self.value = Some(entry);
        seed.deserialize(StrDeserializer::<ParamError>::new(entry.0)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ParamError> {
        let (name, values) = self.value.take().expect("a value follows its key");
        seed.deserialize(Values { name, values }).map_err(|mut e| {
            if e.param.is_empty() {
                name.clone_into(&mut e.param);
            }
            e
        })
    }
}

/// Every value of one parameter.
struct Values<'a> {
    name: &'a str,
    values: &'a [String],
}

impl Values<'_> {
    fn one(&self) -> Result<&str, ParamError> {
        match self.values {
            [one] => Ok(one),
            _ => Err(err(self.name, "give it once")),
        }
    }

    fn parsed<T: std::str::FromStr>(&self, what: &str) -> Result<T, ParamError> {
        self.one()?.parse().map_err(|_| err(self.name, format!("must be {what}")))
    }
}

macro_rules! parse_as {
    ($($method:ident => $visit:ident: $t:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
            visitor.$visit(self.parsed::<$t>($what)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Values<'_> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_string(self.one()?.to_owned())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        if self.values.is_empty() { visitor.visit_none() } else { visitor.visit_some(self) }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_seq(Items { name: self.name, items: self.values.iter() })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_enum(self.one()?.into_deserializer())
    }

    parse_as! {
        deserialize_bool => visit_bool: bool, "true or false";
        deserialize_u8 => visit_u8: u8, "an integer";
        deserialize_u16 => visit_u16: u16, "an integer";
        deserialize_u32 => visit_u32: u32, "an integer";
        deserialize_u64 => visit_u64: u64, "an integer";
        deserialize_i32 => visit_i32: i32, "an integer";
        deserialize_i64 => visit_i64: i64, "an integer";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    forward_to_deserialize_any! {
        i8 i16 i128 u128 f32 char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// The values of a repeatable parameter, one at a time.
struct Items<'a> {
    name: &'a str,
    items: std::slice::Iter<'a, String>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = ParamError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, ParamError> {
        match self.items.next() {
            None => Ok(None),
            Some(item) => seed.deserialize(Values { name: self.name, values: std::slice::from_ref(item) }).map(Some),
        }
    }
}
