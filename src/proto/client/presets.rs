//! Provider presets as data: what differs between Sypht, Symbl and a generic OAuth2
//! endpoint is a row here, never a condition in the request, response or error code.

use super::config::Dialect;

/// One provider's defaults and quirks.
#[derive(Debug)]
pub struct PresetSpec {
    /// The default token endpoint (empty: `tokenUrl` is required).
    pub token_url: &'static str,
    /// The API origin that may receive the token by default (empty: none).
    pub api_origin: &'static str,
    /// The default `audience` parameter.
    pub audience: Option<&'static str>,
    /// The default wire format.
    pub dialect: Dialect,
    /// The option names of the client id and secret (Symbl says `appId`/`appSecret`).
    pub id_field: &'static str,
    /// See [`PresetSpec::id_field`].
    pub secret_field: &'static str,
    /// Basic credentials as `id:secret` without form encoding (Sypht's documentation
    /// shows them raw; RFC 6749 §2.3.1 wants them form-encoded first).
    pub basic_raw: bool,
    /// Also send `client_id` in the body with Basic auth (Sypht).
    pub client_id_in_body: bool,
    /// The provider's documented meaning of token endpoint statuses, for error messages.
    pub status_meanings: &'static [(u16, &'static str)],
}

impl PresetSpec {
    /// The documented meaning of `status`, or `""`.
    pub fn meaning(&self, status: u16) -> &'static str {
        self.status_meanings
            .iter()
            .find(|(s, _)| *s == status)
            .map_or("", |(_, m)| m)
    }
}

/// `new TokenClient(options)`: RFC 6749 as written.
pub static GENERIC: PresetSpec = PresetSpec {
    token_url: "",
    api_origin: "",
    audience: None,
    dialect: Dialect::OAuth2,
    id_field: "clientId",
    secret_field: "clientSecret",
    basic_raw: false,
    client_id_in_body: false,
    status_meanings: &[],
};

/// `TokenClient.sypht(...)`: <https://docs.sypht.com> (client credentials, audience
/// `https://api.sypht.com`).
pub static SYPHT: PresetSpec = PresetSpec {
    token_url: "https://auth.sypht.com/oauth2/token",
    api_origin: "https://api.sypht.com",
    audience: Some("https://api.sypht.com"),
    dialect: Dialect::OAuth2,
    id_field: "clientId",
    secret_field: "clientSecret",
    basic_raw: true,
    client_id_in_body: true,
    status_meanings: &[],
};

/// `TokenClient.symbl(...)`: Symbl's JSON app-credentials endpoint.
pub static SYMBL: PresetSpec = PresetSpec {
    token_url: "https://api.symbl.ai/oauth2/token:generate",
    api_origin: "https://api.symbl.ai",
    audience: None,
    dialect: Dialect::Symbl,
    id_field: "appId",
    secret_field: "appSecret",
    basic_raw: false,
    client_id_in_body: false,
    status_meanings: &[
        (400, "Bad Request: the request is invalid (check appId and appSecret)"),
        (401, "Unauthorized: the appId or appSecret is invalid"),
        (404, "Not Found: the specified resource does not exist (check tokenUrl)"),
        (500, "Internal Server Error: Symbl had a problem with its server; try again later"),
    ],
};
