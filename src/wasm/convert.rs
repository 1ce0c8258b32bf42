//! JavaScript values into the core's plain [`Value`], and core results back into JS.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};

use crate::proto::Error;
use crate::proto::url::UrlParts;
use crate::proto::value::Value;
use super::js;

/// Converts `v`, looking `depth` levels into arrays and plain objects.
pub fn to_value(v: &JsValue, depth: u8) -> Value {
    if v.is_undefined() || v.is_null() {
        Value::Null
    } else if let Some(s) = v.as_string() {
        Value::Str(s)
    } else if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Some(n) = v.as_f64() {
        Value::Num(n)
    } else if depth == 0 {
        Value::Other
    } else if let Some(arr) = v.dyn_ref::<Array>() {
        Value::List(arr.iter().map(|x| to_value(&x, depth - 1)).collect())
    } else if let Some(entries) = js::plain_entries(v) {
        Value::Object(
            entries
                .iter()
                .filter_map(|pair| {
                    let pair: Array = pair.dyn_into().ok()?;
                    Some((pair.get(0).as_string()?, to_value(&pair.get(1), depth - 1)))
                })
                .collect(),
        )
    } else {
        Value::Other
    }
}

/// The platform's URL parser, for [`crate::proto::Config::from_options`].
pub fn parse_url(s: &str) -> Option<UrlParts> {
    let u = js::parse_url(s)?;
    Some(UrlParts {
        protocol: u.protocol(),
        hostname: u.hostname(),
        origin: u.origin(),
        href: u.href(),
        pathname: u.pathname(),
        has_query: !u.search().is_empty(),
        has_fragment: !u.hash().is_empty(),
        has_credentials: !u.username().is_empty() || !u.password().is_empty(),
    })
}

/// A core error as a JS `TokenError`.
pub fn js_error(e: &Error) -> JsValue {
    js_error_with(e, &JsValue::UNDEFINED)
}

/// A core error as a JS `TokenError` with the platform's error as its `cause`.
pub fn js_error_with(e: &Error, cause: &JsValue) -> JsValue {
    let (error, description) = match e {
        Error::OAuth { error, description, .. } => (Some(error.clone()), description.clone()),
        _ => (None, None),
    };
    let retry_after = e.retry_after().map(|s| s.0 as f64);
    js::token_error(
        e.code(),
        &e.message(),
        e.status(),
        error,
        description,
        retry_after,
        cause,
    )
}
