//! The token client: configuration, the state machine, the requests it sends, the
//! responses it accepts, retries and request signing.

pub mod config;
pub mod machine;
pub mod presets;
pub mod request;
pub mod response;
pub mod retry;
pub mod sign;
