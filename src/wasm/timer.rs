//! An owned timer that cancels on drop.
//!
//! Modelled on gloo-timers' `Timeout` (owned handle, cancel on drop, never `forget`), but
//! gloo keeps the platform handle private, and in Node that handle must be `unref()`ed so a
//! pending refresh does not keep a finished script alive. gloo also casts the delay with
//! `as i32`, which turns delays over ~24.8 days negative (fires at once); this clamps.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::js;

/// A scheduled callback; dropping it cancels it.
pub struct Timer {
    handle: JsValue,
    _closure: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `callback` once after `ms` milliseconds (clamped to the 32-bit limit). In
    /// Node the timer keeps the process alive only if `keep_alive`.
    pub fn new(ms: u64, keep_alive: bool, callback: impl FnOnce() + 'static) -> Timer {
        let closure = Closure::once(callback);
        let ms = ms.min(i32::MAX as u64) as f64;
        let handle = js::set_timer(closure.as_ref().unchecked_ref::<Function>(), ms, keep_alive);
        Timer {
            handle,
            _closure: closure,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        js::clear_timer(&self.handle);
    }
}
