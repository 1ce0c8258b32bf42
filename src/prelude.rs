//! What std's prelude would give us; the release wasm is no_std.
pub use alloc::borrow::ToOwned;
pub use alloc::string::String;
pub use alloc::vec;
pub use alloc::vec::Vec;
