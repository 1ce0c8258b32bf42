//! Client configuration: parsing and validating the caller's options.
//!
//! A typo in an option name must not silently weaken security, so unknown names are
//! errors, as are wrong types, negative numbers and insecure URLs. Every error names the
//! field it is about (`INVALID_CONFIG`).

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::Error;
use super::response::{TokenSet, NEVER};
use super::secret::Secret;
use super::value::{get, Value};
use super::{Millis, MAX_EXPIRES_IN_SECS};

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
}

/// The token endpoint's wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 6749 client credentials grant (form body, `access_token`/`expires_in`).
    OAuth2,
    /// Symbl's JSON endpoint (`{"type":"application","appId","appSecret"}` and
    /// `{"accessToken","expiresIn"}`).
    Symbl,
    /// A tokenkit broker (`brokerUrl`): an empty POST, answered like RFC 6749 §5.1. The
    /// secret stays on the broker.
    Broker,
}

/// Which constructor the options came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// `new TokenClient(options)`.
    Generic,
    /// `TokenClient.sypht(options)`.
    Sypht,
    /// `TokenClient.symbl(options)`.
    Symbl,
    /// `TokenClient.apiKey(options)`.
    ApiKey,
}

/// A URL as the platform's URL parser sees it (`new URL(s)` in the shell).
#[derive(Clone, Debug, Default)]
pub struct UrlParts {
    /// The scheme with its colon, e.g. `https:`.
    pub protocol: String,
    /// The host name without port; IPv6 hosts keep their brackets (`[::1]`).
    pub hostname: String,
    /// The serialized origin, e.g. `https://api.example.com:8443`.
    pub origin: String,
    /// The whole normalized URL.
    pub href: String,
    /// The path, e.g. `/`.
    pub pathname: String,
    /// Whether the URL has a query string.
    pub has_query: bool,
    /// Whether the URL has a fragment.
    pub has_fragment: bool,
    /// Whether the URL carries a user name or password.
    pub has_credentials: bool,
}

/// Where the token comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A token endpoint.
    Endpoint(Endpoint),
    /// A static API key: no endpoint, never expires.
    ApiKey {
        /// The key.
        key: Secret,
        /// The header to send it in, as is; `None` = `Authorization: Bearer <key>`.
        header: Option<String>,
    },
}

/// A token endpoint and the client's credentials for it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The token endpoint URL (https, or http on a loopback host).
    pub token_url: String,
    /// The client identifier (Symbl: `appId`).
    pub client_id: String,
    /// The client secret (Symbl: `appSecret`); `None` for public clients.
    pub client_secret: Option<Secret>,
    /// How the client authenticates.
    pub client_auth: ClientAuth,
    /// The wire format.
    pub dialect: Dialect,
    /// Space-separated scopes to request.
    pub scope: Option<String>,
    /// The `audience` parameter.
    pub audience: Option<String>,
    /// The RFC 8707 `resource` parameter.
    pub resource: Option<String>,
    /// Extra form parameters, in the caller's order.
    pub extra_params: Vec<(String, String)>,
    /// Sypht: Basic credentials are `id:secret` as is, without form encoding.
    pub basic_raw: bool,
    /// Sypht: also send `client_id` in the body with Basic auth.
    pub client_id_in_body: bool,
    /// The fetch `credentials` mode: `omit` except for a broker that asks for cookies.
    pub credentials: &'static str,
}

/// A validated client configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where tokens come from.
    pub source: Source,
    /// Origins (scheme, host, port) that may receive the token, serialized as `URL.origin`.
    pub allowed_origins: Vec<String>,
    /// Refresh this long before expiry.
    pub refresh_skew_ms: Millis,
    /// Lifetime assumed when the server omits `expires_in`.
    pub default_expires_in_secs: u64,
    /// Per token request.
    pub timeout_ms: Millis,
    /// Retries for network errors, 429 and 5xx.
    pub max_retries: u32,
}

const SYPHT_TOKEN_URL: &str = "https://auth.sypht.com/oauth2/token";
const SYPHT_API: &str = "https://api.sypht.com";
const SYMBL_TOKEN_URL: &str = "https://api.symbl.ai/oauth2/token:generate";
const SYMBL_API: &str = "https://api.symbl.ai";

/// Options every constructor accepts. `fetch` is taken by the shell.
const COMMON: &[&str] = &["allowedOrigins", "fetch"];
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
    "refreshSkewSeconds",
    "defaultExpiresInSeconds",
    "timeoutMs",
    "maxRetries",
];
const API_KEY: &[&str] = &["apiKey", "header"];
const BROKER: &[&str] = &[
    "brokerUrl",
    "credentials",
    "refreshSkewSeconds",
    "defaultExpiresInSeconds",
    "timeoutMs",
    "maxRetries",
];
const SYMBL: &[&str] = &["appId", "appSecret"];
/// Parameters the client sets itself; `extraParams` may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "audience",
    "resource",
];

impl Config {
    /// Validates the caller's options for `preset`.
    ///
    /// `parse_url` is the platform's URL parser (`new URL` in the shell); it returns `None`
    /// for strings that are not absolute URLs.
    pub fn from_options(
        preset: Preset,
        options: &Value,
        parse_url: &dyn Fn(&str) -> Option<UrlParts>,
    ) -> Result<Config, Error> {
        let opts: &[(String, Value)] = match options {
            Value::Object(entries) => entries,
            Value::Null => &[],
            _ => return Err(Error::config("options", "must be an object")),
        };
        let api_key_mode = preset == Preset::ApiKey || get(opts, "apiKey").is_some();
        let broker_mode = !api_key_mode && preset == Preset::Generic && get(opts, "brokerUrl").is_some();
        for (key, value) in opts {
            let k = key.as_str();
            let known = COMMON.contains(&k)
                || if api_key_mode {
                    API_KEY.contains(&k)
                } else if broker_mode {
                    BROKER.contains(&k)
                } else {
                    ENDPOINT.contains(&k) || (preset == Preset::Symbl && SYMBL.contains(&k))
                };
            if !known && !matches!(value, Value::Null) {
                let reason = if api_key_mode && (ENDPOINT.contains(&k) || BROKER.contains(&k)) {
                    "does not apply to an API key client"
                } else if broker_mode && ENDPOINT.contains(&k) {
                    "does not apply to a broker client (the broker holds the credentials)"
                } else if !api_key_mode && API_KEY.contains(&k) {
                    "does not apply to a token endpoint client"
                } else {
                    "is not a known option (check the spelling)"
                };
                return Err(Error::config(k, reason));
            }
        }

        let default_origin = match preset {
            Preset::Sypht => Some(SYPHT_API),
            Preset::Symbl => Some(SYMBL_API),
            _ => None,
        };
        let allowed_origins = match get(opts, "allowedOrigins") {
            Some(v) => origins(v, parse_url)?,
            None => default_origin.map(|o| vec![o.to_owned()]).unwrap_or_default(),
        };

        if api_key_mode {
            let key = required_str(opts, "apiKey")?;
            if !is_header_value(&key) {
                return Err(Error::config(
                    "apiKey",
                    "contains characters not allowed in an HTTP header",
                ));
            }
            let header = optional_str(opts, "header")?;
            if let Some(h) = &header {
                if !is_token(h) {
                    return Err(Error::config("header", "is not a valid HTTP header name"));
                }
            }
            return Ok(Config {
                source: Source::ApiKey {
                    key: Secret::new(key),
                    header,
                },
                allowed_origins,
                refresh_skew_ms: 0,
                default_expires_in_secs: 0,
                timeout_ms: 0,
                max_retries: 0,
            });
        }

        if broker_mode {
            let url = secure_url(&required_str(opts, "brokerUrl")?, "brokerUrl", parse_url)?;
            let credentials = match optional_str(opts, "credentials")?.as_deref() {
                None | Some("omit") => "omit",
                Some("same-origin") => "same-origin",
                Some("include") => "include",
                Some(_) => {
                    return Err(Error::config(
                        "credentials",
                        "must be \"omit\", \"same-origin\" or \"include\"",
                    ))
                }
            };
            let (refresh_skew_ms, default_expires_in_secs, timeout_ms, max_retries) = timing(opts)?;
            return Ok(Config {
                source: Source::Endpoint(Endpoint {
                    token_url: url.href,
                    client_id: String::new(),
                    client_secret: None,
                    client_auth: ClientAuth::None,
                    dialect: Dialect::Broker,
                    scope: None,
                    audience: None,
                    resource: None,
                    extra_params: Vec::new(),
                    basic_raw: false,
                    client_id_in_body: false,
                    credentials,
                }),
                allowed_origins,
                refresh_skew_ms,
                default_expires_in_secs,
                timeout_ms,
                max_retries,
            });
        }

        let dialect = match optional_str(opts, "dialect")?.as_deref() {
            None if preset == Preset::Symbl => Dialect::Symbl,
            None | Some("oauth2") => Dialect::OAuth2,
            Some("symbl") => Dialect::Symbl,
            Some(_) => return Err(Error::config("dialect", "must be \"oauth2\" or \"symbl\"")),
        };

        let token_url_in = match (optional_str(opts, "tokenUrl")?, preset) {
            (Some(u), _) => u,
            (None, Preset::Sypht) => SYPHT_TOKEN_URL.to_owned(),
            (None, Preset::Symbl) => SYMBL_TOKEN_URL.to_owned(),
            (None, _) => return Err(Error::config("tokenUrl", "is required")),
        };
        let token_url = secure_url(&token_url_in, "tokenUrl", parse_url)?;
        if token_url.has_fragment {
            return Err(Error::config("tokenUrl", "must not have a #fragment"));
        }

        // Symbl's preset names its credentials appId/appSecret; clientId/clientSecret work too.
        let has = |k: &str| get(opts, k).is_some();
        let app_names = has("appId") || has("appSecret");
        if app_names && (has("clientId") || has("clientSecret")) {
            return Err(Error::config(
                "appId",
                "give appId/appSecret or clientId/clientSecret, not both",
            ));
        }
        let (id_field, secret_field) =
            if app_names || (preset == Preset::Symbl && !has("clientId") && !has("clientSecret")) {
                ("appId", "appSecret")
            } else {
                ("clientId", "clientSecret")
            };
        let client_id = required_str(opts, id_field)?;
        let client_secret = optional_str(opts, secret_field)?;

        let client_auth = match optional_str(opts, "clientAuth")?.as_deref() {
            None | Some("client_secret_basic") => ClientAuth::Basic,
            Some("client_secret_post") => ClientAuth::Post,
            Some("none") => ClientAuth::None,
            Some(_) => {
                return Err(Error::config(
                    "clientAuth",
                    "must be \"client_secret_basic\", \"client_secret_post\" or \"none\"",
                ))
            }
        };
        match (&client_secret, client_auth, dialect) {
            (None, ClientAuth::None, Dialect::OAuth2) => {}
            (None, _, _) => return Err(Error::config(secret_field, "is required")),
            (Some(_), ClientAuth::None, _) => {
                return Err(Error::config(
                    secret_field,
                    "must not be given with clientAuth \"none\"",
                ))
            }
            (Some(s), _, _) if s.is_empty() => {
                return Err(Error::config(secret_field, "must not be empty"))
            }
            _ => {}
        }

        let scope = match get(opts, "scope") {
            None => None,
            Some(v) => Some(scope(v)?),
        };
        let audience = optional_str(opts, "audience")?.or_else(|| {
            (preset == Preset::Sypht).then(|| SYPHT_API.to_owned())
        });
        let resource = match optional_str(opts, "resource")? {
            None => None,
            Some(r) => match parse_url(&r) {
                Some(u) if !u.has_fragment => Some(u.href),
                _ => {
                    return Err(Error::config(
                        "resource",
                        "must be an absolute URL without a #fragment (RFC 8707)",
                    ))
                }
            },
        };
        let extra_params = match get(opts, "extraParams") {
            None => Vec::new(),
            Some(v) => extra_params(v)?,
        };
        if dialect == Dialect::Symbl {
            for field in ["clientAuth", "scope", "audience", "resource", "extraParams"] {
                if get(opts, field).is_some() {
                    return Err(Error::config(field, "is not used by the symbl dialect"));
                }
            }
        }
        let basic_raw = preset == Preset::Sypht;
        if basic_raw && client_auth == ClientAuth::Basic && client_id.contains(':') {
            return Err(Error::config(
                id_field,
                "must not contain ':' (Sypht sends id:secret without encoding)",
            ));
        }

        let (refresh_skew_ms, default_expires_in_secs, timeout_ms, max_retries) = timing(opts)?;

        Ok(Config {
            source: Source::Endpoint(Endpoint {
                token_url: token_url.href,
                client_id,
                client_secret: client_secret.map(Secret::new),
                client_auth,
                dialect,
                scope,
                audience,
                resource,
                extra_params,
                basic_raw,
                client_id_in_body: preset == Preset::Sypht,
                credentials: "omit",
            }),
            allowed_origins,
            refresh_skew_ms,
            default_expires_in_secs,
            timeout_ms,
            max_retries,
        })
    }

    /// Whether a token may be sent to `origin` (a serialized `URL.origin`).
    ///
    /// # Security
    /// Exact comparison of serialized origins: scheme, host and port must all match.
    /// Opaque origins (`"null"`) never match.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        origin != "null" && self.allowed_origins.iter().any(|o| o == origin)
    }
}

impl Config {
    /// The header that carries `token` to an API: `Authorization: <type> <token>`, or an API
    /// key's own header with the key as is.
    pub fn authorization(&self, token: &TokenSet) -> (&str, String) {
        if let Source::ApiKey {
            header: Some(h), ..
        } = &self.source
        {
            return (h, token.access_token.expose().to_owned());
        }
        let mut v = String::with_capacity(token.token_type.len() + 1 + token.access_token.expose().len());
        v.push_str(&token.token_type);
        v.push(' ');
        v.push_str(token.access_token.expose());
        ("Authorization", v)
    }

    /// The name of the header [`Config::authorization`] sets.
    pub fn header_name(&self) -> &str {
        match &self.source {
            Source::ApiKey {
                header: Some(h), ..
            } => h,
            _ => "Authorization",
        }
    }

    /// For API key clients: the key as a token that never expires.
    pub fn static_token(&self) -> Option<TokenSet> {
        match &self.source {
            Source::ApiKey { key, .. } => Some(TokenSet {
                access_token: key.clone(),
                token_type: "Bearer".to_owned(),
                expires_at: NEVER,
                refresh_at: NEVER,
                scope: None,
                id: 0,
            }),
            Source::Endpoint(_) => None,
        }
    }
}

/// Whether `host` (a `URL.hostname`) is a loopback host: `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    let mut parts = host.split('.');
    parts.next() == Some("127")
        && parts.clone().count() == 3
        && parts.all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn secure_url(
    s: &str,
    field: &str,
    parse_url: &dyn Fn(&str) -> Option<UrlParts>,
) -> Result<UrlParts, Error> {
    let u = parse_url(s).ok_or_else(|| Error::config(field, "is not an absolute URL"))?;
    match u.protocol.as_str() {
        "https:" => {}
        "http:" if is_loopback(&u.hostname) => {}
        "http:" => {
            return Err(Error::config(
                field,
                "must use https (plain http is allowed only for localhost, 127.0.0.0/8 and [::1])",
            ))
        }
        _ => return Err(Error::config(field, "must be an https URL")),
    }
    if u.has_credentials {
        return Err(Error::config(field, "must not contain a user name or password"));
    }
    Ok(u)
}

fn origins(
    v: &Value,
    parse_url: &dyn Fn(&str) -> Option<UrlParts>,
) -> Result<Vec<String>, Error> {
    let items: &[Value] = match v {
        Value::List(items) => items,
        Value::Str(_) => core::slice::from_ref(v),
        _ => return Err(Error::config("allowedOrigins", "must be an array of origins")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = indexed("allowedOrigins", i);
        let Value::Str(s) = item else {
            return Err(Error::config(field, "must be a string"));
        };
        let u = secure_url(s, &field, parse_url)?;
        if u.pathname != "/" || u.has_query || u.has_fragment {
            return Err(Error::config(
                field,
                "must be an origin only (scheme://host[:port]) with no path, query or fragment",
            ));
        }
        out.push(u.origin);
    }
    Ok(out)
}

fn scope(v: &Value) -> Result<String, Error> {
    let mut out = String::new();
    let mut push = |token: &str, field: &str| -> Result<(), Error> {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if !token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        {
            return Err(Error::config(
                field,
                "contains a character not allowed in a scope (RFC 6749 §3.3)",
            ));
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
            return Err(Error::config(
                field,
                "is set by tokenkit itself (use the matching option instead)",
            ));
        }
        match v {
            Value::Str(s) => out.push((k.clone(), s.clone())),
            Value::Null => {}
            _ => return Err(Error::config(field, "must be a string")),
        }
    }
    Ok(out)
}

/// `refreshSkewSeconds`, `defaultExpiresInSeconds`, `timeoutMs` and `maxRetries`.
fn timing(opts: &[(String, Value)]) -> Result<(Millis, u64, Millis, u32), Error> {
    let refresh_skew_ms = seconds_ms(opts, "refreshSkewSeconds", 60)?;
    let default_expires_in_secs = seconds_ms(opts, "defaultExpiresInSeconds", 3600)?.div_ceil(1000);
    let timeout_ms = number(opts, "timeoutMs", 10_000.0, 1.0, i32::MAX as f64)? as Millis;
    let max_retries = number(opts, "maxRetries", 2.0, 0.0, 10.0)?;
    if max_retries != f64::from(max_retries as u32) {
        return Err(Error::config("maxRetries", "must be a whole number"));
    }
    Ok((refresh_skew_ms, default_expires_in_secs, timeout_ms, max_retries as u32))
}

fn indexed(name: &str, i: usize) -> String {
    let mut s = String::from(name);
    s.push('[');
    super::encode::push_u64(&mut s, i as u64);
    s.push(']');
    s
}

fn optional_str(opts: &[(String, Value)], key: &str) -> Result<Option<String>, Error> {
    match get(opts, key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::config(key, "must be a string")),
    }
}

fn required_str(opts: &[(String, Value)], key: &str) -> Result<String, Error> {
    match optional_str(opts, key)? {
        None => Err(Error::config(key, "is required")),
        Some(s) if s.is_empty() => Err(Error::config(key, "must not be empty")),
        Some(s) => Ok(s),
    }
}

fn number(opts: &[(String, Value)], key: &str, default: f64, min: f64, max: f64) -> Result<f64, Error> {
    match get(opts, key) {
        None => Ok(default),
        Some(Value::Num(n)) if !n.is_finite() => Err(Error::config(key, "must be a finite number")),
        Some(Value::Num(n)) if *n < 0.0 => Err(Error::config(key, "must not be negative")),
        Some(Value::Num(n)) if *n < min => Err(Error::config(key, "is too small")),
        Some(Value::Num(n)) if *n > max => Err(Error::config(key, "is too large")),
        Some(Value::Num(n)) => Ok(*n),
        Some(_) => Err(Error::config(key, "must be a number")),
    }
}

fn seconds_ms(opts: &[(String, Value)], key: &str, default_secs: u64) -> Result<Millis, Error> {
    let secs = number(opts, key, default_secs as f64, 0.0, MAX_EXPIRES_IN_SECS as f64)?;
    Ok((secs * 1000.0 + 0.5) as Millis) // secs >= 0: rounds to the nearest ms
}

/// Whether `s` is an RFC 9110 token (header names, auth schemes).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// Whether `s` can be sent in a header value as is: visible ASCII and inner spaces only,
/// so it can never smuggle a CR/LF or be altered by the platform's header normalisation.
pub fn is_header_value(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}
