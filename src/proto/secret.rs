//! Secret values, a type per concept (oauth2-rs `new_secret_type!`): a refresh token cannot
//! be passed where an access token is meant, nor a client secret sent as a token.
//!
//! Each type's `Debug` prints its name and `[redacted]` from one `&'static str` (no
//! formatting code); the value is read through `expose()` only. There is deliberately no
//! `PartialEq` and no `Display`, so a secret cannot be compared in non-constant time by
//! accident or formatted into a message.

#[allow(unused_imports)]
use crate::prelude::*;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: String) -> Self {
                $name(value)
            }

            /// The secret value. Every call site is a place where the secret leaves the
            /// core: keep them few and obvious.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// A confidential client's secret (`clientSecret`, Symbl's `appSecret`).
    ClientSecret
);
secret_type!(
    /// A static API key (`TokenClient.apiKey`).
    ApiKey
);
secret_type!(
    /// An access token: what is attached to API requests.
    AccessToken
);
secret_type!(
    /// A signed-in user's refresh token.
    RefreshToken
);
secret_type!(
    /// A sign-in's authorization code (single-use).
    AuthorizationCode
);
secret_type!(
    /// A sign-in's PKCE `code_verifier` (RFC 7636).
    CodeVerifier
);
secret_type!(
    /// An OpenID Connect ID token, held only until its nonce is checked.
    IdToken
);
secret_type!(
    /// A key the broker holds: a broker key, the session key, a Turnstile secret.
    BrokerKey
);

impl AccessToken {
    /// An API key served as the access token (it is what is attached).
    pub fn from_api_key(key: &ApiKey) -> AccessToken {
        AccessToken(key.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_names_the_kind() {
        let s = RefreshToken::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "RefreshToken([redacted])");
        assert_eq!(format!("{:?}", ClientSecret::new("x".into())), "ClientSecret([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }
}
