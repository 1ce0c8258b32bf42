//! Building token requests as plain data.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::encode::{push_base64, push_form, push_json_str};
use crate::proto::http::HttpRequest;
use super::config::{ClientAuth, Credentials, Endpoint};
use super::presets::BodyFormat;

/// The `grant_type` of a token exchange (RFC 8693 §2.1).
#[cfg(feature = "server")]
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type of an OAuth access token (RFC 8693 §3): what is exchanged, and for what.
#[cfg(feature = "server")]
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Where the shell runs; one explicit input from the package entry that loaded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// A browser page or web worker.
    Browser,
    /// Node.js (and runtimes that pass for it: Bun, Deno's npm mode).
    Node,
    /// Cloudflare Workers (workerd): no timers outlive a request, no promise may be awaited
    /// by a request other than the one that made it.
    Workerd,
}

/// Which request to the authorization server to build.
pub enum Call<'a> {
    /// The client credentials grant (or a broker's, or Symbl's, token request).
    ClientCredentials,
    /// Redeeming an authorization code with its PKCE verifier (RFC 6749 §4.1.3, RFC 7636 §4.5).
    Code {
        /// The code from the callback.
        code: &'a str,
        /// The PKCE `code_verifier`.
        verifier: &'a str,
        /// The `redirect_uri` the authorization request carried.
        redirect_uri: &'a str,
    },
    /// Exchanging a user's access token for one for another API (RFC 8693 §2.1).
    #[cfg(feature = "server")]
    Exchange {
        /// The user's access token.
        subject_token: &'a str,
    },
    /// Refreshing a user's access token (RFC 6749 §6).
    Refresh {
        /// The refresh token.
        refresh_token: &'a str,
    },
    /// Pushing an authorization request (RFC 9126 §2.1) to this URL: its parameters,
    /// form-encoded ([`crate::proto::signin::authorization_params`]), then the client's
    /// authentication.
    Par {
        /// The pushed authorization request endpoint.
        url: &'a str,
        /// The authorization request's parameters.
        params: &'a str,
    },
    /// Revoking a token (RFC 7009 §2.1) at this URL.
    Revoke {
        /// The revocation endpoint.
        url: &'a str,
        /// The token to revoke.
        token: &'a str,
        /// Its `token_type_hint`: `refresh_token` or `access_token`.
        hint: &'a str,
    },
}

impl Endpoint {
    /// The token request for this endpoint's grant and dialect, with the request policy
    /// for `runtime`.
    ///
    /// See <https://www.rfc-editor.org/rfc/rfc6749#section-4.4.2> and, for client
    /// authentication, <https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1>.
    pub fn token_request(&self, runtime: Runtime) -> HttpRequest {
        self.request(runtime, Call::ClientCredentials)
    }

    /// The request for `call`, with the request policy for `runtime`. Inlined, so a build
    /// that only ever asks for client credentials carries no other grant's code.
    #[inline(always)]
    pub fn request(&self, runtime: Runtime, call: Call<'_>) -> HttpRequest {
        let secret = self.client_secret.as_ref().map(|s| s.expose()).unwrap_or("");
        let mut headers = Vec::with_capacity(3);
        let mut body = String::new();
        match &self.wire.body {
            BodyFormat::Empty => {}
            BodyFormat::JsonCredentials { open, id, secret: member } => {
                headers.push(("Content-Type", "application/json".to_owned()));
                body.push_str(open);
                for (name, value) in [(id, self.client_id.as_str()), (member, secret)] {
                    body.push(',');
                    push_json_str(&mut body, name);
                    body.push(':');
                    push_json_str(&mut body, value);
                }
                body.push('}');
            }
            BodyFormat::Form => {
                headers.push((
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_owned(),
                ));
                if let Call::Par { params, .. } = &call {
                    body.push_str(params);
                }
                let mut param = |name: &str, value: &str| {
                    if !body.is_empty() {
                        body.push('&');
                    }
                    push_form(&mut body, name);
                    body.push('=');
                    push_form(&mut body, value);
                };
                match &call {
                    Call::ClientCredentials => param("grant_type", "client_credentials"),
                    #[cfg(feature = "server")]
                    Call::Exchange { subject_token } => {
                        param("grant_type", TOKEN_EXCHANGE);
                        param("subject_token", subject_token);
                        param("subject_token_type", ACCESS_TOKEN_TYPE);
                        param("requested_token_type", ACCESS_TOKEN_TYPE);
                    }
                    Call::Code { code, verifier, redirect_uri } => {
                        param("grant_type", "authorization_code");
                        param("code", code);
                        param("redirect_uri", redirect_uri);
                        param("code_verifier", verifier);
                    }
                    Call::Refresh { refresh_token } => {
                        param("grant_type", "refresh_token");
                        param("refresh_token", refresh_token);
                    }
                    Call::Revoke { token, hint, .. } => {
                        param("token", token);
                        param("token_type_hint", hint);
                    }
                    // Written before the closure took the body.
                    Call::Par { .. } => {}
                }
                if !matches!(call, Call::Revoke { .. } | Call::Par { .. }) {
                    // A code or a refresh keeps the scope the user granted (RFC 6749 §6).
                    let own_scope = match call {
                        Call::ClientCredentials => true,
                        #[cfg(feature = "server")]
                        Call::Exchange { .. } => true,
                        _ => false,
                    };
                    if let (Some(s), true) = (&self.scope, own_scope) {
                        param("scope", s);
                    }
                    if let Some(a) = &self.audience {
                        param("audience", a);
                    }
                    if let Some(r) = &self.resource {
                        param("resource", r);
                    }
                    for (k, v) in &self.extra_params {
                        param(k, v);
                    }
                }
                // client_id in the body: every method but Basic (Sypht: Basic too), never
                // twice (a pushed authorization request's parameters hold it already).
                let id_in_body = !matches!(call, Call::Par { .. }) && (self.client_auth != ClientAuth::Basic || self.preset.client_id_in_body);
                if id_in_body {
                    param("client_id", &self.client_id);
                }
                match self.client_auth {
                    ClientAuth::Basic => headers.push(("Authorization", self.basic_credentials(secret))),
                    ClientAuth::Post => param("client_secret", secret),
                    // Last: the shell appends the signed assertion to `client_assertion=`.
                    // (Only the servers' builds configure it: the others drop this branch.)
                    ClientAuth::PrivateKeyJwt if crate::proto::SERVER => {
                        param("client_assertion_type", crate::proto::jwk::ASSERTION_TYPE);
                        param("client_assertion", "");
                    }
                    ClientAuth::None | ClientAuth::PrivateKeyJwt => {}
                }
            }
        }
        headers.push(("Accept", "application/json".to_owned()));
        let workerd = runtime == Runtime::Workerd;
        HttpRequest {
            method: "POST",
            url: match call {
                Call::Revoke { url, .. } | Call::Par { url, .. } => url.to_owned(),
                _ => self.token_url.clone(),
            },
            lock: matches!(call, Call::Refresh { .. }) && runtime == Runtime::Browser,
            assertion: crate::proto::SERVER && self.client_auth == ClientAuth::PrivateKeyJwt && self.wire.is_oauth2(),
            headers,
            body,
            redirect: "manual",
            cache: (!workerd).then_some("no-store"),
            credentials: (!workerd).then_some(match self.credentials {
                Credentials::Omit => "omit",
                Credentials::SameOrigin => "same-origin",
                Credentials::Include => "include",
            }),
        }
    }

    /// The GET of the authorization server's metadata at `url` (RFC 8414 discovery,
    /// [`crate::proto::discovery`]): no credentials, no body, never a redirect.
    pub fn metadata_request(&self, runtime: Runtime, url: &str) -> HttpRequest {
        let workerd = runtime == Runtime::Workerd;
        HttpRequest {
            method: "GET",
            url: url.to_owned(),
            headers: vec![("Accept", "application/json".to_owned())],
            body: String::new(),
            redirect: "manual",
            cache: (!workerd).then_some("no-store"),
            credentials: (!workerd).then_some("omit"),
            lock: false,
            assertion: false,
        }
    }

    /// `Basic base64(id:secret)`, with id and secret form-encoded first as RFC 6749 §2.3.1
    /// requires, except for Sypht, whose documentation shows them raw.
    fn basic_credentials(&self, secret: &str) -> String {
        let mut pair = String::new();
        if self.preset.basic_raw {
            pair.push_str(&self.client_id);
            pair.push(':');
            pair.push_str(secret);
        } else {
            push_form(&mut pair, &self.client_id);
            pair.push(':');
            push_form(&mut pair, secret);
        }
        let mut out = String::from("Basic ");
        push_base64(&mut out, pair.as_bytes());
        out
    }
}
