//! Secret values: client secrets, API keys and access tokens.

#[allow(unused_imports)]
use crate::prelude::*;

use core::fmt;

/// A secret string (client secret, API key, access token).
///
/// `Debug` prints `[redacted]`; the value is read through [`Secret::expose`] only. There is
/// deliberately no `PartialEq` and no `Display`, so a secret cannot be compared in
/// non-constant time by accident or formatted into a message.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret value. Every call site is a place where the secret leaves the core:
    /// keep them few and obvious.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }
}
