//! The broker's configuration from the Worker's env, one [`Role`] at a time: which
//! variables each object reads, the upstream client, origins, keys, proxy routes, gates and
//! the sign-in client.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::Config;
use crate::proto::client::presets::GENERIC;
use crate::proto::encode::parse_decimal;
use crate::proto::error::Error;
use crate::proto::http::Reply;
use crate::proto::secret::BrokerKey;
use crate::proto::url::{parse_origin, ParseUrl};
use crate::proto::value::Value;
use super::route::proxy_target;

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
const UPSTREAM_VARS: &[&str] = &["TOKEN_URL", "ISSUER", "CLIENT_ID", "CLIENT_SECRET", "CLIENT_AUTH", "ASSERTION_AUDIENCE", "SCOPE", "AUDIENCE", "RESOURCE", "DIALECT", "DPOP"];

impl Role {
    /// Whether this role reads env variable `var`.
    pub fn reads(self, var: &str) -> bool {
        match self {
            Role::Edge => true,
            // PROXY_ROUTES: the tokens its entries name are the objects' too (a token cache
            // per API, a session's exchanged tokens).
            Role::TokenCache => UPSTREAM_VARS.contains(&var) || var == "PROXY_ROUTES",
            #[cfg(feature = "signin")]
            Role::Session => {
                UPSTREAM_VARS.contains(&var) || var == "SESSION_TTL" || var == "PROXY_ROUTES" || super::bff::SIGNIN_ENV.iter().any(|(v, _)| *v == var)
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
    pub broker_keys: Vec<BrokerKey>,
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

/// The optional request headers the edge reads ([`BrokerConfig::reads`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Reads {
    /// `X-Broker-Key`: with `BROKER_KEYS`.
    pub broker_key: bool,
    /// `CF-Connecting-IP`: with a rate limit (`RATE_LIMIT`, or the binding) or Turnstile.
    pub client_ip: bool,
    /// `Tokenkit-Request`: with a proxy or sign-in (the routes that act on someone's behalf).
    pub csrf: bool,
    /// `Cookie`: with sign-in.
    pub cookie: bool,
}

/// Env variables and the client option each one sets.
const ENV: &[(&str, &str)] = &[
    ("TOKEN_URL", "tokenUrl"),
    // Without TOKEN_URL the token endpoint is discovered from it (RFC 8414).
    ("ISSUER", "issuer"),
    ("CLIENT_ID", "clientId"),
    ("CLIENT_SECRET", "clientSecret"),
    ("CLIENT_AUTH", "clientAuth"),
    // private_key_jwt: the assertions' audience when it is not ISSUER.
    ("ASSERTION_AUDIENCE", "assertionAudience"),
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
    /// secrets). Variables the role does not read are never asked for. `client_key`: the
    /// shell's view of the `CLIENT_KEY` secret, a private JWK (its public members, `alg`,
    /// `kid` and `d: true`: see [`crate::proto::jwk::private_jwk_algorithm`]), `None` when
    /// it is not set; the key itself is imported by WebCrypto and never read here.
    pub fn from_env(role: Role, get: &dyn Fn(&str) -> Option<String>, client_key: Option<&Value>, parse_url: ParseUrl<'_>) -> Result<BrokerConfig, EnvError> {
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
        // private_key_jwt: every client of the deployment signs with the one key.
        if let Some(k) = client_key {
            opts.push(("clientKey".to_owned(), k.clone()));
        }
        // DPoP-bound tokens (RFC 9449) for the deployment and its users: the key is the
        // `DPOP_KEY` secret, which the shell hands WebCrypto (never this code), or one each
        // isolate makes ([`BrokerConfig::dpop_keying`]).
        let dpop = match get("DPOP").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(EnvError { var: "DPOP", reason: "must be true or false" }),
        };
        if dpop {
            opts.push(("dpop".to_owned(), Value::Bool(true)));
        }
        let upstream = Config::from_options(&GENERIC, &Value::Object(opts), parse_url)
            .map_err(|e| match e {
                Error::InvalidConfig { field, reason } => EnvError {
                    var: ENV
                        .iter()
                        .chain(&[("DPOP", "dpop"), ("CLIENT_KEY", "clientKey")])
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
        let broker_keys = list("BROKER_KEYS").into_iter().map(BrokerKey::new).collect();
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
        // Sign-in is on with its authorization endpoint, or with the broker's own callback
        // (REDIRECT_URI) when the endpoints are discovered from ISSUER.
        let signin = match get("AUTHORIZE_URL").or_else(|| get("REDIRECT_URI")) {
            None => None,
            Some(_) => {
                use super::bff::{SignIn, DEFAULT_SCOPE, SIGNIN_ENV};
                let session = SignIn::from_env(&get, role == Role::Edge)?;
                let mut opts: Vec<(String, Value)> = ENV
                    .iter()
                    .filter(|(var, _)| !matches!(*var, "SCOPE" | "DIALECT" | "ISSUER"))
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
                if dpop {
                    opts.push(("dpop".to_owned(), Value::Bool(true)));
                }
                if let Some(k) = client_key {
                    opts.push(("clientKey".to_owned(), k.clone()));
                }
                let client = Config::from_options(&GENERIC, &Value::Object(opts), parse_url).map_err(|e| match e {
                    Error::InvalidConfig { field, reason } => EnvError {
                        var: SIGNIN_ENV
                            .iter()
                            .chain(ENV)
                            .chain(&[("DPOP", "dpop"), ("CLIENT_KEY", "clientKey")])
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
        let proxy_routes = get("PROXY_ROUTES").map(|v| proxy_routes(&v, parse_url)).transpose()?.unwrap_or_default();
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
        credential_set(&self.upstream)
    }

    /// The credential set of route `i`'s own token ([`BrokerConfig::route_client`]): the
    /// Durable Object that holds that token for the deployment.
    pub fn route_credential_set(&self, i: usize) -> Option<String> {
        self.route_client(i).map(|c| credential_set(&c))
    }

    /// The client an isolate uses to get the deployment's token from its Durable Object:
    /// the broker contract (an empty POST answered with the token and its remaining life),
    /// the same as a browser's `TokenClient({ brokerUrl })`, sent to the object's stub.
    /// `route`: a `PROXY_ROUTES` entry's own token ([`BrokerConfig::route_client`]), asked
    /// as `?route=<index>` of the object of its credential set.
    pub fn shared_cache_config(&self, route: Option<usize>, parse_url: ParseUrl<'_>) -> Result<Config, Error> {
        let mut url = String::from(TOKEN_CACHE_URL);
        if let Some(i) = route {
            url.push_str("?route=");
            crate::proto::encode::push_u64(&mut url, i as u64);
        }
        let mut opts = vec![("brokerUrl".to_owned(), Value::Str(url))];
        if let Some(p) = &self.proxy_origin {
            opts.push(("allowedOrigins".to_owned(), Value::List(vec![Value::Str(p.clone())])));
        }
        let mut cfg = Config::from_options(&GENERIC, &Value::Object(opts), parse_url)?;
        // Not retried: the object runs the retry schedule against upstream, and its failure
        // answers come after it (an unreachable object is not asked again either: the
        // isolate asks upstream itself, [`super::cache_failed`]). Waited for as long as the
        // object's upstream flight may take (its deadline, after the spacing of token
        // requests, and a margin): a slow upstream is no unreachable object, and taking it
        // for one sent every isolate upstream beside the object.
        cfg.timing.max_retries = 0;
        let wait = self.upstream.timing.deadline + crate::proto::client::config::MIN_INTERVAL.ms() + crate::proto::time::Millis(2_000);
        cfg.timing.timeout = wait;
        cfg.timing.deadline = wait;
        // The object hands on the deployment's DPoP-bound token: answers say `DPoP` (a
        // Bearer one is refused) and the proxy sends it with the DPoP scheme. This client
        // gets no key, so its requests to the object carry no proof.
        if let (true, crate::proto::client::config::Source::Endpoint(ep)) = (self.dpop(), &mut cfg.source) {
            if let Some(u) = parse_url(TOKEN_CACHE_URL) {
                ep.dpop = Some(crate::proto::client::config::DpopTarget::new(&u.origin, &u.pathname));
            }
        }
        Ok(cfg)
    }

    /// Whether the deployment's tokens are DPoP-bound (`DPOP=true`).
    pub fn dpop(&self) -> bool {
        crate::proto::DPOP && matches!(&self.upstream.source, crate::proto::client::config::Source::Endpoint(ep) if ep.dpop.is_some())
    }

    /// Which DPoP key this object signs with: `Ok(None)` for one of its own, made by
    /// WebCrypto (non-extractable), or the WebCrypto algorithm to import the `DPOP_KEY`
    /// secret with. `jwk` is the shell's view of that secret (its public members, and `d:
    /// true` for a private key: see [`crate::proto::jwk::private_jwk_algorithm`]) or `None`
    /// when it is not set. `shared`: this object's tokens are used by other isolates (the
    /// `TOKEN_CACHE` object and its isolates, or sign-in's session objects and the edge),
    /// which must all sign with one key: a key made here could never leave this isolate.
    pub fn dpop_keying(&self, jwk: Option<&Value>, shared: bool) -> Result<Option<(&'static str, &'static str)>, EnvError> {
        let bad = |reason| EnvError { var: "DPOP_KEY", reason };
        match jwk {
            Some(_) if !self.dpop() => Err(bad("is set but DPOP is not true")),
            #[cfg(feature = "dpop")]
            Some(jwk) => crate::proto::jwk::private_jwk_algorithm(jwk).map(Some).map_err(bad),
            #[cfg(not(feature = "dpop"))]
            Some(_) => Err(bad("needs the DPoP build")),
            None if self.dpop() && (shared || self.role != Role::Edge || self.signs_in()) => Err(bad(
                "must be set (a private JWK) with DPOP=true when tokens are shared across isolates (TOKEN_CACHE or sign-in): they all sign with one key",
            )),
            None => Ok(None),
        }
    }

    /// The `PROXY_ROUTES` entry whose token a `method` call to API path `path` takes: the
    /// most specific entry that covers it ([`BrokerConfig::most_specific`]) and allows the
    /// method, when that entry names a token ([`ProxyRoute::token`]). `None`: the
    /// deployment's (or the user's) token.
    pub fn token_route(&self, path: &str, method: &str) -> Option<usize> {
        // Only the most specific entries decide (a broader entry's token never stands in).
        let (i, r) = self.most_specific(path).ok()?.find(|(_, r)| r.methods.iter().any(|m| m == method))?;
        r.token.as_ref().map(|_| i)
    }

    /// The `PROXY_ROUTES` entry a token cache object's request names (`?route=<index>`
    /// of [`TOKEN_CACHE_URL`], its query's value): one whose token is its own, else `None`
    /// (the deployment's token).
    pub fn cached_route(&self, query_value: Option<&str>) -> Option<usize> {
        let i = parse_decimal(query_value?, 4)? as usize;
        self.proxy_routes.get(i)?.token.as_ref().map(|_| i)
    }

    /// The client of route `i`'s own token: the upstream client, its `audience`,
    /// `resource` and `scope` those of the route (client credentials, cached and
    /// single-flight on its own). `None` if the route names no token.
    pub fn route_client(&self, i: usize) -> Option<Config> {
        let t = self.proxy_routes.get(i)?.token.as_ref()?;
        let mut cfg = self.upstream.clone();
        if let crate::proto::client::config::Source::Endpoint(ep) = &mut cfg.source {
            target(ep, t);
        }
        Some(cfg)
    }

    /// The token exchange client of route `i` for a signed-in user (RFC 8693): the sign-in
    /// client (its token endpoint, authentication and DPoP) with the grant a token exchange
    /// and the route's `audience`, `resource` and `scope`. `None` if the route names no token
    /// or the broker signs no one in.
    #[cfg(all(feature = "signin", feature = "server"))]
    pub fn exchange_client(&self, i: usize) -> Option<Config> {
        Some(exchange_client(&self.signin.as_ref()?.1, self.proxy_routes.get(i)?.token.as_ref()?))
    }

    /// Which of a request's optional headers the edge reads with this configuration and a
    /// `RATE_LIMITER` binding or not (`binding`). Origin is always read, and
    /// Access-Control-Request-Headers on a preflight (`OPTIONS`) only: no other request's
    /// answer depends on it. A header left unread cannot change any answer (tests/broker.rs
    /// `a_header_the_edge_does_not_read_changes_nothing`), and each read costs a cached
    /// `/token` about 0.3 µs in workerd.
    pub fn reads(&self, binding: bool) -> Reads {
        Reads {
            broker_key: !self.broker_keys.is_empty(),
            client_ip: binding || self.rate_per_minute > 0 || self.turnstile.is_some(),
            csrf: self.proxy_origin.is_some() || self.signs_in(),
            cookie: self.signs_in(),
        }
    }

    /// Whether `key` (from `X-Broker-Key`) is one of the configured keys. Compares every
    /// byte of every key, so timing does not reveal how much of a key matched.
    pub fn key_ok(&self, key: Option<&str>) -> bool {
        let Some(key) = key else { return false };
        self.broker_keys.iter().fold(false, |ok, k| ok | crate::proto::encode::ct_eq(k.expose(), key))
    }
}

/// Where an isolate's requests to the `TokenCache` object go (its stub ignores the host).
pub const TOKEN_CACHE_URL: &str = "https://token-cache.tokenkit.invalid/token";

/// One `PROXY_ROUTES` entry: the methods allowed under a path, and the token they take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRoute {
    /// Upper-case method names.
    pub methods: Vec<String>,
    /// The API path, from `/`: ending in `/`, it covers every path below it; otherwise
    /// that one path only.
    pub path: String,
    /// The token for this API, when the entry names its own `audience`, `resource` or
    /// `scope` (RFC 10017 §6.2.2.3: no broader a token than the API needs): client
    /// credentials of its own, or for a signed-in user the user's token exchanged for one
    /// (RFC 8693). `None`: the deployment's (or the user's) token.
    pub token: Option<TokenTarget>,
}

/// What a down-scoped token is for: the parameters of its token request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenTarget {
    /// `audience` (RFC 8693 §2.1): the logical name of the API.
    pub audience: Option<String>,
    /// `resource` (RFC 8707): the API's absolute URL.
    pub resource: Option<String>,
    /// `scope`, space-separated.
    pub scope: Option<String>,
}

impl ProxyRoute {
    /// Whether this entry covers API path `path`; `fold`: ignoring ASCII letter case. A
    /// trailing slash does not tell two paths apart (routers such as Express treat `/x` and
    /// `/x/` alike): `/billing/` covers `/billing` too, and `/me` covers `/me/`, so neither
    /// can be reached under a broader entry's methods and token.
    pub(super) fn covers(&self, path: &str, fold: bool) -> bool {
        let same = |a: &str, b: &str| if fold { a.eq_ignore_ascii_case(b) } else { a == b };
        match self.path.strip_suffix('/') {
            Some(dir) => same(path, dir) || path.get(..self.path.len()).is_some_and(|head| same(head, &self.path)),
            None => same(path, &self.path) || path.strip_suffix('/').is_some_and(|p| same(p, &self.path)),
        }
    }
}

/// Methods the proxy never forwards: `OPTIONS` is the broker's own preflight; `CONNECT`
/// and `TRACE` have no business at an API.
const NEVER_PROXIED: &[&str] = &["OPTIONS", "CONNECT", "TRACE"];

/// Parses `PROXY_ROUTES`: comma-separated entries of methods, a path, then optionally the
/// token that path takes: `audience=<name>`, `resource=<absolute URL>` and `scope=<scope>`
/// (one scope value each, repeated for more), e.g.
/// `GET /me, GET POST /orders/ audience=orders scope=orders:read scope=orders:write`.
pub fn proxy_routes(v: &str, parse_url: ParseUrl<'_>) -> Result<Vec<ProxyRoute>, EnvError> {
    let bad = |reason| EnvError { var: "PROXY_ROUTES", reason };
    let mut out = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut words: Vec<&str> = entry.split_ascii_whitespace().collect();
        let at = words.iter().position(|w| w.contains('=')).unwrap_or(words.len());
        let token = token_target(words.split_off(at), parse_url).map_err(bad)?;
        let path = words.pop().filter(|p| p.starts_with('/')).ok_or(bad("each entry is methods then a path from /, e.g. GET POST /items/"))?;
        if words.is_empty() {
            return Err(bad("each entry names at least one method, e.g. GET /me"));
        }
        if proxy_target("https://x", path.get(1..).unwrap_or(""), "").is_err() || path.contains("//") || path.contains(';') {
            return Err(bad("a path may not hold dot segments, empty segments, ;, ?, #, encoded slashes or encoded letters"));
        }
        let mut methods = Vec::new();
        for m in words {
            let m = m.to_ascii_uppercase();
            if !m.bytes().all(|b| b.is_ascii_uppercase()) || NEVER_PROXIED.contains(&m.as_str()) {
                return Err(bad("methods are HTTP method names (not OPTIONS, CONNECT or TRACE)"));
            }
            methods.push(m);
        }
        // As requests are matched: encoded unreserved characters decoded.
        let path = super::route::decode_unreserved(path).into_owned();
        out.push(ProxyRoute { methods, path, token });
    }
    if out.is_empty() {
        return Err(bad("must name at least one route when set"));
    }
    Ok(out)
}

const WORDS_ONLY: &str = "after the path an entry takes audience=, resource= (once each) and scope= words only";

/// An entry's `audience=`, `resource=` and `scope=` words, or `None` without any.
fn token_target(words: Vec<&str>, parse_url: ParseUrl<'_>) -> Result<Option<TokenTarget>, &'static str> {
    if words.is_empty() {
        return Ok(None);
    }
    let mut t = TokenTarget::default();
    for w in words {
        let Some((k, v)) = w.split_once('=') else { return Err(WORDS_ONLY) };
        if v.is_empty() || !crate::proto::encode::is_printable(v) {
            return Err("audience=, resource= and scope= each need a value, after the path");
        }
        let slot = match k {
            "audience" if t.audience.is_none() => &mut t.audience,
            "resource" if t.resource.is_none() && parse_url(v).is_some_and(|u| !u.has_fragment) => &mut t.resource,
            "resource" if t.resource.is_none() => return Err("resource= must be an absolute URL without a #fragment (RFC 8707)"),
            "scope" => {
                let token = crate::proto::client::config::scope(&Value::Str(v.to_owned())).map_err(|_| "scope= holds a character not allowed in a scope (RFC 6749 §3.3)")?;
                let s = t.scope.get_or_insert_with(String::new);
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(&token);
                continue;
            }
            _ => return Err(WORDS_ONLY),
        };
        *slot = Some(v.to_owned());
    }
    Ok(Some(t))
}

/// The answer to a configuration error: 500 naming the variable, never its value.
pub fn config_error_reply(e: &EnvError) -> Reply {
    let mut m = String::from(e.var);
    m.push_str(": ");
    m.push_str(e.reason);
    Reply::error(500, "broker_misconfigured", &m)
}

/// The origins `ALLOWED_ORIGINS` lists, read alone (an entry that is not an origin skipped):
/// whom a broken deployment may still tell what is broken ([`misconfigured`]).
pub fn listed_origins(get: &dyn Fn(&str) -> Option<String>, parse_url: ParseUrl<'_>) -> Vec<String> {
    get("ALLOWED_ORIGINS")
        .map(|v| v.split(',').filter_map(|o| parse_origin(o.trim(), parse_url).ok()).collect())
        .unwrap_or_default()
}

/// The answer to every request while the configuration is broken: the 500 naming the variable
/// ([`config_error_reply`]), which a page on an origin `ALLOWED_ORIGINS` lists may read, so it is
/// told which variable rather than a browser's bare "Failed to fetch". Such a page's preflight
/// is answered (204, not cached, so the first request after the fix asks again). Nothing runs
/// and the answer holds a variable's name, never a value; other origins learn nothing.
pub fn misconfigured(e: &EnvError, listed: &[String], method: &str, origin: Option<&str>, request_headers: Option<&str>) -> Reply {
    let Some(o) = origin.filter(|o| listed.iter().any(|l| l == o)) else {
        return config_error_reply(e).with("Vary", "Origin");
    };
    let reply = if method == "OPTIONS" {
        let r = Reply { status: 204, headers: Vec::new(), body: String::new() }.with("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        match request_headers.filter(|h| crate::proto::encode::is_printable(h)) {
            Some(h) => r.with("Access-Control-Allow-Headers", h),
            None => r,
        }
    } else {
        config_error_reply(e)
    };
    reply.with("Vary", "Origin").with("Access-Control-Allow-Origin", o).with("Access-Control-Allow-Credentials", "true")
}

/// The token exchange client for `t` made from the sign-in client `signin` as it stands (a
/// session's, its endpoints discovered already: the exchange asks no metadata again).
#[cfg(all(feature = "signin", feature = "server"))]
pub fn exchange_client(signin: &Config, t: &TokenTarget) -> Config {
    let mut cfg = signin.clone();
    if let crate::proto::client::config::Source::Endpoint(ep) = &mut cfg.source {
        ep.grant = crate::proto::client::config::Grant::TokenExchange;
        target(ep, t);
    }
    cfg
}

/// `ep` asking for `t`'s token: its audience, resource and scope in place of the client's.
fn target(ep: &mut crate::proto::client::config::Endpoint, t: &TokenTarget) {
    ep.audience = t.audience.clone();
    ep.resource = t.resource.clone();
    ep.scope = t.scope.clone();
}

/// Names a credential set (token endpoint, client, scope, audience, resource: never the
/// secret): the Durable Object that holds the deployment's token for it.
fn credential_set(cfg: &Config) -> String {
    let mut name = String::new();
    if let crate::proto::client::config::Source::Endpoint(ep) = &cfg.source {
        // Before discovery the issuer names the endpoint (every isolate reads the same env).
        let endpoint = ep.discover.as_ref().map_or(&ep.token_url, |d| &d.issuer);
        for part in [Some(endpoint), Some(&ep.client_id), ep.scope.as_ref(), ep.audience.as_ref(), ep.resource.as_ref()] {
            name.push_str(part.map_or("", |s| s.as_str()));
            name.push('\n');
        }
    }
    name
}
