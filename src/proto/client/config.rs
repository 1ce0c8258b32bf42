//! Client configuration: parsing and validating the caller's options.
//!
//! A typo in an option name must not silently weaken security, so unknown names are
//! errors, as are wrong types, negative numbers and insecure URLs. Every error names the
//! field it is about (`INVALID_CONFIG`). There are three modes, each parsed by its own
//! function: a token endpoint ([`endpoint`]), a tokenkit broker ([`broker`]) and a static
//! API key ([`api_key`]); provider quirks come from [`super::presets`].

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::encode::{is_printable, push_u64};
use crate::proto::error::Error;
use crate::proto::http::{is_header_value, is_token};
use crate::proto::secret::{ApiKey, ClientSecret};
use crate::proto::time::{Millis, Secs};
use crate::proto::url::{parse_origin, secure_url, ParseUrl};
use crate::proto::value::{get, Value};
use super::presets::{self, PresetSpec, Wire, DIALECTS, GENERIC};

/// How the client authenticates to the token endpoint.
///
/// See <https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1>.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(id:secret)` (the default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// Public client: only `client_id` in the body.
    None,
    /// `private_key_jwt` (RFC 7523 §2.2): a JWT signed with the client's private key, new
    /// for every request, in place of a shared secret. The key stays in WebCrypto.
    PrivateKeyJwt,
}

/// The fetch `credentials` mode of token requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// No cookies (every token request except a broker client's that asks for them).
    Omit,
    /// Cookies for same-origin brokers.
    SameOrigin,
    /// Cookies always (a broker behind a cookie session).
    Include,
}

/// Where the token comes from.
#[derive(Clone, Debug)]
// One per client, built once: boxing the endpoint would cost an allocation and code for
// nothing (clippy's size rule is for enums moved around or kept by the thousand).
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// A token endpoint.
    Endpoint(Endpoint),
    /// A static API key: no endpoint, never expires.
    ApiKey {
        /// The key.
        key: ApiKey,
        /// The header to send it in, as is; `None` = `Authorization: Bearer <key>`.
        header: Option<String>,
    },
}

/// The grant a token endpoint client uses.
#[derive(Clone, Debug)]
pub enum Grant {
    /// Client credentials (RFC 6749 §4.4): the application's own token.
    ClientCredentials,
    /// Authorization code with PKCE (RFC 6749 §4.1, RFC 7636) kept alive with refresh
    /// tokens (§6): a signed-in user's tokens.
    AuthorizationCode(alloc::boxed::Box<AuthCode>),
    /// Token exchange (RFC 8693): the broker's token for one API, exchanged for the
    /// signed-in user's access token ([`crate::proto::client::machine::Machine::set_subject`]),
    /// down-scoped to the endpoint's `audience`, `resource` and `scope`.
    #[cfg(feature = "server")]
    TokenExchange,
}

/// Where a user signs in, and where the authorization server sends them back.
#[derive(Clone, Debug)]
pub struct AuthCode {
    /// The authorization endpoint (https, or http on a loopback host).
    pub authorize_url: String,
    /// The redirect URI registered for this client, sent as given.
    pub redirect_uri: String,
    /// The RFC 7009 revocation endpoint, if the server has one.
    pub revocation_url: Option<String>,
    /// The authorization server's issuer identifier: the callback's `iss` must match it
    /// when the server sends one (RFC 9207).
    pub issuer: Option<String>,
    /// The discovered metadata promises an `iss` on every authorization response (RFC 9207
    /// §3: `authorization_response_iss_parameter_supported`): a callback without one is
    /// refused.
    pub iss_required: bool,
    /// The pushed authorization request endpoint (RFC 9126): when set, every sign-in's
    /// parameters are POSTed there (with the client's authentication) and the user is sent
    /// to the authorization endpoint with `client_id` and `request_uri` alone. `parUrl`, or
    /// the discovered endpoint when the server requires it or the client is confidential.
    pub par_url: Option<String>,
}

/// A token endpoint and the client's credentials for it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The grant: client credentials, or a user's authorization code and refresh tokens.
    pub grant: Grant,
    /// The token endpoint URL (https, or http on a loopback host).
    pub token_url: String,
    /// The client identifier (Symbl: `appId`).
    pub client_id: String,
    /// The client secret (Symbl: `appSecret`); `None` for public clients and key-based ones.
    pub client_secret: Option<ClientSecret>,
    /// A `private_key_jwt` client's key and assertion audience (never in a browser build:
    /// [`crate::proto::jwk::KeyPart`]); the shell holds the key itself in WebCrypto.
    pub key_auth: Option<crate::proto::jwk::KeyPart>,
    /// How the client authenticates.
    pub client_auth: ClientAuth,
    /// The wire format (a row of [`super::presets`]).
    pub wire: &'static Wire,
    /// Space-separated scopes to request.
    pub scope: Option<String>,
    /// The `audience` parameter.
    pub audience: Option<String>,
    /// The RFC 8707 `resource` parameter, exactly as the caller gave it.
    pub resource: Option<String>,
    /// Extra form parameters, in the caller's order.
    pub extra_params: Vec<(String, String)>,
    /// The provider's quirks.
    pub preset: &'static PresetSpec,
    /// The fetch `credentials` mode.
    pub credentials: Credentials,
    /// Tokens bound to the client's key (RFC 9449), if `dpop` is on: where proofs for the
    /// token endpoint point.
    pub dpop: Option<DpopTarget>,
    /// The endpoints are still to be discovered from this issuer (`issuer` without
    /// `tokenUrl`): `token_url` is empty until then, and nothing is sent to it.
    pub discover: Option<alloc::boxed::Box<Discover>>,
}

/// A discovery to make before the first token request ([`crate::proto::discovery`]).
#[derive(Clone, Debug)]
pub struct Discover {
    /// The configured issuer identifier, which the metadata must name exactly.
    pub issuer: String,
    /// Its metadata locations: RFC 8414's, then OpenID Connect's.
    pub urls: [String; 2],
    /// Which of them is asked next.
    pub step: u8,
    /// `urls[0]` is a protected resource's metadata (RFC 9728), which names the issuer to
    /// discover next (`issuer` is empty until then).
    pub resource: bool,
}

impl Endpoint {
    /// Takes the discovered metadata of `issuer`: its token endpoint (and the DPoP proofs'
    /// target), and for signing users in the endpoints the options did not give. Nothing was sent to
    /// any of them before.
    pub fn apply(&mut self, md: crate::proto::discovery::Metadata, issuer: String) -> Result<(), Error> {
        // A resource's metadata named the issuer: it is the assertions' audience.
        if let Some(k) = &mut self.key_auth {
            k.discovered(&issuer);
        }
        // A sign-in client takes the endpoints it was not given, the RFC 9207 promise, and
        // the issuer a resource's metadata named (its callbacks' iss must be that one).
        #[cfg(feature = "signin")]
        if let Grant::AuthorizationCode(ac) = &mut self.grant {
            ac.issuer.get_or_insert(issuer);
            if ac.authorize_url.is_empty() {
                ac.authorize_url = md.authorization_endpoint.ok_or(Error::Metadata { what: crate::proto::error::AS_METADATA, status: 200, reason: "it has no authorization_endpoint, which signing users in needs" })?;
            }
            if ac.revocation_url.is_none() {
                ac.revocation_url = md.revocation_endpoint;
            }
            ac.iss_required = md.iss_parameter_supported;
            // FAPI 2.0 asks confidential clients to push every authorization request; a
            // server that requires it gets it from every client (RFC 9126 §5).
            #[cfg(feature = "server")]
            if ac.par_url.is_none() && (md.require_par || self.client_secret.is_some() || self.key_auth.is_some()) {
                ac.par_url = md.par_endpoint;
            }
        }
        if self.dpop.is_some() {
            self.dpop = Some(DpopTarget::new(&md.token_origin, &md.token_path));
        }
        self.token_url = md.token_endpoint;
        self.discover = None;
        Ok(())
    }
}

/// A server DPoP proofs are made for: its origin (whose nonce a proof carries) and the
/// `htu` of its endpoint (origin and path, as the platform's URL parser serialises them).
#[derive(Clone, Debug)]
pub struct DpopTarget {
    /// The endpoint's `URL.origin`.
    pub origin: String,
    /// Its origin and path: no query, no fragment (RFC 9449 §4.2).
    pub htu: String,
}

impl DpopTarget {
    /// The target of a request to `origin` with path `pathname` (a platform-parsed URL's).
    pub fn new(origin: &str, pathname: &str) -> DpopTarget {
        let mut htu = String::from(origin);
        htu.push_str(pathname);
        DpopTarget { origin: origin.to_owned(), htu }
    }

    /// The target of a token endpoint still to be discovered (no proof is made for it).
    pub fn pending() -> DpopTarget {
        DpopTarget { origin: String::new(), htu: String::new() }
    }
}

/// When to refresh, how long to wait, how often to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Refresh this long before expiry (at most half the token's life).
    pub refresh_skew: Millis,
    /// Lifetime assumed when the server omits `expires_in`.
    pub default_expires_in: Secs,
    /// Per token request, body included.
    pub timeout: Millis,
    /// For one `getToken()`: all attempts, backoff and `Retry-After` waits together.
    pub deadline: Millis,
    /// Retries for network errors, timeouts, 429 and 5xx.
    pub max_retries: u32,
}

/// The least time between two token requests (not counting retries, a refused token or
/// `invalidate()`): a server that says `expires_in: 0` (or 3) cannot make every call fetch
/// a new token. It never stretches a token's life: past its `expires_in` a token is not
/// attached, and callers wait for the next request. (A 10 s token is still refreshed at
/// half-way, as before tokens were honest.)
pub const MIN_INTERVAL: Secs = Secs(5);

/// The least `defaultExpiresInSeconds`.
const MIN_DEFAULT_EXPIRES_IN: Secs = Secs(10);

const DEFAULT_TIMING: Timing = Timing {
    refresh_skew: Secs(60).ms(),
    default_expires_in: Secs(3600),
    timeout: Millis(10_000),
    deadline: Millis(30_000),
    max_retries: 2,
};

impl Default for Timing {
    fn default() -> Timing {
        DEFAULT_TIMING
    }
}

/// A validated client configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where tokens come from.
    pub source: Source,
    /// Origins (scheme, host, port) that may receive the token, serialized as `URL.origin`.
    pub allowed_origins: Vec<String>,
    /// Refresh, timeout and retry settings.
    pub timing: Timing,
}

/// Options every constructor accepts. `fetch` is taken by the shell.
const COMMON: &[&str] = &["allowedOrigins", "fetch"];
const TIMING: &[&str] = &["refreshSkewSeconds", "defaultExpiresInSeconds", "timeoutMs", "deadlineMs", "maxRetries"];
const ENDPOINT: &[&str] = &[
    "tokenUrl",
    "clientId",
    "clientSecret",
    "clientAuth",
    "scope",
    "audience",
    "resource",
    "extraParams",
    "dialect",
    "grant",
    "dpop",
    "issuer",
    "resourceMetadata",
    "clientKey",
    "assertionAudience",
    #[cfg(feature = "signin")]
    "authorizeUrl",
    #[cfg(feature = "signin")]
    "redirectUri",
    #[cfg(feature = "signin")]
    "revocationUrl",
    #[cfg(feature = "signin")]
    "parUrl",
];
/// Options of the authorization code grant only.
#[cfg(feature = "signin")]
const AUTH_CODE: &[&str] = &["authorizeUrl", "redirectUri", "revocationUrl", "parUrl"];
const API_KEY: &[&str] = &["apiKey", "header"];
const BROKER: &[&str] = &["brokerUrl", "credentials"];
/// Parameters the client sets itself; `extraParams` may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "audience",
    "resource",
    "code",
    "code_verifier",
    "redirect_uri",
    "refresh_token",
    "client_assertion",
    "client_assertion_type",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Endpoint,
    Broker,
    ApiKey,
}

type Opts = [(String, Value)];

impl Config {
    /// Validates the caller's options for the constructor whose row is `spec`
    /// ([`super::presets::PRESETS`]).
    pub fn from_options(spec: &'static PresetSpec, options: &Value, parse_url: ParseUrl<'_>) -> Result<Config, Error> {
        let opts: &Opts = match options {
            Value::Object(entries) => entries,
            Value::Null => &[],
            _ => return Err(Error::config("options", "must be an object")),
        };
        let mode = if spec.api_key || get(opts, "apiKey").is_some() {
            Mode::ApiKey
        } else if spec.brokers && get(opts, "brokerUrl").is_some() {
            Mode::Broker
        } else {
            Mode::Endpoint
        };
        // The credentials' option names: a preset's own (Symbl's appId/appSecret), or those
        // of the dialect asked for by name.
        let named = match get(opts, "dialect") {
            Some(Value::Str(d)) => DIALECTS.iter().find(|(w, _)| w.name == d).map(|(_, p)| *p),
            _ => None,
        };
        let names = match named {
            Some(p) if spec.id_field == GENERIC.id_field => p,
            _ => spec,
        };
        check_names(opts, mode, names)?;
        let allowed_origins = match get(opts, "allowedOrigins") {
            Some(v) => origins(v, parse_url)?,
            None if spec.api_origin.is_empty() => Vec::new(),
            None => vec![spec.api_origin.to_owned()],
        };
        let (source, timing) = match mode {
            Mode::ApiKey => (api_key(opts)?, Timing::default()),
            Mode::Broker => (broker(opts, parse_url)?, timing(opts)?),
            Mode::Endpoint => (endpoint(opts, spec, names, parse_url)?, timing(opts)?),
        };
        if mode == Mode::ApiKey && allowed_origins.is_empty() {
            // A static key is only ever useful attached to requests: say where, up front.
            return Err(Error::config("allowedOrigins", "is required for an API key (the origins that may receive it)"));
        }
        Ok(Config {
            source,
            allowed_origins,
            timing,
        })
    }

    /// This configuration, if it may run in `runtime`: a `private_key_jwt` client is a
    /// confidential one, and a page is no place for its key (every script in the page, and
    /// every user, could sign with it): `INVALID_CONFIG` there, pointing at the broker.
    pub fn check_runtime(self, runtime: super::request::Runtime) -> Result<Config, Error> {
        match &self.source {
            Source::Endpoint(ep) if ep.key_auth.is_some() && runtime == super::request::Runtime::Browser => Err(Error::config(
                "clientAuth",
                "\"private_key_jwt\" is for servers (Node, Workers): in a page anyone could sign with the key; use the broker (tokenkit/broker) there",
            )),
            _ => Ok(self),
        }
    }

    /// Whether a token may be sent to `origin` (a serialized `URL.origin`).
    ///
    /// # Security
    /// Exact comparison of serialized origins: scheme, host and port must all match.
    /// Opaque origins (`"null"`) never match.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        origin != "null" && self.allowed_origins.iter().any(|o| o == origin)
    }

    /// Whether `text` (a platform error's message, say) contains the client secret or the
    /// API key, so that it must not be handed to JavaScript.
    pub fn mentions_secret(&self, text: &str) -> bool {
        let secret = match &self.source {
            Source::Endpoint(ep) => ep.client_secret.as_ref().map(|s| s.expose()),
            Source::ApiKey { key, .. } => Some(key.expose()),
        };
        secret.is_some_and(|s| crate::proto::encode::contains(text, s))
    }
}

/// Unknown names, and names that belong to another mode, are errors. A preset may add its
/// own names for the credentials (Symbl's `appId`/`appSecret`).
fn check_names(opts: &Opts, mode: Mode, spec: &PresetSpec) -> Result<(), Error> {
    for (key, value) in opts {
        let k = key.as_str();
        let known = COMMON.contains(&k)
            || match mode {
                Mode::ApiKey => API_KEY.contains(&k),
                Mode::Broker => BROKER.contains(&k) || TIMING.contains(&k),
                Mode::Endpoint => ENDPOINT.contains(&k) || TIMING.contains(&k) || k == spec.id_field || k == spec.secret_field,
            };
        if known || matches!(value, Value::Null) {
            continue;
        }
        let endpointish = ENDPOINT.contains(&k) || TIMING.contains(&k) || BROKER.contains(&k);
        let reason = match mode {
            Mode::ApiKey if endpointish => "does not apply to an API key client",
            Mode::Broker if ENDPOINT.contains(&k) => {
                "does not apply to a broker client (the broker holds the credentials)"
            }
            Mode::Endpoint | Mode::Broker if API_KEY.contains(&k) => "does not apply to a token endpoint client",
            _ => "is not a known option (check the spelling)",
        };
        return Err(Error::config(k, reason));
    }
    Ok(())
}

/// `TokenClient.apiKey({ apiKey, header })`.
fn api_key(opts: &Opts) -> Result<Source, Error> {
    let key = required_str(opts, "apiKey")?;
    if !is_header_value(key) {
        return Err(Error::config("apiKey", "contains characters not allowed in an HTTP header"));
    }
    let header = optional_str(opts, "header")?;
    if header.is_some_and(|h| !is_token(h)) {
        return Err(Error::config("header", "is not a valid HTTP header name"));
    }
    Ok(Source::ApiKey {
        key: ApiKey::new(key.to_owned()),
        header: header.map(str::to_owned),
    })
}

/// `new TokenClient({ brokerUrl, credentials })`.
fn broker(opts: &Opts, parse_url: ParseUrl<'_>) -> Result<Source, Error> {
    let url = secure_url(required_str(opts, "brokerUrl")?, "brokerUrl", parse_url)?;
    let credentials = match optional_str(opts, "credentials")? {
        None | Some("omit") => Credentials::Omit,
        Some("same-origin") => Credentials::SameOrigin,
        Some("include") => Credentials::Include,
        Some(_) => return Err(Error::config("credentials", "must be \"omit\", \"same-origin\" or \"include\"")),
    };
    Ok(Source::Endpoint(Endpoint {
        grant: Grant::ClientCredentials,
        token_url: url.href,
        client_id: String::new(),
        client_secret: None,
        key_auth: None,
        client_auth: ClientAuth::None,
        wire: &presets::BROKER,
        scope: None,
        audience: None,
        resource: None,
        extra_params: Vec::new(),
        preset: &GENERIC,
        credentials,
        dpop: None,
        discover: None,
    }))
}

/// A token endpoint with the client's credentials, with `spec`'s defaults; the credentials
/// may be given under `names`' option names.
fn endpoint(opts: &Opts, spec: &'static PresetSpec, names: &PresetSpec, parse_url: ParseUrl<'_>) -> Result<Source, Error> {
    let wire = match optional_str(opts, "dialect")? {
        None => spec.wire,
        Some(name) => match DIALECTS.iter().find(|(w, _)| w.name == name) {
            Some((w, _)) => *w,
            None => return Err(Error::config("dialect", "must be \"oauth2\" or \"symbl\"")),
        },
    };
    // The authorization server's issuer identifier: with no tokenUrl, where the endpoints
    // are discovered from (RFC 8414); with one, only what sign-in's callbacks are checked
    // against (RFC 9207). Explicit URLs win.
    let issuer = optional_str(opts, "issuer")?;
    let locations = issuer.map(|i| crate::proto::discovery::check_issuer(i, parse_url)).transpose()?;
    // With neither, a `resource` alone names its authorization server (RFC 9728).
    let resource_only = issuer.is_none() && get(opts, "resource").is_some() && wire.is_oauth2();
    let token_url = match (optional_str(opts, "tokenUrl")?, issuer) {
        (Some(u), _) => Some(u),
        (None, _) if !spec.token_url.is_empty() => Some(spec.token_url),
        (None, Some(_)) if wire.is_oauth2() => None,
        (None, None) if resource_only => None,
        (None, _) => return Err(Error::config("tokenUrl", "is required (or issuer, resource, brokerUrl or apiKey)")),
    };
    let token_url = token_url.map(|u| secure_url(u, "tokenUrl", parse_url)).transpose()?;
    if token_url.as_ref().is_some_and(|u| u.has_fragment) {
        return Err(Error::config("tokenUrl", "must not have a #fragment"));
    }
    let discover = match (&token_url, issuer, locations) {
        (None, Some(i), Some(urls)) => Some(alloc::boxed::Box::new(Discover { issuer: i.to_owned(), urls, step: 0, resource: false })),
        (None, None, _) => {
            let r = secure_url(optional_str(opts, "resource")?.unwrap_or_default(), "resource", parse_url)?;
            if r.has_query || r.has_fragment {
                return Err(Error::config("resource", "must have no ?query and no #fragment to discover its authorization server (RFC 9728)"));
            }
            // The location a 401's `resource_metadata` named (RFC 9728 §5.1), on the
            // resource's own origin only; else the well-known one.
            let url = match optional_str(opts, "resourceMetadata")? {
                None => crate::proto::discovery::resource_metadata_url(&r.origin, &r.pathname),
                Some(m) => match secure_url(m, "resourceMetadata", parse_url)? {
                    u if u.origin == r.origin && !u.has_fragment => u.href,
                    _ => return Err(Error::config("resourceMetadata", "must be a URL on the resource's own origin, without a #fragment (RFC 9728 §5.1)")),
                },
            };
            Some(alloc::boxed::Box::new(Discover { issuer: String::new(), urls: [url, String::new()], step: 0, resource: true }))
        }
        _ => None,
    };
    if !discover.as_ref().is_some_and(|d| d.resource) && get(opts, "resourceMetadata").is_some() {
        return Err(Error::config("resourceMetadata", "applies only to a resource alone (no tokenUrl, no issuer)"));
    }

    // A preset's own names (Symbl: appId/appSecret) or the generic ones, not both.
    let has = |k: &str| get(opts, k).is_some();
    let own_names = names.id_field != GENERIC.id_field && (has(names.id_field) || has(names.secret_field));
    let generic_names = has(GENERIC.id_field) || has(GENERIC.secret_field);
    if own_names && generic_names {
        return Err(Error::config(names.id_field, "give appId/appSecret or clientId/clientSecret, not both"));
    }
    let (id_field, secret_field) = if generic_names {
        (GENERIC.id_field, GENERIC.secret_field)
    } else {
        (names.id_field, names.secret_field)
    };
    let client_id = required_str(opts, id_field)?;
    let client_secret = optional_str(opts, secret_field)?;
    let client_auth = match optional_str(opts, "clientAuth")? {
        None | Some("client_secret_basic") => ClientAuth::Basic,
        Some("client_secret_post") => ClientAuth::Post,
        Some("none") => ClientAuth::None,
        Some("private_key_jwt") if wire.is_oauth2() => ClientAuth::PrivateKeyJwt,
        Some(_) => {
            return Err(Error::config(
                "clientAuth",
                "must be \"client_secret_basic\", \"client_secret_post\", \"private_key_jwt\" or \"none\"",
            ))
        }
    };
    #[cfg(feature = "server")]
    let key_auth = key_auth(opts, client_auth, client_secret.is_some(), secret_field, issuer, discover.is_some())?;
    #[cfg(not(feature = "server"))]
    let key_auth = key_auth(opts, client_auth)?;
    match (&client_secret, client_auth, wire.is_oauth2()) {
        (None, ClientAuth::None | ClientAuth::PrivateKeyJwt, true) => {}
        (None, _, _) => return Err(Error::config(secret_field, "is required")),
        (Some(_), ClientAuth::None, _) => {
            return Err(Error::config(secret_field, "must not be given with clientAuth \"none\""))
        }
        (Some(""), _, _) => return Err(Error::config(secret_field, "must not be empty")),
        _ => {}
    }
    // A shared secret goes only to an authorization server the configuration names: a
    // resource's metadata (anyone who controls the API, or a path on it, writes it) must not
    // choose where it is sent. A key's assertion names its audience, and a public client
    // has no secret: those may follow the metadata.
    if client_secret.is_some() && discover.as_ref().is_some_and(|d| d.resource) {
        return Err(Error::config(
            "issuer",
            "is required with resource and a client secret (a secret goes only to a server you name)",
        ));
    }
    if let Some(field) = wire.unused_options.iter().find(|f| has(f)) {
        return Err(Error::config(*field, wire.unused_why));
    }
    if spec.basic_raw && client_auth == ClientAuth::Basic && client_id.contains(':') {
        return Err(Error::config(id_field, "must not contain ':' (Sypht sends id:secret without encoding)"));
    }
    let grant = match optional_str(opts, "grant")? {
        None | Some("client_credentials") => {
            #[cfg(feature = "signin")]
            if let Some(k) = AUTH_CODE.iter().find(|k| has(k)) {
                return Err(Error::config(*k, "applies only to grant \"authorization_code\""));
            }
            Grant::ClientCredentials
        }
        #[cfg(not(feature = "signin"))]
        Some("authorization_code") => {
            return Err(Error::config("grant", "\"authorization_code\" needs the sign-in build: import from \"tokenkit/signin\""))
        }
        #[cfg(feature = "signin")]
        Some("authorization_code") if !wire.is_oauth2() || spec.id_field != GENERIC.id_field => {
            return Err(Error::config("grant", "\"authorization_code\" needs the oauth2 dialect and new TokenClient()"))
        }
        #[cfg(feature = "signin")]
        Some("authorization_code") => Grant::AuthorizationCode(alloc::boxed::Box::new(auth_code(opts, issuer, discover.is_some(), parse_url)?)),
        Some(_) => return Err(Error::config("grant", "must be \"client_credentials\" or \"authorization_code\"")),
    };
    let resource = optional_str(opts, "resource")?;
    if let Some(r) = resource {
        // Validated with the platform's parser, but sent exactly as given: strict servers
        // compare the resource indicator as a string (RFC 8707 §2).
        if !parse_url(r).is_some_and(|u| !u.has_fragment) || !is_printable(r) {
            return Err(Error::config("resource", "must be an absolute URL without a #fragment (RFC 8707)"));
        }
    }
    let dpop = match get(opts, "dpop") {
        None | Some(Value::Bool(false)) => None,
        Some(_) if !crate::proto::DPOP => return Err(Error::config("dpop", "needs the DPoP build: import from \"tokenkit/dpop\"")),
        Some(Value::Bool(true)) => Some(()),
        // The app's own CryptoKeyPair: the shell checks the keys, the core their algorithm.
        Some(Value::Object(o)) if o.iter().all(|(k, _)| k == "keyPair") && get(o, "keyPair").is_some() => Some(()),
        Some(_) => return Err(Error::config("dpop", "must be true, false or { keyPair } (a CryptoKeyPair)")),
    };
    if dpop.is_some() && !wire.is_oauth2() {
        return Err(Error::config("dpop", "needs the oauth2 dialect"));
    }
    // Until discovery gives the token endpoint, its proofs' target is not known.
    let dpop = dpop.map(|()| token_url.as_ref().map_or_else(DpopTarget::pending, |u| DpopTarget::new(&u.origin, &u.pathname)));
    Ok(Source::Endpoint(Endpoint {
        grant,
        token_url: token_url.map(|u| u.href).unwrap_or_default(),
        discover,
        client_id: client_id.to_owned(),
        client_secret: client_secret.map(|s| ClientSecret::new(s.to_owned())),
        key_auth,
        client_auth,
        wire,
        scope: get(opts, "scope").map(scope).transpose()?,
        audience: optional_str(opts, "audience")?.or(spec.audience).map(str::to_owned),
        resource: resource.map(str::to_owned),
        extra_params: get(opts, "extraParams").map(extra_params).transpose()?.unwrap_or_default(),
        preset: spec,
        credentials: Credentials::Omit,
        dpop,
    }))
}

/// `private_key_jwt`'s options: the key (the shell's view of it, never its private members)
/// and the audience of its assertions, the issuer identifier unless `assertionAudience`
/// names another (a server that still wants its token endpoint). `discovering`: the issuer
/// comes from a resource's metadata.
#[cfg(feature = "server")]
fn key_auth(opts: &Opts, auth: ClientAuth, secret: bool, secret_field: &str, issuer: Option<&str>, discovering: bool) -> Result<Option<crate::proto::jwk::KeyAuth>, Error> {
    let keyed = auth == ClientAuth::PrivateKeyJwt;
    if keyed && secret {
        return Err(Error::config(secret_field, "must not be given with clientAuth \"private_key_jwt\" (the key replaces it)"));
    }
    let key = match (get(opts, "clientKey"), keyed) {
        (None, true) => return Err(Error::config("clientKey", "is required with clientAuth \"private_key_jwt\" (a private CryptoKey or JWK)")),
        (None, false) => return match get(opts, "assertionAudience") {
            Some(_) => Err(Error::config("assertionAudience", "applies only to clientAuth \"private_key_jwt\"")),
            None => Ok(None),
        },
        (Some(_), false) => return Err(Error::config("clientKey", "applies only to clientAuth \"private_key_jwt\"")),
        (Some(v), true) => crate::proto::jwk::ClientKey::from_view(v).map_err(|r| Error::config("clientKey", r))?,
    };
    let audience = match optional_str(opts, "assertionAudience")? {
        Some(a) if a.is_empty() || !is_printable(a) => return Err(Error::config("assertionAudience", "must be a non-empty printable string")),
        Some(a) => Some(a.to_owned()),
        None => issuer.map(str::to_owned),
    };
    if audience.is_none() && !discovering {
        return Err(Error::config("assertionAudience", "or issuer is required with clientAuth \"private_key_jwt\" (the assertion's audience: the issuer identifier)"));
    }
    Ok(Some(crate::proto::jwk::KeyAuth { key, audience }))
}

/// The browser builds have no `private_key_jwt`: a page must never hold a private key.
#[cfg(not(feature = "server"))]
fn key_auth(opts: &Opts, auth: ClientAuth) -> Result<Option<crate::proto::jwk::NoKeyAuth>, Error> {
    let field = if auth == ClientAuth::PrivateKeyJwt { Some("clientAuth") } else { ["clientKey", "assertionAudience"].into_iter().find(|k| get(opts, k).is_some()) };
    match field {
        Some(f) => Err(Error::config(f, "private_key_jwt is for servers (the Node and Workers entries): in a page anyone could sign with the key; use the broker (tokenkit/broker)")),
        None => Ok(None),
    }
}

/// `authorizeUrl`, `redirectUri`, `revocationUrl` and `issuer` of the authorization code grant.
#[cfg(feature = "signin")]
fn auth_code(opts: &Opts, issuer: Option<&str>, discovering: bool, parse_url: ParseUrl<'_>) -> Result<AuthCode, Error> {
    // Discovered with the token endpoint when not given (empty until then).
    let authorize_url = match optional_str(opts, "authorizeUrl")? {
        None if discovering => String::new(),
        given => {
            let authorize = secure_url(given.ok_or_else(|| Error::config("authorizeUrl", "is required (or issuer, without tokenUrl)"))?, "authorizeUrl", parse_url)?;
            if authorize.has_fragment {
                return Err(Error::config("authorizeUrl", "must not have a #fragment"));
            }
            authorize.href
        }
    };
    // Sent as given (the server compares it as a string), but it must be an absolute URL
    // without a fragment (RFC 6749 §3.1.2); http only for loopback hosts.
    let redirect_uri = required_str(opts, "redirectUri")?;
    let parsed = secure_url(redirect_uri, "redirectUri", parse_url)?;
    if parsed.has_fragment || !is_printable(redirect_uri) {
        return Err(Error::config("redirectUri", "must be an absolute URL without a #fragment"));
    }
    let revocation_url = match optional_str(opts, "revocationUrl")? {
        Some(u) => Some(secure_url(u, "revocationUrl", parse_url)?.href),
        None => None,
    };
    let par_url = match optional_str(opts, "parUrl")? {
        Some(_) if !crate::proto::SERVER => {
            return Err(Error::config("parUrl", "pushed authorization requests are sent by servers (the Node and Workers entries, the broker)"))
        }
        Some(u) => match secure_url(u, "parUrl", parse_url)? {
            p if p.has_fragment => return Err(Error::config("parUrl", "must not have a #fragment")),
            p => Some(p.href),
        },
        None => None,
    };
    Ok(AuthCode { authorize_url, redirect_uri: redirect_uri.to_owned(), revocation_url, issuer: issuer.map(str::to_owned), iss_required: false, par_url })
}

fn origins(v: &Value, parse_url: ParseUrl<'_>) -> Result<Vec<String>, Error> {
    let items: &[Value] = match v {
        Value::List(items) => items,
        Value::Str(_) => core::slice::from_ref(v),
        _ => return Err(Error::config("allowedOrigins", "must be an array of origins")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Str(s) = item else {
            return Err(Error::config(indexed("allowedOrigins", i), "must be a string"));
        };
        out.push(parse_origin(s, parse_url).map_err(|r| Error::config(indexed("allowedOrigins", i), r))?);
    }
    Ok(out)
}

pub(crate) fn scope(v: &Value) -> Result<String, Error> {
    let mut out = String::new();
    let mut push = |token: &str, field: &str| -> Result<(), Error> {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if !token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
            return Err(Error::config(field, "contains a character not allowed in a scope (RFC 6749 §3.3)"));
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
        Ok(())
    };
    match v {
        Value::Str(s) => {
            for token in s.split_ascii_whitespace() {
                push(token, "scope")?;
            }
        }
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Str(s) if !s.is_empty() => push(s, &indexed("scope", i))?,
                    _ => return Err(Error::config(indexed("scope", i), "must be a non-empty string")),
                }
            }
        }
        _ => return Err(Error::config("scope", "must be a string or an array of strings")),
    }
    if out.is_empty() {
        return Err(Error::config("scope", "must not be empty"));
    }
    Ok(out)
}

fn extra_params(v: &Value) -> Result<Vec<(String, String)>, Error> {
    let Value::Object(entries) = v else {
        return Err(Error::config("extraParams", "must be an object of strings"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let mut field = String::from("extraParams.");
        field.push_str(k);
        if k.is_empty() {
            return Err(Error::config(field, "has an empty name"));
        }
        if RESERVED_PARAMS.contains(&k.as_str()) {
            return Err(Error::config(field, "is set by tokenkit itself (use the matching option instead)"));
        }
        match v {
            Value::Str(s) => out.push((k.clone(), s.clone())),
            Value::Null => {}
            _ => return Err(Error::config(field, "must be a string")),
        }
    }
    Ok(out)
}

/// The numeric options: name, default, smallest, largest, and the messages that name the
/// limits.
const NUMBERS: [(&str, f64, f64, f64, &str, &str); 5] = {
    const YEAR: f64 = crate::proto::MAX_EXPIRES_IN.0 as f64;
    const TIMER: f64 = i32::MAX as f64;
    const D: Timing = DEFAULT_TIMING;
    [
        ("refreshSkewSeconds", D.refresh_skew.0 as f64 / 1000.0, 0.0, YEAR, "", "must be at most 31536000 (a year)"),
        ("defaultExpiresInSeconds", D.default_expires_in.0 as f64, MIN_DEFAULT_EXPIRES_IN.0 as f64, YEAR,
            "must be at least 10 (the shortest lifetime tokenkit keeps a token for)", "must be at most 31536000 (a year)"),
        ("timeoutMs", D.timeout.0 as f64, 1.0, TIMER, "must be at least 1", "must be at most 2147483647 (the timer limit)"),
        ("deadlineMs", D.deadline.0 as f64, 1.0, TIMER, "must be at least 1", "must be at most 2147483647 (the timer limit)"),
        ("maxRetries", D.max_retries as f64, 0.0, 10.0, "", "must be at most 10"),
    ]
};

/// `refreshSkewSeconds`, `defaultExpiresInSeconds`, `timeoutMs`, `deadlineMs` and `maxRetries`.
fn timing(opts: &Opts) -> Result<Timing, Error> {
    let mut v = [0.0; 5];
    for (slot, (key, default, min, max, too_small, too_large)) in v.iter_mut().zip(NUMBERS) {
        *slot = match get(opts, key) {
            None => default,
            Some(Value::Num(n)) if !n.is_finite() => return Err(Error::config(key, "must be a finite number")),
            Some(Value::Num(n)) if *n < 0.0 => return Err(Error::config(key, "must not be negative")),
            Some(Value::Num(n)) if *n < min => return Err(Error::config(key, too_small)),
            Some(Value::Num(n)) if *n > max => return Err(Error::config(key, too_large)),
            Some(Value::Num(n)) => *n,
            Some(_) => return Err(Error::config(key, "must be a number")),
        };
    }
    let [skew, default_expires_in, timeout, deadline, max_retries] = v;
    if max_retries != f64::from(max_retries as u32) {
        return Err(Error::config("maxRetries", "must be a whole number"));
    }
    Ok(Timing {
        refresh_skew: Millis((skew * 1000.0 + 0.5) as u64),
        default_expires_in: Millis((default_expires_in * 1000.0 + 0.5) as u64).secs_ceil(),
        timeout: Millis(timeout as u64),
        deadline: Millis(deadline as u64),
        max_retries: max_retries as u32,
    })
}

fn indexed(name: &str, i: usize) -> String {
    let mut s = String::from(name);
    s.push('[');
    push_u64(&mut s, i as u64);
    s.push(']');
    s
}

fn optional_str<'a>(opts: &'a Opts, key: &str) -> Result<Option<&'a str>, Error> {
    match get(opts, key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(Error::config(key, "must be a string")),
    }
}

fn required_str<'a>(opts: &'a Opts, key: &str) -> Result<&'a str, Error> {
    match optional_str(opts, key)? {
        None => Err(Error::config(key, "is required")),
        Some("") => Err(Error::config(key, "must not be empty")),
        Some(s) => Ok(s),
    }
}

