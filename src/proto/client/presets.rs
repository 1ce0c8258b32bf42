//! Provider presets as data: what differs between Sypht, Symbl and a generic OAuth2
//! endpoint is a row here, never a condition in the request, response or error code. A
//! preset ([`PresetSpec`]) names its defaults and its token endpoint's wire format
//! ([`Wire`]); a new vendor is a row (and its constructor).

/// How a token request's body is written.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// None: a tokenkit broker's POST (the secret stays on the broker).
    Empty,
    /// RFC 6749's form (`grant_type=client_credentials&...`).
    Form,
    /// A JSON object: `open` (its fixed members, without the closing brace), then the
    /// client id and secret under these member names.
    JsonCredentials {
        /// The fixed members.
        open: &'static str,
        /// The client id's member.
        id: &'static str,
        /// The client secret's member.
        secret: &'static str,
    },
}

/// How a refusal from the token endpoint reads.
#[derive(Debug, PartialEq, Eq)]
pub enum Errors {
    /// RFC 6749 §5.2 error bodies (`error`, `error_description`), also on a 200.
    Rfc6749,
    /// By status alone, with the wire's documented meanings.
    ByStatus,
    /// The tokenkit broker contract ([`crate::proto::broker::contract`]).
    Broker,
}

/// A token endpoint's wire format, as data: how the request is written, which fields the
/// answer holds, how its errors read.
#[derive(Debug)]
pub struct Wire {
    /// Its name for the `dialect` option (`""`: not chosen by name).
    pub name: &'static str,
    /// The request body.
    pub body: BodyFormat,
    /// The answer's access token member.
    pub token_field: &'static str,
    /// The answer's lifetime member, in seconds.
    pub expires_field: &'static str,
    /// The answer's granted scope member, if it has one.
    pub scope_field: Option<&'static str>,
    /// What is wrong with the access token member: missing, empty, not a string.
    pub token_problems: [&'static str; 3],
    /// How its refusals read.
    pub errors: Errors,
    /// The documented meaning of statuses, for error messages.
    pub status_meanings: &'static [(u16, &'static str)],
    /// Options this format has no place for (refused by name, saying this).
    pub unused_options: &'static [&'static str],
    /// See [`Wire::unused_options`].
    pub unused_why: &'static str,
    /// Whether [`super::config::MIN_INTERVAL`] spaces its token requests (a tokenkit
    /// broker spaces its own).
    pub spaced: bool,
}

impl Wire {
    /// The documented meaning of `status`, or `""`.
    pub fn meaning(&self, status: u16) -> &'static str {
        self.status_meanings.iter().find(|(s, _)| *s == status).map_or("", |(_, m)| m)
    }

    /// Whether this is RFC 6749 as written (public clients and the user grants need it).
    pub fn is_oauth2(&self) -> bool {
        self.body == BodyFormat::Form
    }
}

/// RFC 6749: a form body, `access_token`/`expires_in`, §5.2 errors.
pub const OAUTH2: Wire = Wire {
    name: "oauth2",
    body: BodyFormat::Form,
    token_field: "access_token",
    expires_field: "expires_in",
    scope_field: Some("scope"),
    token_problems: ["access_token is missing", "access_token is empty", "access_token is not a string"],
    errors: Errors::Rfc6749,
    status_meanings: &[],
    unused_options: &[],
    unused_why: "",
    spaced: true,
};

/// Symbl's JSON app-credentials endpoint: `{"type":"application","appId","appSecret"}` in,
/// `{"accessToken","expiresIn"}` out, errors by status.
pub const SYMBL_JSON: Wire = Wire {
    name: "symbl",
    body: BodyFormat::JsonCredentials { open: "{\"type\":\"application\"", id: "appId", secret: "appSecret" },
    token_field: "accessToken",
    expires_field: "expiresIn",
    scope_field: None,
    token_problems: ["accessToken is missing", "accessToken is empty", "accessToken is not a string"],
    errors: Errors::ByStatus,
    status_meanings: &[
        (400, "Bad Request: the request is invalid (check appId and appSecret)"),
        (401, "Unauthorized: the appId or appSecret is invalid"),
        (404, "Not Found: the specified resource does not exist (check tokenUrl)"),
        (500, "Internal Server Error: Symbl had a problem with its server; try again later"),
    ],
    unused_options: &["clientAuth", "scope", "audience", "resource", "extraParams"],
    unused_why: "is not used by the symbl dialect",
    spaced: true,
};

/// A tokenkit broker (`brokerUrl`): an empty POST, answered by the broker contract.
pub const BROKER: Wire = Wire {
    name: "",
    body: BodyFormat::Empty,
    token_field: "access_token",
    expires_field: "expires_in",
    scope_field: Some("scope"),
    token_problems: ["access_token is missing", "access_token is empty", "access_token is not a string"],
    errors: Errors::Broker,
    status_meanings: &[],
    unused_options: &[],
    unused_why: "",
    spaced: false,
};

/// The formats the `dialect` option can name, each with the preset whose option names
/// its credentials take (`dialect: "symbl"` takes `appId`/`appSecret`).
pub static DIALECTS: [(&Wire, &PresetSpec); 2] = [(&OAUTH2, &GENERIC), (&SYMBL_JSON, &SYMBL)];

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
    pub wire: &'static Wire,
    /// The option names of the client id and secret (Symbl says `appId`/`appSecret`).
    pub id_field: &'static str,
    /// See [`PresetSpec::id_field`].
    pub secret_field: &'static str,
    /// Basic credentials as `id:secret` without form encoding (Sypht's documentation
    /// shows them raw; RFC 6749 §2.3.1 wants them form-encoded first).
    pub basic_raw: bool,
    /// Also send `client_id` in the body with Basic auth (Sypht).
    pub client_id_in_body: bool,
    /// The constructor of static API keys: it takes `apiKey`, never a token endpoint.
    pub api_key: bool,
    /// A `brokerUrl` may take the place of the token endpoint (`new TokenClient()` only: a
    /// vendor's constructor names that vendor's endpoint).
    pub brokers: bool,
}

/// Every constructor's row, in the order js/shell.js numbers them (`new TokenClient()`,
/// `.sypht()`, `.symbl()`, `.apiKey()`): a new vendor is a row here and a line there.
pub static PRESETS: [&PresetSpec; 4] = [&GENERIC, &SYPHT, &SYMBL, &API_KEY];

/// RFC 6749 as written, with no vendor's defaults: what the generic and API key rows share.
const RFC6749: PresetSpec = PresetSpec {
    token_url: "",
    api_origin: "",
    audience: None,
    wire: &OAUTH2,
    id_field: "clientId",
    secret_field: "clientSecret",
    basic_raw: false,
    client_id_in_body: false,
    api_key: false,
    brokers: true,
};

/// `new TokenClient(options)`: RFC 6749 as written.
pub static GENERIC: PresetSpec = RFC6749;

/// `TokenClient.apiKey(options)`: a static key, attached as is.
pub static API_KEY: PresetSpec = PresetSpec { api_key: true, brokers: false, ..RFC6749 };

/// `TokenClient.sypht(...)`: <https://docs.sypht.com> (client credentials, audience
/// `https://api.sypht.com`).
pub static SYPHT: PresetSpec = PresetSpec {
    token_url: "https://auth.sypht.com/oauth2/token",
    api_origin: "https://api.sypht.com",
    audience: Some("https://api.sypht.com"),
    wire: &OAUTH2,
    id_field: "clientId",
    secret_field: "clientSecret",
    basic_raw: true,
    client_id_in_body: true,
    api_key: false,
    brokers: false,
};

/// `TokenClient.symbl(...)`: Symbl's JSON app-credentials endpoint.
pub static SYMBL: PresetSpec = PresetSpec {
    token_url: "https://api.symbl.ai/oauth2/token:generate",
    api_origin: "https://api.symbl.ai",
    audience: None,
    wire: &SYMBL_JSON,
    id_field: "appId",
    secret_field: "appSecret",
    basic_raw: false,
    client_id_in_body: false,
    api_key: false,
    brokers: false,
};
