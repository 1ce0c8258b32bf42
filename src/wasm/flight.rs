//! Single-flight: one token request, any number of waiters.
//!
//! Each waiter waits on a JS promise it created itself, which the flight resolves. That
//! matters in Cloudflare Workers: a request must not be resumed from another request's
//! context, and a promise's continuation runs in the context that registered it. (Rust
//! wakers would poll the waiter's task from whichever request finished the flight.)

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::proto::response::TokenSet;
use crate::proto::Error;

/// The shared result of one token request.
#[derive(Default)]
pub struct Flight {
    result: RefCell<Option<Result<TokenSet, Error>>>,
    waiters: RefCell<Vec<Function>>,
}

impl Flight {
    /// Publishes the result to every waiter; later calls are ignored (the first word wins,
    /// e.g. `dispose()` answering before the aborted request does).
    pub fn finish(&self, result: Result<TokenSet, Error>) {
        {
            let Ok(mut slot) = self.result.try_borrow_mut() else {
                return;
            };
            if slot.is_some() {
                return;
            }
            *slot = Some(result);
        }
        let waiters = self.waiters.take();
        for resolve in waiters {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    fn result(&self) -> Option<Result<TokenSet, Error>> {
        self.result.try_borrow().ok().and_then(|r| r.clone())
    }

    /// A promise of the waiter's own that the flight resolves.
    fn waiter(&self) -> Promise {
        Promise::new(&mut |resolve, _reject| {
            if let Ok(mut w) = self.waiters.try_borrow_mut() {
                w.push(resolve);
            }
        })
    }

    /// Waits for the result.
    pub async fn wait(&self) -> Result<TokenSet, Error> {
        if let Some(r) = self.result() {
            return r;
        }
        let _ = JsFuture::from(self.waiter()).await;
        self.result().unwrap_or(Err(Error::Disposed))
    }

    /// Waits for the result in a Worker: the wait also races short timers of the waiter's
    /// own, because workerd cancels a request whose only pending work is a promise another
    /// request will resolve ("hung, would never generate a response"); each wake-up
    /// re-checks the result.
    #[cfg(feature = "broker")]
    pub async fn wait_in_worker(&self) -> Result<TokenSet, Error> {
        if let Some(r) = self.result() {
            return r;
        }
        let promise = self.waiter();
        let mut step = 10.0;
        loop {
            let race = Promise::race(&js_sys::Array::of2(&promise, &super::js::sleep(step)));
            let _ = JsFuture::from(race).await;
            if let Some(r) = self.result() {
                return r;
            }
            step = (step * 2.0).min(100.0);
        }
    }
}
