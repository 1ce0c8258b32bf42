//! The thin wasm shell: translates between JavaScript and [`crate::proto`]; if a function
//! here grows an `if` about OAuth, it belongs in the core.
//!
//! Every build exports a synchronous `Core`, the client machine (js/shell.js drives it:
//! fetch, timers, promises). The Worker build (cargo feature `broker`) adds `Broker` and
//! `Session`, the broker's decisions, which js/broker.js carries out with the same driver for
//! each of its token clients.

#[cfg(feature = "broker")]
mod broker;
mod convert;
mod js;
mod machine;

#[cfg(feature = "broker")]
pub use broker::{Broker, Session};
pub use machine::Core;
