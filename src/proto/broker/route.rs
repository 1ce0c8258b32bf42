//! Where a request goes: CORS, methods, `BROKER_KEYS`, the CSRF header, the proxy's
//! target and which headers it forwards.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::encode::is_printable;
use crate::proto::http::Reply;
use super::config::{BrokerConfig, ProxyRoute, Role};

/// The header every `/proxy/`, `/session` and `/logout` request must carry, with value
/// `1`: the CSRF defence of RFC 10017 §6.1.3.3. A page on another site cannot send a
/// custom header without a CORS preflight that the broker refuses; a navigation, a form,
/// an `<img>` or an `<iframe>` cannot send one at all.
pub const CSRF_HEADER: &str = "Tokenkit-Request";

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
    /// Which allowed origin `origin` is, counted from 1; 0 when it is none (or absent: a
    /// non-browser caller). Every CORS header the broker sends follows from this number
    /// ([`BrokerConfig::cors_of`]), so the shell turns a number into headers once, not per request.
    pub fn cors_origin(&self, origin: Option<&str>) -> usize {
        origin.and_then(|o| self.allowed_origins.iter().position(|a| a == o)).map_or(0, |i| i + 1)
    }

    /// CORS headers for a response to allowed origin `n` ([`BrokerConfig::cors_origin`]; 0,
    /// or a number past the list: none, only `Vary`). `Retry-After` is exposed: without it a
    /// browser client cannot read the wait the broker asks for (a rate limit passed on from
    /// upstream, or the broker's own) and would ask again sooner.
    pub fn cors_of(&self, n: usize) -> Vec<(&'static str, String)> {
        let mut h = vec![("Vary", "Origin".to_owned())];
        if let Some(o) = n.checked_sub(1).and_then(|i| self.allowed_origins.get(i)) {
            h.push(("Access-Control-Allow-Origin", o.clone()));
            h.push(("Access-Control-Expose-Headers", "Retry-After".to_owned()));
            if self.allow_credentials {
                h.push(("Access-Control-Allow-Credentials", "true".to_owned()));
            }
        }
        h
    }

    /// CORS headers for a response to `origin` (only `Vary` for non-browser callers and
    /// origins not allowed).
    pub fn cors_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        self.cors_of(self.cors_origin(origin))
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
        } else if self.dpop() && req.path == "/token" {
            // A DPoP-bound token is of no use without the broker's key, which never leaves it.
            return Err(Reply::error(404, "not_found", "with DPOP=true tokens are bound to the broker's key: call the API through /proxy/"));
        } else if req.path == "/token" {
            (Some(Route::Token), "POST, OPTIONS")
        } else if let Some(rest) = req.path.strip_prefix("/proxy/") {
            let Some(origin) = &self.proxy_origin else {
                return Err(Reply::error(404, "not_found", "no PROXY_ORIGIN is configured"));
            };
            let rest = decode_unreserved(rest);
            let url = proxy_target(origin, &rest, req.query).map_err(|why| Reply::error(400, "bad_proxy_path", why))?;
            if !self.proxy_routes.is_empty() && method_override(req.query) {
                // Laravel and method-override middleware take `?_method=DELETE` on a POST.
                return Err(Reply::error(400, "bad_proxy_path", "a _method query parameter is not allowed with PROXY_ROUTES"));
            }
            if !self.proxy_routes.is_empty() && rest.contains(';') {
                // Java servlet containers strip path parameters from every segment, so
                // `/api/billing;x/charge` would reach `/api/billing/charge` under `/api/`'s
                // methods and token.
                return Err(Reply::error(400, "bad_proxy_path", "path parameters (;) are not allowed in the proxy path with PROXY_ROUTES"));
            }
            proxy_methods = self.proxy_methods(&["/", &rest].concat())?;
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
        // With Turnstile (and no sign-in) a key and a widget's token are alternatives: servers
        // hold a key, browsers solve the widget (a key in a page is public). The Turnstile
        // gate then refuses a call that brings neither (proto::broker::gate::turnstile_needed).
        let turnstile_instead = self.turnstile.is_some() && !self.signs_in();
        if keyed && !self.broker_keys.is_empty() && !turnstile_instead && !self.key_ok(req.broker_key) {
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
    /// when no route covers it: the methods of the most specific entry that covers it (the
    /// longest path; entries of the same path add up), never a broader entry's. Without
    /// `PROXY_ROUTES`, a constant (nothing allocated).
    fn proxy_methods(&self, path: &str) -> Result<alloc::borrow::Cow<'static, str>, Reply> {
        if self.proxy_routes.is_empty() {
            return Ok("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".into());
        }
        let mut allow: Vec<&str> = Vec::new();
        for m in self.most_specific(path)?.flat_map(|(_, r)| &r.methods) {
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

    /// The `PROXY_ROUTES` entries (with their index) that decide API path `path`: those of
    /// the longest path that covers it. Letter case counts, but a path that an entry would
    /// cover in another case, more specifically than any entry covers it as sent, is a 400:
    /// most routers (Express, ASP.NET) ignore case, and `/api/BILLING/charge` must not
    /// reach billing under a broader entry's methods and token.
    pub fn most_specific<'a>(&'a self, path: &'a str) -> Result<impl Iterator<Item = (usize, &'a ProxyRoute)> + 'a, Reply> {
        // How specific an entry is: its path's length, a trailing slash aside.
        let depth = |r: &ProxyRoute| r.path.trim_end_matches('/').len();
        let best = |fold: bool| self.proxy_routes.iter().filter(|r| r.covers(path, fold)).map(depth).max();
        let len = best(false);
        if best(true) != len {
            return Err(Reply::error(400, "bad_proxy_path", "the path matches a PROXY_ROUTES entry only in another letter case"));
        }
        Ok(self.proxy_routes.iter().enumerate().filter(move |(_, r)| Some(depth(r)) == len && r.covers(path, false)))
    }
}

/// The URL on `origin` that `/proxy/<rest>?<query>` forwards to, its path's encoded
/// unreserved characters decoded ([`decode_unreserved`]).
///
/// # Security
/// The target is always `origin`: `..` and `.` segments (also percent-encoded), encoded
/// slashes and backslashes, empty segments (`//host`), backslashes and scheme-like first
/// segments (absolute URLs), and `?`/`#` inside the path are rejected, so the broker cannot
/// be aimed at another host or at a path the API would resolve differently.
pub fn proxy_target(origin: &str, rest: &str, query: &str) -> Result<String, &'static str> {
    let rest = &*decode_unreserved(rest);
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
        // `..;x` is `..` to a servlet container, which strips path parameters.
        let dots = seg.split(';').next().unwrap_or(seg);
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

/// Whether `query` names a `_method` parameter (however its name is encoded or cased).
fn method_override(query: &str) -> bool {
    query.split('&').any(|p| decode_unreserved(p.split('=').next().unwrap_or("")).eq_ignore_ascii_case("_method"))
}

/// `path` with its percent-encoded unreserved characters decoded (RFC 3986 §6.2.2.2: the
/// same path to every server): `%62illing` is `billing`, for the proxy's checks, for
/// `PROXY_ROUTES` and for the API alike. Other escapes are kept as sent.
pub fn decode_unreserved(path: &str) -> alloc::borrow::Cow<'_, str> {
    let hex = |c: u8| (c as char).to_digit(16);
    let unreserved = |w: &[u8]| match (w.first(), w.get(1).and_then(|&c| hex(c)), w.get(2).and_then(|&c| hex(c))) {
        (Some(b'%'), Some(h), Some(l)) => Some((h * 16 + l) as u8).filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')),
        _ => None,
    };
    let b = path.as_bytes();
    if !b.windows(3).any(|w| unreserved(w).is_some()) {
        return path.into();
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(c) = rest.chars().next() {
        match rest.as_bytes().get(..3).and_then(unreserved) {
            Some(d) => {
                out.push(d as char);
                rest = rest.get(3..).unwrap_or("");
            }
            None => {
                out.push(c);
                rest = rest.get(c.len_utf8()..).unwrap_or("");
            }
        }
    }
    out.into()
}

/// Whether a caller's request header may be forwarded to the API. Stripped:
/// - the caller's credentials for the broker (`Authorization`, `Cookie`, `X-Broker-Key`, a
///   `DPoP` proof of its own, the Access and Turnstile tokens the broker's gates took);
/// - `Host` and hop-by-hop headers (RFC 9110 §7.6.1, including those named in `Connection`);
/// - what an API or the proxies in front of it may trust as coming from the network rather
///   than the caller: who the client is (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`,
///   `True-Client-IP`, `X-Client-IP`, `Via`, every `Cf-*`, such as
///   `Cf-Access-Authenticated-User-Email`, which Access sets for the broker, not for the API),
///   who the user is (`Remote-User`, `X-Auth-Request-*`, `X-Goog-Authenticated-User-*`,
///   `X-Amzn-Oidc-*`, `X-MS-Client-Principal*`), and which method or path the request really
///   has (`X-HTTP-Method-Override` and its kin, `X-Original-URL`, `X-Rewrite-URL`): any
///   would let a caller step around `PROXY_ROUTES` or pass for someone else.
///
/// A denylist, not an allowlist: an API's own headers (`X-Api-Version`, `Idempotency-Key`,
/// tracing) pass unchanged, and every class a caller could use to mislead the API about
/// the network, the method or the path is named here by its prefix or name.
pub fn forward_header(name: &str, connection: &str) -> bool {
    const STRIP: &[&str] = &[
        "authorization",
        "cookie",
        "host",
        "x-broker-key",
        // With DPOP=true the broker sends the one proof (RFC 9449 §4.3: exactly one);
        // without it, a caller's proof is no business of the API's either.
        "dpop",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        // The client's identity as proxies report it.
        "forwarded",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "client-ip",
        "fastly-client-ip",
        "x-host",
        // Method and path overrides (frameworks and gateways that honour them).
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-original-url",
        "x-original-uri",
        "x-rewrite-url",
        "x-original-method",
        "x-original-host",
        "via",
        // Who the user is, as an authenticating proxy in front of an API says it.
        "remote-user",
        "x-remote-user",
        "x-authenticated-user",
    ];
    // Whole families: the gates' tokens and everything Cloudflare sets (`cf-*`), the
    // forwarding headers proxies add, and the identity headers of authenticating proxies
    // (oauth2-proxy, Google IAP, AWS ALB, Azure App Service, Envoy).
    const STRIP_PREFIX: &[&str] = &["cf-", "x-forwarded-", "x-auth-request-", "x-goog-authenticated-user-", "x-amzn-oidc-", "x-ms-client-principal", "x-envoy-"];
    let n = name.to_ascii_lowercase();
    !STRIP.contains(&n.as_str()) && !STRIP_PREFIX.iter().any(|p| n.starts_with(p)) && !connection.split(',').any(|t| t.trim().eq_ignore_ascii_case(&n))
}

/// What the proxy does after the API answered 401 to a request it sent with a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After401 {
    /// Send it again, once, with a fresh proof: the API demanded a DPoP nonce (RFC 9449
    /// §9), its answer carried one, and the request has no body to stream a second time.
    Replay,
    /// Relay the 401; the token was not refused (a nonce challenge), so it is kept.
    Kept,
    /// Relay the 401 and tell the token's holder, which drops a refused token (the next
    /// call gets a fresh one). The proxy never replays a refused token's call.
    Refused,
}

/// What to do after a 401 whose `WWW-Authenticate` is `www_authenticate`, for a request
/// whose tokens are DPoP-bound (`dpop`), with no body (`bodiless`: GET or HEAD), which was
/// `replayed` already.
pub fn after_401(dpop: bool, www_authenticate: Option<&str>, bodiless: bool, replayed: bool) -> After401 {
    #[cfg(feature = "dpop")]
    let challenge = dpop && crate::proto::dpop::nonce_challenge(www_authenticate);
    #[cfg(not(feature = "dpop"))]
    let challenge = {
        let _ = (dpop, www_authenticate);
        false
    };
    match challenge {
        false => After401::Refused,
        true if bodiless && !replayed => After401::Replay,
        true => After401::Kept,
    }
}
