//! Single-flight: one token request, any number of waiters.

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use alloc::rc::Rc;

use crate::proto::response::TokenSet;
use crate::proto::Error;

/// The shared result of one token request.
#[derive(Default)]
pub struct Flight {
    result: RefCell<Option<Result<TokenSet, Error>>>,
    wakers: RefCell<Vec<Waker>>,
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
        let wakers = self.wakers.take();
        for w in wakers {
            w.wake();
        }
    }
}

/// Waits for a [`Flight`]'s result.
pub struct Wait(pub Rc<Flight>);

impl Future for Wait {
    type Output = Result<TokenSet, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Ok(slot) = self.0.result.try_borrow() {
            if let Some(r) = slot.as_ref() {
                return Poll::Ready(r.clone());
            }
        }
        if let Ok(mut w) = self.0.wakers.try_borrow_mut() {
            w.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
