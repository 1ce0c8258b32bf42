//! The sans-IO core of tokenkit.
//!
//! Nothing in here performs I/O, reads a clock or knows about JavaScript: time comes in as
//! an argument ([`time::Instant`]), requests go out as plain data ([`http::HttpRequest`])
//! and responses come back as plain data ([`http::HttpResponse`]). The wasm shell only
//! translates between these values and the platform.
//!
//! By product, over shared modules ([`http`], [`url`], [`time`], [`value`],
//! [`secret`], [`error`] and the encoders):
//! - [`client`]: the token client. [`client::machine::Machine`] makes every decision of a
//!   `TokenClient`; the rest are its pure parts (configuration, requests, responses, retries,
//!   signing).
//! - `signin`: the authorization code grant with PKCE, used by `tokenkit/signin` and by the
//!   broker's sign-in (built with the `signin` feature).
//! - [`broker`]: the edge broker: its configuration per role, routing, rate limits, gates,
//!   the contract its clients read, and the user session of its backend-for-frontend.

// Shared by every product.
pub mod dpop;
pub mod discovery;
mod encode;
pub mod error;
pub mod http;
pub mod jwk;
pub mod secret;
pub mod time;
pub mod url;
pub mod value;

// The products: the token client, signing a user in, the edge broker.
pub mod broker;
pub mod client;
#[cfg(feature = "signin")]
pub mod signin;

pub use client::config::Config;
pub use encode::{parse_decimal, push_u64 as encode_u64};
pub use encode::push_base64url as encode_base64url;
pub use error::Error;
pub use secret::{AccessToken, ApiKey, AuthorizationCode, BrokerKey, ClientSecret, CodeVerifier, IdToken, RefreshToken};

/// Whether this build signs users in (the authorization code grant). The default browser
/// build leaves it out: with this `false` the grant cannot be configured, and every branch
/// for it is dead code the compiler drops (its wasm stays the size it was).
pub const SIGNIN: bool = cfg!(feature = "signin");

/// Whether this build binds tokens to a key (DPoP, RFC 9449): the `tokenkit/dpop` entry's.
/// Elsewhere the option is refused, no token is ever bound, and the code is dropped.
pub const DPOP: bool = cfg!(feature = "dpop");

/// Whether this is a servers' build (the Node and Workers entries, the broker): clients
/// authenticate with a private key (`private_key_jwt`) and push their sign-ins' authorization
/// requests (PAR). The browser builds refuse those options and carry none of their code.
pub const SERVER: bool = cfg!(feature = "server");

/// One year: the cap on any `expires_in`.
pub const MAX_EXPIRES_IN: time::Secs = time::Secs(365 * 24 * 3600);
