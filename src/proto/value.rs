//! A plain-data picture of a JavaScript/JSON value.
//!
//! The shell converts option objects and parsed JSON bodies into [`Value`] so the core can
//! validate them without knowing anything about JavaScript.

#[allow(unused_imports)]
use crate::prelude::*;

/// A JSON-like value, as far as tokenkit needs to see it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `undefined` or `null`: treated as "not given".
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (always finite when it comes from JSON).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<Value>),
    /// A plain object, in property order.
    Object(Vec<(String, Value)>),
    /// Anything else (functions, class instances, values nested too deep).
    Other,
}

impl Value {
    /// The name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Num(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "an array",
            Value::Object(_) => "an object",
            Value::Other => "an unsupported value",
        }
    }
}

/// Looks up `key` in an object's entries; a `null` entry counts as absent.
pub fn get<'a>(entries: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Value::Null))
}
