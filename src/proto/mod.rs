//! The sans-IO core of tokenkit.
//!
//! Nothing in here performs I/O, reads a clock or knows about JavaScript: time comes in as
//! an argument ([`time::Instant`]), requests go out as plain data ([`request::HttpRequest`])
//! and responses come back as plain data ([`response::HttpResponse`]). The wasm shell only
//! translates between these values and the platform. [`machine::Machine`] makes every
//! decision of a token client; the rest are its pure parts.

#[cfg(feature = "signin")]
pub mod authcode;
#[cfg(feature = "signin")]
pub mod bff;
pub mod broker;
pub mod broker_contract;
pub mod challenge;
pub mod config;
mod encode;
pub mod error;
pub mod gate;
pub mod machine;
pub mod presets;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;
pub mod sign;
pub mod time;
pub mod value;

pub use config::Config;
pub use encode::{parse_decimal, push_u64 as encode_u64};
#[cfg(feature = "signin")]
pub use encode::push_base64url as encode_base64url;
pub use error::Error;
pub use secret::Secret;

/// Whether this build signs users in (the authorization code grant). The default browser
/// build leaves it out: with this `false` the grant cannot be configured, and every branch
/// for it is dead code the compiler drops (its wasm stays the size it was).
pub const SIGNIN: bool = cfg!(feature = "signin");

/// One year: the cap on any `expires_in`.
pub const MAX_EXPIRES_IN: time::Secs = time::Secs(365 * 24 * 3600);
