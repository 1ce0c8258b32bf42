//! The thin wasm shell: translates between JavaScript and [`crate::proto`]; if a function
//! here grows an `if` about OAuth, it belongs in the core.
//!
//! The client builds (`tokenkit`, `tokenkit/signin`, `tokenkit/dpop`) export a synchronous `Core`
//! (js/shell.js `clientClass` drives it: fetch, timers, promises). The broker build still
//! drives the same machine from Rust (`client::Inner`, async), until it moves onto the JS
//! driver too.

#[cfg(feature = "broker")]
mod bff;
#[cfg(feature = "broker")]
mod broker;
#[cfg(feature = "broker")]
mod client;
mod convert;
#[cfg(feature = "broker")]
mod gate;
mod js;
#[cfg(not(feature = "broker"))]
mod machine;
#[cfg(feature = "broker")]
mod signin;
#[cfg(feature = "broker")]
mod timer;

#[cfg(feature = "broker")]
pub use client::TokenClient;
#[cfg(not(feature = "broker"))]
pub use machine::Core;
#[cfg(feature = "broker")]
pub use bff::BrokerSession;
#[cfg(feature = "broker")]
pub use broker::TokenBroker;
