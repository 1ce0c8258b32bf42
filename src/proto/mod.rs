//! The sans-IO core of tokenkit.
//!
//! Nothing in here performs I/O, reads a clock or knows about JavaScript: time comes in as
//! an argument ([`Millis`]), requests go out as plain data ([`request::HttpRequest`]) and
//! responses come back as plain data ([`response::HttpResponse`]). The wasm shell only
//! translates between these values and the platform.

pub mod broker;
pub mod config;
mod encode;
pub mod error;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;
pub mod state;
pub mod value;

pub use config::Config;
pub use encode::push_u64 as encode_u64;
pub use error::Error;
pub use secret::Secret;

/// Milliseconds since the Unix epoch (what `Date.now()` returns).
pub type Millis = u64;

/// One year in seconds: the cap on any `expires_in`.
pub const MAX_EXPIRES_IN_SECS: u64 = 365 * 24 * 3600;
