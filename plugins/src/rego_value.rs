//! `input` for a Rego call, built as a regorus value straight from the hook's input.
//!
//! A `serde::Serializer` whose output is a [`regorus::Value`]: the same value as
//! `serde_json::to_value` followed by a conversion to regorus, without the JSON value
//! in between, which was about a third of a call's instructions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Display;

use regorus::Value;
use serde::ser::{self, Serialize};

/// Build `value` as a regorus value, with the JSON form's fields and enum names.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    value.serialize(ValueSerializer)
}

/// Why a value has no JSON form (a map key that is not a string or a number).
#[derive(Debug)]
pub(crate) struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(message: T) -> Self {
        Error(message.to_string())
    }
}

struct ValueSerializer;

/// Scalar methods: the value, widened to the type regorus builds a value from.
macro_rules! scalar {
    ($($method:ident: $ty:ty as $wide:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<Value, Error> {
            Ok(Value::from(<$wide>::from(v)))
        }
    )*};
}

/// Serializer methods, one line each: the name (with `<T>` when it takes a value of
/// any serializable type), the arguments, what it gives, and its body. `$self` names
/// the serializer in the bodies.
macro_rules! methods {
    ($self:ident; $($method:ident$(<$t:ident>)?($($arg:ident: $ty:ty),*) -> $out:ty => $body:expr;)*) => {$(
        fn $method$(<$t: Serialize + ?Sized>)?($self, $($arg: $ty),*) -> Result<$out, Error> {
            $body
        }
    )*};
}

/// An array being built (sequences, tuples, and the payload of a tuple variant).
struct Array {
    items: Vec<Value>,
    /// The variant's name when this is a tuple variant: `{name: [items]}`.
    variant: Option<&'static str>,
}

/// An object being built (maps, structs, and the payload of a struct variant).
struct Object {
    fields: BTreeMap<Value, Value>,
    /// The key given by `serialize_key`, waiting for its value.
    key: Option<Value>,
    /// The variant's name when this is a struct variant: `{name: {fields}}`.
    variant: Option<&'static str>,
}

/// `{variant: value}`, the JSON form of a variant with data.
fn tagged(variant: &'static str, value: Value) -> Value {
    Value::from(BTreeMap::from([(name(variant), value)]))
}

/// `value`, tagged with its variant's name when it is a variant's payload.
fn tagged_if(variant: Option<&'static str>, value: Value) -> Value {
    match variant {
        Some(variant) => tagged(variant, value),
        None => value,
    }
}

/// How many field and variant names a thread keeps built.
const NAMES: usize = 128;

thread_local! {
    /// Field and variant names already built as values, by the name's address and
    /// length. A type's names are the same few static strings in every call, and a
    /// clone of a built one is a reference count, where building it again is an
    /// allocation (and a free when the input is dropped).
    static BUILT: RefCell<Vec<((usize, usize), Value)>> = const { RefCell::new(Vec::new()) };
}

/// A field or variant name as a value.
fn name(text: &'static str) -> Value {
    let key = (text.as_ptr() as usize, text.len());
    BUILT.with(|built| {
        let mut built = built.borrow_mut();
        if let Some((_, value)) = built.iter().find(|(k, _)| *k == key) {
            return value.clone();
        }
        let value = Value::from(text);
        if built.len() < NAMES {
            built.push((key, value.clone()));
        }
        value
    })
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Array;
    type SerializeTuple = Array;
    type SerializeTupleStruct = Array;
    type SerializeTupleVariant = Array;
    type SerializeMap = Object;
    type SerializeStruct = Object;
    type SerializeStructVariant = Object;

    scalar!(
        serialize_bool: bool as bool,
        serialize_i8: i8 as i64,
        serialize_i16: i16 as i64,
        serialize_i32: i32 as i64,
        serialize_i64: i64 as i64,
        serialize_u8: u8 as u64,
        serialize_u16: u16 as u64,
        serialize_u32: u32 as u64,
        serialize_u64: u64 as u64
    );
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        // As JSON: a number that is not finite has no JSON form and becomes null.
        Ok(if v.is_finite() {
            Value::from(v)
        } else {
            Value::Null
        })
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::from(
            v.iter()
                .map(|&b| Value::from(u64::from(b)))
                .collect::<Vec<_>>(),
        ))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    methods! { self;
        serialize_unit_variant(_name: &'static str, _index: u32, variant: &'static str) -> Value => Ok(name(variant));
        serialize_newtype_struct<T>(_name: &'static str, value: &T) -> Value => value.serialize(self);
        serialize_newtype_variant<T>(_name: &'static str, _index: u32, variant: &'static str, value: &T) -> Value => Ok(tagged(variant, value.serialize(self)?));
        serialize_seq(len: Option<usize>) -> Array => Ok(Array::new(len.unwrap_or(0), None));
        serialize_tuple(len: usize) -> Array => Ok(Array::new(len, None));
        serialize_tuple_struct(_name: &'static str, len: usize) -> Array => Ok(Array::new(len, None));
        serialize_tuple_variant(_name: &'static str, _index: u32, variant: &'static str, len: usize) -> Array => Ok(Array::new(len, Some(variant)));
        serialize_map(_len: Option<usize>) -> Object => Ok(Object::new(None));
        serialize_struct(_name: &'static str, _len: usize) -> Object => Ok(Object::new(None));
        serialize_struct_variant(_name: &'static str, _index: u32, variant: &'static str, _len: usize) -> Object => Ok(Object::new(Some(variant)));
    }
}

impl Array {
    fn new(len: usize, variant: Option<&'static str>) -> Array {
        Array {
            items: Vec::with_capacity(len),
            variant,
        }
    }
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn finish(self) -> Value {
        tagged_if(self.variant, Value::from(self.items))
    }
}

/// The four array-building traits of serde: each adds an element and ends the array.
macro_rules! array_builder {
    ($($trait:ident :: $add:ident),*) => {$(
        impl ser::$trait for Array {
            type Ok = Value;
            type Error = Error;
            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.push(value)
            }
            fn end(self) -> Result<Value, Error> {
                Ok(self.finish())
            }
        }
    )*};
}

array_builder!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl Object {
    fn new(variant: Option<&'static str>) -> Object {
        Object {
            fields: BTreeMap::new(),
            key: None,
            variant,
        }
    }
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.fields
            .insert(name(key), value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn finish(self) -> Value {
        tagged_if(self.variant, Value::from(self.fields))
    }
}

impl ser::SerializeMap for Object {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(self::key(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("a map value came without its key".to_owned()))?;
        self.fields.insert(key, value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

/// The two struct-building traits of serde: each adds a named field and ends the
/// object.
macro_rules! struct_builder {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Object {
            type Ok = Value;
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<Value, Error> {
                Ok(self.finish())
            }
        }
    )*};
}

struct_builder!(SerializeStruct, SerializeStructVariant);

/// A map key as JSON writes it: a string, or a number or a bool written as a string.
/// serde_json's own rules decide: a one-entry map with this key is written, and its
/// key kept. Map keys are rare in a hook's input, so the detour costs little.
fn key<T: Serialize + ?Sized>(key: &T) -> Result<Value, Error> {
    /// A map whose one entry is `key` → null.
    struct OneKey<'a, K: ?Sized>(&'a K);

    impl<K: Serialize + ?Sized> Serialize for OneKey<'_, K> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, &())?;
            map.end()
        }
    }

    let error = || Error("a map key must be a string, a number or a bool".to_owned());
    match serde_json::to_value(OneKey(key)) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .next()
            .map(|(key, _)| Value::from(key))
            .ok_or_else(error),
        _ => Err(error()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use portcullis_engine::plugin::{ApprovalInput, Execution};
    use serde::Serialize;
    use serde_json::json;

    /// What `to_value` must equal: the JSON value, converted.
    fn through_json<T: Serialize>(value: &T) -> Value {
        serde_json::from_value(serde_json::to_value(value).unwrap()).unwrap()
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i32, String),
        Struct { x: f64, tag: Option<char> },
    }

    #[derive(Serialize)]
    struct Everything {
        flag: bool,
        small: i8,
        big: u64,
        negative: i64,
        fraction: f32,
        not_finite: f64,
        text: String,
        missing: Option<String>,
        present: Option<&'static str>,
        list: Vec<Shape>,
        pair: (u16, bool),
        by_number: BTreeMap<u32, String>,
        by_text: BTreeMap<String, Vec<u8>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        unit: (),
    }

    #[test]
    fn equals_the_json_value_converted() {
        let value = Everything {
            flag: true,
            small: -3,
            big: u64::MAX,
            negative: i64::MIN,
            fraction: 0.5,
            not_finite: f64::NAN,
            text: "C:\\Users\\ann\\é.exe".to_owned(),
            missing: None,
            present: Some("x"),
            list: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-1, "t".to_owned()),
                Shape::Struct {
                    x: 1.25,
                    tag: Some('q'),
                },
            ],
            pair: (9, false),
            by_number: BTreeMap::from([(10, "ten".to_owned()), (2, "two".to_owned())]),
            by_text: BTreeMap::from([("bytes".to_owned(), vec![0, 255])]),
            skipped: None,
            unit: (),
        };
        assert_eq!(to_value(&value).unwrap(), through_json(&value));
    }

    #[test]
    fn the_contract_inputs_match_their_json() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vectors");
        let mut seen = 0;
        for plugin in ["known-bad", "trusted-publisher", "user-writable"] {
            for vector in crate::Vector::load_dir(&examples.join(plugin)).unwrap() {
                let (direct, json) = if plugin == "user-writable" {
                    let input: Execution = serde_json::from_value(vector.input).unwrap();
                    (to_value(&input).unwrap(), through_json(&input))
                } else {
                    let input: ApprovalInput = serde_json::from_value(vector.input).unwrap();
                    (to_value(&input).unwrap(), through_json(&input))
                };
                assert_eq!(direct, json, "{plugin}: {}", vector.name);
                seen += 1;
            }
        }
        assert!(seen >= 10, "only {seen} vectors");
    }

    /// Any JSON value: scalars (integers, floats, strings with escapes and non-ASCII),
    /// and arrays and objects nested a few levels.
    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (-1e300f64..1e300).prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("\\PC{0,8}", inner, 0..8)
                    .prop_map(|m| { serde_json::Value::Object(m.into_iter().collect()) }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_json_value_comes_out_as_its_conversion(json in json_value()) {
            proptest::prop_assert_eq!(to_value(&json).unwrap(), through_json(&json));
        }
    }

    #[test]
    fn a_key_that_json_cannot_write_is_an_error() {
        let map = BTreeMap::from([((1, 2), "pair")]);
        let error = to_value(&map).unwrap_err().to_string();
        assert!(error.contains("map key"), "{error}");
        assert!(serde_json::to_value(&map).is_err());
        assert_eq!(to_value(&json!({"a": [1, null]})).unwrap(), {
            let v: Value = serde_json::from_value(json!({"a": [1, null]})).unwrap();
            v
        });
    }
}
