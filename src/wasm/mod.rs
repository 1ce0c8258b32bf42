//! The thin wasm shell: binds `fetch`, `Date.now()` and timers, exports `TokenClient`.
//!
//! Everything here only translates between the platform and [`crate::proto`]; if a function
//! here grows an `if` about OAuth, it belongs in the core.

#[cfg(feature = "broker")]
mod bff;
#[cfg(feature = "broker")]
mod broker;
mod client;
mod convert;
#[cfg(feature = "broker")]
mod gate;
mod js;
#[cfg(feature = "signin")]
mod signin;
mod timer;

pub use client::TokenClient;
#[cfg(feature = "broker")]
pub use bff::BrokerSession;
#[cfg(feature = "broker")]
pub use broker::TokenBroker;
