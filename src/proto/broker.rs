//! The edge token broker's decisions, sans-IO: configuration from the Worker's env, CORS,
//! routing, proxy target validation, header filtering, rate limiting and error mapping.
//!
//! The broker holds the client secret and hands browsers a short-lived token (`POST /token`)
//! or proxies their API calls with the token attached (`/proxy/<path>`): the token handler
//! (backend-for-frontend) pattern. See <https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps>.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::collections::BTreeMap;

use super::config::{parse_origin, ParseUrl, Preset};
use super::encode::{is_printable, parse_decimal, push_json_str, push_u64};
use super::error::Error;
use super::response::TokenSet;
use super::secret::Secret;
use super::time::{Instant, Secs};
use super::value::Value;
use super::Config;

/// Which object of a deployment a configuration is for. Each role reads only the env
/// variables its job needs ([`Role::reads`]), so a variable added for one (a gate, a
/// limit) can never reach another: the Durable Objects are reached only through their
/// bindings' stubs by this deployment's own isolates, and have no gate of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The Worker's fetch handler: routes, CORS, gates, rate limit, proxy, sign-in's front.
    Edge,
    /// The `TokenCache` Durable Object: the upstream client and `POST /token`, nothing else.
    TokenCache,
    /// The `UserSession` Durable Object: the sign-in client and the session's lifetime.
    Session,
}

/// The variables of the upstream client, which every role reads.
const UPSTREAM_VARS: &[&str] = &["TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET", "CLIENT_AUTH", "SCOPE", "AUDIENCE", "RESOURCE", "DIALECT"];

impl Role {
    /// Whether this role reads env variable `var`.
    pub fn reads(self, var: &str) -> bool {
        match self {
            Role::Edge => true,
            Role::TokenCache => UPSTREAM_VARS.contains(&var),
            #[cfg(feature = "signin")]
            Role::Session => {
                UPSTREAM_VARS.contains(&var) || var == "SESSION_TTL" || super::bff::SIGNIN_ENV.iter().any(|(v, _)| *v == var)
            }
            #[cfg(not(feature = "signin"))]
            Role::Session => false,
        }
    }
}

/// The broker's configuration.
#[derive(Debug)]
pub struct BrokerConfig {
    /// Which object this configuration is for.
    pub role: Role,
    /// The upstream token endpoint client (its `allowedOrigins` is `[PROXY_ORIGIN]`).
    pub upstream: Config,
    /// Browser origins allowed to call the broker (exact match).
    pub allowed_origins: Vec<String>,
    /// The API origin `/proxy/` forwards to.
    pub proxy_origin: Option<String>,
    /// `PROXY_ROUTES`: which methods may reach which paths through `/proxy/` (empty: any
    /// method but `OPTIONS`, `CONNECT` and `TRACE`, to any path).
    pub proxy_routes: Vec<ProxyRoute>,
    /// Keys every caller must send as `X-Broker-Key` (an `Origin` header, which anyone can
    /// set, never stands in for one); empty = not required.
    pub broker_keys: Vec<Secret>,
    /// Whether allowed origins may call with credentials (cookies): CORS answers carry
    /// `Access-Control-Allow-Credentials: true` (`ALLOW_CREDENTIALS=true`).
    pub allow_credentials: bool,
    /// Requests per minute per client in this isolate's own buckets (`RATE_LIMIT`); 0
    /// disables them. With a `RATE_LIMITER` binding they decide only when the binding fails.
    pub rate_per_minute: u32,
    /// Cloudflare Access in front (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`): every request but
    /// `/healthz` and preflights must carry a valid `Cf-Access-Jwt-Assertion`.
    pub access: Option<super::gate::Access>,
    /// Turnstile for browser callers (`TURNSTILE_SECRET`).
    pub turnstile: Option<super::gate::Turnstile>,
    /// Signing users in through the broker (`AUTHORIZE_URL` set): the session settings and
    /// the user-session client (authorization code grant, the broker's token endpoint and
    /// credentials). See [`super::bff`].
    #[cfg(feature = "signin")]
    pub signin: Option<(super::bff::SignIn, Config)>,
}

/// Env variables and the client option each one sets.
const ENV: &[(&str, &str)] = &[
    ("TOKEN_URL", "tokenUrl"),
    ("CLIENT_ID", "clientId"),
    ("CLIENT_SECRET", "clientSecret"),
    ("CLIENT_AUTH", "clientAuth"),
    ("SCOPE", "scope"),
    ("AUDIENCE", "audience"),
    ("RESOURCE", "resource"),
    ("DIALECT", "dialect"),
];

/// A configuration problem: the variable's name and what is wrong (never its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvError {
    /// The env variable, e.g. `TOKEN_URL`.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl BrokerConfig {
    /// Reads the configuration of `role` through `get` (the Worker's `env`: vars and
    /// secrets). Variables the role does not read are never asked for.
    pub fn from_env(role: Role, get: &dyn Fn(&str) -> Option<String>, parse_url: ParseUrl<'_>) -> Result<BrokerConfig, EnvError> {
        let get = |k: &str| get(k).filter(|_| role.reads(k)).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let list = |k: &str| -> Vec<String> {
            get(k)
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let origin = |var: &'static str, s: &str| parse_origin(s, parse_url).map_err(|reason| EnvError { var, reason });
        let proxy_origin = get("PROXY_ORIGIN").map(|p| origin("PROXY_ORIGIN", &p)).transpose()?;
        let mut opts: Vec<(String, Value)> = ENV
            .iter()
            .filter_map(|(var, opt)| get(var).map(|v| ((*opt).to_owned(), Value::Str(v))))
            .collect();
        if let Some(p) = &proxy_origin {
            opts.push(("allowedOrigins".to_owned(), Value::List(vec![Value::Str(p.clone())])));
        }
        let upstream = Config::from_options(Preset::Generic, &Value::Object(opts), parse_url)
            .map_err(|e| match e {
                Error::InvalidConfig { field, reason } => EnvError {
                    var: ENV
                        .iter()
                        .find(|(_, opt)| field.starts_with(opt))
                        .map_or("PROXY_ORIGIN", |(var, _)| var),
                    reason,
                },
                _ => EnvError { var: "TOKEN_URL", reason: "is invalid" },
            })?;
        let allowed_origins = list("ALLOWED_ORIGINS")
            .iter()
            .map(|o| origin("ALLOWED_ORIGINS", o))
            .collect::<Result<_, _>>()?;
        let broker_keys = list("BROKER_KEYS").into_iter().map(Secret::new).collect();
        let rate_per_minute = match get("RATE_LIMIT") {
            None if role != Role::Edge => 0,
            None => 600,
            Some(v) if parse_decimal(&v, 9).is_some() => parse_decimal(&v, 9).unwrap_or(0) as u32,
            Some(_) => {
                return Err(EnvError {
                    var: "RATE_LIMIT",
                    reason: "must be a whole number of requests per minute (0 = no limit)",
                })
            }
        };
        #[cfg(feature = "signin")]
        let signin = match get("AUTHORIZE_URL") {
            None => None,
            Some(_) => {
                use super::bff::{SignIn, DEFAULT_SCOPE, SIGNIN_ENV};
                let session = SignIn::from_env(&get, role == Role::Edge)?;
                let mut opts: Vec<(String, Value)> = ENV
                    .iter()
                    .filter(|(var, _)| !matches!(*var, "SCOPE" | "DIALECT"))
                    .chain(SIGNIN_ENV)
                    .filter_map(|(var, opt)| get(var).map(|v| ((*opt).to_owned(), Value::Str(v))))
                    .collect();
                if get("SIGNIN_SCOPE").is_none() {
                    opts.push(("scope".to_owned(), Value::Str(DEFAULT_SCOPE.to_owned())));
                }
                opts.push(("grant".to_owned(), Value::Str("authorization_code".to_owned())));
                if let Some(p) = &proxy_origin {
                    opts.push(("allowedOrigins".to_owned(), Value::List(vec![Value::Str(p.clone())])));
                }
                let client = Config::from_options(Preset::Generic, &Value::Object(opts), parse_url).map_err(|e| match e {
                    Error::InvalidConfig { field, reason } => EnvError {
                        var: SIGNIN_ENV
                            .iter()
                            .chain(ENV)
                            .find(|(_, opt)| field.starts_with(opt))
                            .map_or("AUTHORIZE_URL", |(var, _)| var),
                        reason,
                    },
                    _ => EnvError { var: "AUTHORIZE_URL", reason: "is invalid" },
                })?;
                Some((session, client))
            }
        };
        let allow_credentials = match get("ALLOW_CREDENTIALS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(EnvError { var: "ALLOW_CREDENTIALS", reason: "must be true or false" }),
        };
        let access = super::gate::access_from_env(&get, parse_url)?;
        let turnstile = super::gate::turnstile_from_env(&get, parse_url)?;
        let proxy_routes = get("PROXY_ROUTES").map(|v| proxy_routes(&v)).transpose()?.unwrap_or_default();
        Ok(BrokerConfig {
            role,
            proxy_routes,
            upstream,
            access,
            turnstile,
            allowed_origins,
            proxy_origin,
            broker_keys,
            allow_credentials,
            rate_per_minute,
            #[cfg(feature = "signin")]
            signin,
        })
    }

    /// Names the credential set (token endpoint, client, scope, audience, resource: never the
    /// secret): the Durable Object that holds the deployment's token for it.
    pub fn credential_set(&self) -> String {
        let mut name = String::new();
        if let super::config::Source::Endpoint(ep) = &self.upstream.source {
            for part in [Some(&ep.token_url), Some(&ep.client_id), ep.scope.as_ref(), ep.audience.as_ref(), ep.resource.as_ref()] {
                name.push_str(part.map_or("", |s| s.as_str()));
                name.push('\n');
            }
        }
        name
    }

    /// The client an isolate uses to get the deployment's token from its Durable Object:
    /// the broker contract (an empty POST answered with the token and its remaining life),
    /// the same as a browser's `TokenClient({ brokerUrl })`, sent to the object's stub.
    pub fn shared_cache_config(&self, parse_url: ParseUrl<'_>) -> Result<Config, Error> {
        let mut opts = vec![("brokerUrl".to_owned(), Value::Str(TOKEN_CACHE_URL.to_owned()))];
        if let Some(p) = &self.proxy_origin {
            opts.push(("allowedOrigins".to_owned(), Value::List(vec![Value::Str(p.clone())])));
        }
        Config::from_options(Preset::Generic, &Value::Object(opts), parse_url)
    }

    /// Whether `key` (from `X-Broker-Key`) is one of the configured keys. Compares every
    /// byte of every key, so timing does not reveal how much of a key matched.
    pub fn key_ok(&self, key: Option<&str>) -> bool {
        let Some(key) = key else { return false };
        self.broker_keys.iter().fold(false, |ok, k| ok | super::encode::ct_eq(k.expose(), key))
    }
}

/// Where an isolate's requests to the `TokenCache` object go (its stub ignores the host).
pub const TOKEN_CACHE_URL: &str = "https://token-cache.tokenkit.invalid/token";

/// The header every `/proxy/`, `/session` and `/logout` request must carry, with value
/// `1`: the CSRF defence of RFC 10017 §6.1.3.3. A page on another site cannot send a
/// custom header without a CORS preflight that the broker refuses; a navigation, a form,
/// an `<img>` or an `<iframe>` cannot send one at all.
pub const CSRF_HEADER: &str = "Tokenkit-Request";

/// One `PROXY_ROUTES` entry: the methods allowed under a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRoute {
    /// Upper-case method names.
    pub methods: Vec<String>,
    /// The API path, from `/`: ending in `/`, it covers every path below it; otherwise
    /// that one path only.
    pub path: String,
}

impl ProxyRoute {
    fn covers(&self, path: &str) -> bool {
        if self.path.ends_with('/') {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

/// Methods the proxy never forwards: `OPTIONS` is the broker's own preflight; `CONNECT`
/// and `TRACE` have no business at an API.
const NEVER_PROXIED: &[&str] = &["OPTIONS", "CONNECT", "TRACE"];

/// Parses `PROXY_ROUTES`: comma-separated entries of methods then a path, e.g.
/// `GET /me, GET POST /items/`.
pub fn proxy_routes(v: &str) -> Result<Vec<ProxyRoute>, EnvError> {
    let bad = |reason| EnvError { var: "PROXY_ROUTES", reason };
    let mut out = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut words: Vec<&str> = entry.split_ascii_whitespace().collect();
        let path = words.pop().filter(|p| p.starts_with('/')).ok_or(bad("each entry is methods then a path from /, e.g. GET POST /items/"))?;
        if words.is_empty() {
            return Err(bad("each entry names at least one method, e.g. GET /me"));
        }
        if proxy_target("https://x", path.get(1..).unwrap_or(""), "").is_err() || path.contains("//") {
            return Err(bad("a path may not hold dot segments, empty segments, ?, # or encoded slashes"));
        }
        let mut methods = Vec::new();
        for m in words {
            let m = m.to_ascii_uppercase();
            if !m.bytes().all(|b| b.is_ascii_uppercase()) || NEVER_PROXIED.contains(&m.as_str()) {
                return Err(bad("methods are HTTP method names (not OPTIONS, CONNECT or TRACE)"));
            }
            methods.push(m);
        }
        out.push(ProxyRoute { methods, path: path.to_owned() });
    }
    if out.is_empty() {
        return Err(bad("must name at least one route when set"));
    }
    Ok(out)
}

/// Where a request goes, once the broker has decided it may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /token`.
    Token,
    /// `/proxy/<path>`: the full target URL on `PROXY_ORIGIN`.
    Proxy(String),
    /// `GET /healthz`.
    Health,
    /// `GET /login`: start signing a user in (sign-in mode).
    Login,
    /// `GET /callback`: the authorization server's redirect back (sign-in mode).
    Callback,
    /// `POST /logout`: revoke and forget the session (sign-in mode).
    Logout,
    /// `GET /session`: whether this browser's session is signed in (sign-in mode).
    Session,
}

/// A response the broker sends without going anywhere.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (CORS, `Allow`, `Retry-After`...).
    pub headers: Vec<(&'static str, String)>,
    /// A JSON body, or empty for 204.
    pub body: String,
}

impl Reply {
    /// A JSON error: `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        let mut body = String::from("{\"error\":");
        push_json_str(&mut body, code);
        body.push_str(",\"message\":");
        push_json_str(&mut body, message);
        body.push('}');
        Reply { status, headers: Vec::new(), body }
    }

    /// The reply with one more header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// The answer to a configuration error: 500 naming the variable, never its value.
pub fn config_error_reply(e: &EnvError) -> Reply {
    let mut m = String::from(e.var);
    m.push_str(": ");
    m.push_str(e.reason);
    Reply::error(500, "broker_misconfigured", &m)
}

/// The request as the broker sees it.
pub struct Incoming<'a> {
    /// The method, upper case.
    pub method: &'a str,
    /// The path exactly as received (percent-encoding intact).
    pub path: &'a str,
    /// The query without `?`, possibly empty.
    pub query: &'a str,
    /// The `Origin` header (browsers send it on cross-origin and POST requests).
    pub origin: Option<&'a str>,
    /// The `X-Broker-Key` header.
    pub broker_key: Option<&'a str>,
    /// `Access-Control-Request-Headers` of a preflight.
    pub request_headers: Option<&'a str>,
    /// The [`CSRF_HEADER`] header.
    pub csrf: Option<&'a str>,
}

impl BrokerConfig {
    /// CORS headers for a response to `origin` (empty for non-browser callers). `Retry-After`
    /// is exposed: without it a browser client cannot read the wait the broker asks for (a
    /// rate limit passed on from upstream, or the broker's own) and would ask again sooner.
    pub fn cors_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut h = vec![("Vary", "Origin".to_owned())];
        if let Some(o) = origin.filter(|o| self.allowed_origins.iter().any(|a| a == o)) {
            h.push(("Access-Control-Allow-Origin", o.to_owned()));
            h.push(("Access-Control-Expose-Headers", "Retry-After".to_owned()));
            if self.allow_credentials {
                h.push(("Access-Control-Allow-Credentials", "true".to_owned()));
            }
        }
        h
    }

    /// Whether the broker signs users in (`AUTHORIZE_URL`): `/proxy/` then acts for the
    /// session's user, and `/token` is not served (tokens stay in the broker).
    pub fn signs_in(&self) -> bool {
        #[cfg(feature = "signin")]
        return self.signin.is_some();
        #[cfg(not(feature = "signin"))]
        false
    }

    /// Decides what to do with a request: a [`Route`] to serve, or a [`Reply`] to send now.
    /// CORS headers are added by the caller to every response ([`BrokerConfig::cors_headers`]).
    pub fn route(&self, req: &Incoming<'_>) -> Result<Route, Reply> {
        if self.role == Role::TokenCache {
            // The object answers only its isolates' token requests.
            return match (req.path, req.method) {
                ("/token", "POST") => Ok(Route::Token),
                _ => Err(Reply::error(404, "not_found", "the token cache answers POST /token only")),
            };
        }
        let browser_ok = match req.origin {
            None => None,
            Some(o) if self.allowed_origins.iter().any(|a| a == o) => Some(true),
            Some(_) => Some(false),
        };
        if browser_ok == Some(false) {
            return Err(Reply::error(403, "origin_not_allowed", "this origin may not use the broker"));
        }
        let signs_in = self.signs_in();
        let proxy_methods;
        let (route, allow) = if req.path == "/healthz" {
            (Some(Route::Health), "GET, HEAD")
        } else if signs_in && req.path == "/token" {
            return Err(Reply::error(404, "not_found", "in sign-in mode tokens stay in the broker: call the API through /proxy/"));
        } else if signs_in && matches!(req.path, "/login" | "/callback") {
            (Some(if req.path == "/login" { Route::Login } else { Route::Callback }), "GET")
        } else if signs_in && req.path == "/session" {
            (Some(Route::Session), "GET, OPTIONS")
        } else if signs_in && req.path == "/logout" {
            (Some(Route::Logout), "POST, OPTIONS")
        } else if req.path == "/token" {
            (Some(Route::Token), "POST, OPTIONS")
        } else if let Some(rest) = req.path.strip_prefix("/proxy/") {
            let Some(origin) = &self.proxy_origin else {
                return Err(Reply::error(404, "not_found", "no PROXY_ORIGIN is configured"));
            };
            let url = proxy_target(origin, rest, req.query).map_err(|why| Reply::error(400, "bad_proxy_path", why))?;
            proxy_methods = self.proxy_methods(req.path.get("/proxy".len()..).unwrap_or("/"))?;
            (Some(Route::Proxy(url)), &*proxy_methods)
        } else {
            (None, "")
        };
        let Some(route) = route else {
            return Err(Reply::error(404, "not_found", "unknown path"));
        };
        let method_ok = match (&route, req.method) {
            (Route::Health, "GET" | "HEAD") => true,
            (Route::Token | Route::Logout, "POST") => true,
            (Route::Login | Route::Callback | Route::Session, "GET") => true,
            (Route::Proxy(_), m) => m != "OPTIONS" && allow.split(", ").any(|a| a == m),
            _ => false,
        };
        if req.method == "OPTIONS" && matches!(route, Route::Token | Route::Proxy(_) | Route::Logout | Route::Session) {
            if browser_ok != Some(true) {
                return Err(Reply::error(403, "origin_not_allowed", "preflight needs an allowed Origin"));
            }
            let mut r = Reply { status: 204, headers: Vec::new(), body: String::new() }
                .with("Access-Control-Allow-Methods", allow)
                .with("Access-Control-Max-Age", "600");
            if let Some(h) = req.request_headers.filter(|h| is_printable(h)) {
                r = r.with("Access-Control-Allow-Headers", h);
            }
            return Err(r);
        }
        if !method_ok {
            return Err(Reply::error(405, "method_not_allowed", "method not allowed").with("Allow", allow));
        }
        // Every caller, browser or not: an Origin header is no credential (anyone can send
        // one). A preflight (above) cannot carry the key and needs none.
        // Sign-in routes are browser navigations, which cannot send a header: the session
        // cookie is their credential.
        let keyed = matches!(route, Route::Token | Route::Proxy(_));
        if keyed && !self.broker_keys.is_empty() && !self.key_ok(req.broker_key) {
            return Err(Reply::error(401, "broker_key_required", "send a valid X-Broker-Key"));
        }
        // The session's own routes and every proxied call act on the user's (or the
        // broker's) behalf: only a request that could send a custom header, which another
        // site cannot without the preflight above, gets that far (RFC 10017 §6.1.3.3).
        if matches!(route, Route::Proxy(_) | Route::Session | Route::Logout) && req.csrf != Some("1") {
            return Err(Reply::error(403, "csrf_header_required", "send the header Tokenkit-Request: 1"));
        }
        Ok(route)
    }

    /// The methods `PROXY_ROUTES` allows at API path `path` (`Allow` syntax), or the 404
    /// when no route covers it. Without `PROXY_ROUTES`, a constant (nothing allocated).
    fn proxy_methods(&self, path: &str) -> Result<alloc::borrow::Cow<'static, str>, Reply> {
        if self.proxy_routes.is_empty() {
            return Ok("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".into());
        }
        let mut allow: Vec<&str> = Vec::new();
        for m in self.proxy_routes.iter().filter(|r| r.covers(path)).flat_map(|r| &r.methods) {
            if !allow.contains(&m.as_str()) {
                allow.push(m);
            }
        }
        if allow.is_empty() {
            return Err(Reply::error(404, "not_found", "no PROXY_ROUTES entry covers this path"));
        }
        allow.push("OPTIONS");
        Ok(allow.join(", ").into())
    }
}

/// The URL on `origin` that `/proxy/<rest>?<query>` forwards to.
///
/// # Security
/// The target is always `origin`: `..` and `.` segments (also percent-encoded), encoded
/// slashes and backslashes, empty segments (`//host`), backslashes and scheme-like first
/// segments (absolute URLs), and `?`/`#` inside the path are rejected, so the broker cannot
/// be aimed at another host or at a path the API would resolve differently.
pub fn proxy_target(origin: &str, rest: &str, query: &str) -> Result<String, &'static str> {
    let lower = rest.to_ascii_lowercase();
    // The query comes separately: a `?` or `#` in the path would end it early, so that
    // `..?x` passed the dot-segment check and then resolved as `/..` (found by fuzzing;
    // a request path never holds one, but this function must not rely on that).
    if rest.bytes().any(|b| b == b'?' || b == b'#') {
        return Err("query and fragment markers are not allowed in the proxy path");
    }
    if rest.contains('\\') || lower.contains("%5c") || lower.contains("%2f") {
        return Err("encoded slashes and backslashes are not allowed in the proxy path");
    }
    if rest.starts_with('/') || rest.contains("//") {
        return Err("empty path segments (//) are not allowed in the proxy path");
    }
    for (i, seg) in lower.split('/').enumerate() {
        let dots = seg.replace("%2e", ".");
        if dots == "." || dots == ".." {
            return Err("dot segments are not allowed in the proxy path");
        }
        if i == 0 && seg.contains(':') {
            return Err("absolute URLs are not allowed in the proxy path");
        }
    }
    if rest.bytes().any(|b| b < 0x21 || b == 0x7f) || query.bytes().any(|b| b < 0x21 || b == 0x7f) {
        return Err("control characters are not allowed in the proxy path");
    }
    let mut url = String::from(origin);
    url.push('/');
    url.push_str(rest);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// Whether a caller's request header may be forwarded to the API. The caller's credentials
/// (`Authorization`, `Cookie`, `X-Broker-Key`), `Host` and hop-by-hop headers (RFC 9110
/// §7.6.1, including those named in `Connection`) are stripped.
pub fn forward_header(name: &str, connection: &str) -> bool {
    const STRIP: &[&str] = &[
        "authorization",
        "cookie",
        "host",
        "x-broker-key",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "cf-connecting-ip",
        "x-forwarded-for",
    ];
    let n = name.to_ascii_lowercase();
    !STRIP.contains(&n.as_str()) && !connection.split(',').any(|t| t.trim().eq_ignore_ascii_case(&n))
}

/// `200 {"access_token","token_type","expires_in"}` with the token's remaining lifetime.
pub fn token_reply(t: &TokenSet, now: Instant) -> Reply {
    let mut body = String::from("{\"access_token\":");
    push_json_str(&mut body, t.access_token.expose());
    body.push_str(",\"token_type\":\"Bearer\",\"expires_in\":");
    push_u64(&mut body, now.until(t.expires_at).0 / 1000);
    body.push('}');
    Reply { status: 200, headers: vec![("Cache-Control", "no-store".to_owned())], body }
}

/// Which token cache serves an isolate: the deployment's Durable Object, or its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    /// `TOKEN_CACHE` bound: one token per deployment.
    DurableObject,
    /// This isolate's own.
    Isolate,
}

/// `GET /healthz`: which token cache and which rate limit serve. With a `RATE_LIMITER`
/// binding its own limit applies and `RATE_LIMIT` sets only the isolate's buckets that
/// decide when the binding fails: the body names both, so `RATE_LIMIT=5` beside a binding
/// of 600 a minute is never silently taken for the limit.
pub fn health_reply(cache: CacheKind, binding: bool, per_minute: u32) -> Reply {
    let mut body = String::from(match cache {
        CacheKind::DurableObject => "{\"ok\":true,\"cache\":\"durable-object\"",
        CacheKind::Isolate => "{\"ok\":true,\"cache\":\"isolate\"",
    });
    body.push_str(match (binding, per_minute) {
        (true, _) => ",\"rateLimit\":\"binding\",\"fallbackPerMinute\":",
        (false, 0) => ",\"rateLimit\":\"off\"",
        (false, _) => ",\"rateLimit\":\"isolate\",\"perMinute\":",
    });
    if binding || per_minute > 0 {
        push_u64(&mut body, u64::from(per_minute));
    }
    body.push('}');
    Reply { status: 200, headers: Vec::new(), body }
}

/// `429` with the wait a rate limit asks for.
pub fn rate_limited_reply(wait: Secs) -> Reply {
    let mut v = String::new();
    push_u64(&mut v, wait.0);
    Reply::error(429, "rate_limited", "too many requests; retry later").with("Retry-After", v)
}

/// Whether an isolate asks upstream itself when the deployment's `TokenCache` object did
/// not give it a token: when the object could not be reached or did not answer as the
/// contract says (the isolate's own request may well work), but not when upstream refused
/// (the object passed on an OAuth error: asking again would be refused the same way).
pub fn cache_failed(e: &Error) -> bool {
    matches!(e, Error::Network | Error::Timeout { .. } | Error::Http { .. } | Error::InvalidResponse { .. })
}

/// Response headers of the API that never reach the browser through `/proxy/`: a cookie
/// the API sets would land on the broker's origin, beside the session cookie.
pub const DROPPED_RESPONSE_HEADERS: &str = "set-cookie";

/// The `Retry-After` of a refusal by the Rate Limiting binding, which says only yes or no:
/// its shortest period (10 s), so no caller waits longer than a window can take to reset.
pub const BINDING_RETRY_AFTER: Secs = Secs(10);

/// Whether a request from `client` may go on: `binding` is what Cloudflare's Rate Limiting
/// binding answered (shared by the location's isolates; `None` without one, or when it
/// failed), else the isolate's own buckets decide. `Err` carries the `Retry-After`.
pub fn rate_verdict(
    binding: Option<bool>,
    limiter: &mut RateLimiter,
    client: &str,
    per_minute: u32,
    now: Instant,
) -> Result<(), Secs> {
    match binding {
        Some(true) => Ok(()),
        Some(false) => Err(BINDING_RETRY_AFTER),
        None => limiter.check(client, per_minute, now),
    }
}

/// At most this many clients have a bucket of their own per minute; more share one.
pub const RATE_CLIENTS: usize = 4096;

/// A token bucket per client (by `CF-Connecting-IP`, IPv6 by its /64), kept in the isolate's
/// memory. Bounded and cheap per request whatever the traffic: buckets live in two
/// generations of a minute each (a bucket idle for a minute is full again, so dropping it
/// changes nothing), each of at most [`RATE_CLIENTS`] entries; clients beyond that share
/// one overflow bucket, so rotating addresses (an IPv6 host has 2^64) buys no more requests.
#[derive(Debug, Default)]
pub struct RateLimiter {
    current: BTreeMap<String, (f64, Instant)>,
    previous: BTreeMap<String, (f64, Instant)>,
    since: Instant,
    overflow: Option<(f64, Instant)>,
}

impl RateLimiter {
    /// Takes one request from `client`'s bucket at `now`; `Err(retry_after_secs)` if empty.
    /// Buckets hold a minute's worth of requests and refill continuously.
    pub fn check(&mut self, client: &str, per_minute: u32, now: Instant) -> Result<(), Secs> {
        if per_minute == 0 {
            return Ok(());
        }
        if self.since.until(now).0 >= 60_000 {
            self.previous = core::mem::take(&mut self.current);
            self.since = now;
        }
        let cap = f64::from(per_minute);
        let key = client_key(client);
        if !self.current.contains_key(&key) {
            if let Some(b) = self.previous.remove(&key) {
                self.current.insert(key.clone(), b);
            } else if self.current.len() < RATE_CLIENTS {
                self.current.insert(key.clone(), (cap, now));
            }
        }
        let (tokens, last) = match self.current.get_mut(&key) {
            Some(b) => b,
            None => self.overflow.get_or_insert((cap, now)),
        };
        let rate = cap / 60_000.0; // tokens per ms
        *tokens = (*tokens + last.until(now).0 as f64 * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / rate;
            let ms = wait as u64 + u64::from((wait as u64 as f64) < wait); // ceil, no_std
            Err(Secs(ms.div_ceil(1000).max(1)))
        }
    }

    /// How many clients have a bucket (for tests: memory stays bounded).
    pub fn clients(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// The bucket key of a client address: an IPv4 address as is, an IPv6 address by its /64
/// (one host's own network: rotating within it is one client).
pub fn client_key(ip: &str) -> String {
    if !ip.contains(':') {
        return ip.to_owned();
    }
    let (head, tail) = ip.split_once("::").unwrap_or((ip, ""));
    let groups = |s: &str| -> Vec<String> {
        s.split(':').filter(|g| !g.is_empty()).map(|g| g.trim_start_matches('0').to_ascii_lowercase()).collect()
    };
    let (mut h, t) = (groups(head), groups(tail));
    while h.len() + t.len() < 8 {
        h.push(String::new());
    }
    h.extend(t);
    let mut key = String::new();
    for g in h.iter().take(4) {
        key.push_str(if g.is_empty() { "0" } else { g });
        key.push(':');
    }
    key.push_str(":/64");
    key
}
