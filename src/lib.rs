//! tokenkit: a careful OAuth2 token client for browsers, Node and Cloudflare Workers.
//!
//! The crate has two halves:
//! - [`proto`]: the sans-IO core. Building token requests, validating responses, expiry
//!   math, the cache state machine, retry schedule and the sign/don't-sign decision. No
//!   I/O, no clock, no JavaScript; tested natively with `cargo test`.
//! - `wasm` (wasm32 only): the thin shell. The client builds export a synchronous `Core` that
//!   js/shell.js drives (its `TokenClient` class owns `fetch`, the clocks, timers and
//!   promises); the broker build adds `Broker` and `Session`, the broker's decisions, which
//!   js/broker.js carries out with the same driver.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
// A panic kills the wasm instance and every client in it: no panicking constructs outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

extern crate alloc;

mod prelude;

pub mod boundary;
pub mod proto;

/// The release wasm has no std: a panic (which clippy keeps out of `src/`) traps.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

// SAFETY (both): the allocator needs a single-threaded wasm module: this crate is built for
// wasm32-unknown-unknown without the atomics feature, so there is no shared memory and one thread.
#[cfg(all(target_arch = "wasm32", not(feature = "std"), feature = "broker"))]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
#[cfg(all(target_arch = "wasm32", not(feature = "std"), not(feature = "broker")))]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;
