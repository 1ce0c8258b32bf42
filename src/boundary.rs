//! The names of the JavaScript ↔ wasm boundary, in one table: what each number that crosses
//! it means. The wasm side (src/wasm/) uses these constants; the JavaScript side reads the
//! same names from a block generated from this table in each js/ module that reads them
//! (`make boundary`; `tests/boundary.rs` fails when a block and the table differ), so no
//! number is written twice by hand.

macro_rules! boundary {
    ($( $(#[doc = $gdoc:literal])+ pub mod $m:ident: $t:ty { $( $(#[doc = $doc:literal])+ $name:ident = $v:expr, )+ } )+) => {
        $(
            $(#[doc = $gdoc])+
            pub mod $m {
                $( $(#[doc = $doc])+ pub const $name: $t = $v; )+
            }
        )+
        /// Every group as (name, its first doc line, [(name, value)]): what the JavaScript
        /// block is generated from, as `GROUP_NAME` constants.
        pub const TABLE: &[(&str, &str, &[(&str, i64)])] = &[
            $( (stringify!($m), first_line(&[$($gdoc),+]), &[ $( (stringify!($name), $v as i64) ),+ ]), )+
        ];
    };
}

const fn first_line(doc: &[&'static str]) -> &'static str {
    match doc.first() {
        Some(d) => d,
        None => "",
    }
}

boundary! {
    /// What `Core.poll` asks the driver to do: the first element of each action.
    pub mod action: u8 {
        /// Send the token request `[SEND, ...]` (its slots: [`super::send`]).
        SEND = 0,
        /// `[ABORT, attempt]`: abort that attempt's request.
        ABORT = 1,
        /// `[WAKE]`: a flight finished; every waiter asks `Core.outcome`.
        WAKE = 2,
        /// `[TOKEN, record]`: a new token (its slots: [`super::record`]); emit `"token"`.
        TOKEN = 3,
        /// `[EXPIRED]`: the token lapsed with no replacement; emit `"expired"`.
        EXPIRED = 4,
        /// `[ERROR, error]`: a token request finally failed; emit `"error"`.
        ERROR = 5,
        /// `[SHARE]`: a user's tokens came from the server; tell the other tabs.
        SHARE = 6,
    }

    /// The slot of the one value an `ABORT`, `TOKEN` or `ERROR` action carries.
    pub mod value: usize {
        /// Its attempt, record or error.
        SLOT = 1,
    }

    /// The slots of a send action, the same in every build.
    pub mod send: usize {
        /// The attempt's number, given back with its answer.
        ATTEMPT = 1,
        /// The token endpoint (or metadata) URL.
        URL = 2,
        /// `[[name, value], ...]`.
        HEADERS = 3,
        /// The form body; `undefined` for a GET.
        BODY = 4,
        /// The fetch `redirect` mode (always `"manual"` or `"error"`).
        REDIRECT = 5,
        /// The fetch `cache` mode, or `undefined`.
        CACHE = 6,
        /// The fetch `credentials` mode, or `undefined`.
        CREDENTIALS = 7,
        /// Read at most this many bytes of the body.
        CAP = 8,
        /// A user's refresh in a page: its tokens' generation, whose browser lock it is sent
        /// holding; `undefined` otherwise.
        LOCK = 9,
        /// The body ends in `client_assertion=`, for a fresh assertion (`private_key_jwt`).
        ASSERTION = 10,
    }

    /// The slots of a token record, as the shell hands a token out.
    pub mod record: usize {
        /// The access token.
        ACCESS_TOKEN = 0,
        /// The `Authorization` (or configured header) value.
        HEADER = 1,
        /// The token's id, which a refusal names.
        ID = 2,
        /// When it expires (epoch ms), or `null`.
        EXPIRES_AT = 3,
        /// When it is refreshed (epoch ms), or `null`.
        REFRESH_AT = 4,
        /// Its scope, or `null`.
        SCOPE = 5,
    }

    /// What a request's answer says in place of an HTTP status when none came back.
    pub mod status: i16 {
        /// The request failed in transport (or was aborted): `NETWORK`.
        NETWORK = -1,
        /// Nothing was sent: WebCrypto could not import or sign with the client's key.
        KEY_REFUSED = -2,
        /// Nothing was sent: WebCrypto could not make, import or sign with the DPoP key.
        KEY_FAILED = -3,
    }

    /// How the shell read an answer's body (its one `JSON.parse`).
    pub mod body: u8 {
        /// Parsed JSON.
        JSON = 0,
        /// Not JSON.
        NOT_JSON = 1,
        /// Larger than the cap: not read.
        TOO_LARGE = 2,
    }

    /// Sizes the shell works with, each decided in the core.
    pub mod bytes: usize {
        /// Random bytes of a DPoP proof's `jti` ([`crate::proto::dpop::JTI_BYTES`]).
        DPOP_JTI = crate::proto::dpop::JTI_BYTES,
        /// Random bytes of a client assertion's `jti` ([`crate::proto::jwk::ASSERTION_JTI_BYTES`]).
        ASSERTION_JTI = crate::proto::jwk::ASSERTION_JTI_BYTES,
        /// How much of a revocation's 400 body is read ([`crate::proto::http::REVOCATION_ERROR_BYTES`]).
        REVOCATION_ERROR = crate::proto::http::REVOCATION_ERROR_BYTES,
    }

    /// Where a `Core` runs.
    pub mod runtime: u8 {
        /// A page or a web worker.
        BROWSER = 0,
        /// Node (timers unref'd).
        NODE = 1,
        /// Cloudflare Workers (no timers between requests).
        WORKERD = 2,
    }

    /// What `Broker.route` decided: its kind (then `Broker.gates`, `Broker.cors`, `Broker.routed`).
    pub mod route: u8 {
        /// Answer now with the reply `Broker.routed`.
        DONE = 0,
        /// `POST /token`.
        TOKEN = 1,
        /// Forward to the API: `Broker.routed` is `[target, route]`.
        PROXY = 2,
        /// A sign-in route: `Broker.routed` is its name.
        SIGN_IN = 3,
    }

    /// What the broker's shell could not reach or use (`Broker.failed`): the reply is the core's.
    pub mod failed: u8 {
        /// The session store (`SESSIONS`).
        SESSION_STORE = 0,
        /// The API behind `/proxy/`.
        API = 1,
        /// The session cookies' key (made from `SESSION_SECRET`), which WebCrypto could not use.
        SESSION_KEY = 2,
    }

    /// A session object's next step (`Session.op`): the first element of its answer.
    pub mod step: u8 {
        /// `[ANSWER, body]`: answer 200 with it.
        ANSWER = 0,
        /// `[FAIL, reply]`: answer with the refusal.
        FAIL = 1,
        /// `[SIGN_IN, returnTo, stepUp]`: begin a sign-in, then `Session.begun`.
        SIGN_IN = 2,
        /// `[COMPLETE, returnTo, state, verifier, nonce]`: complete it, then `Session.completed`.
        COMPLETE = 3,
        /// `[TOKEN]`: the user's token, then `Session.token`.
        TOKEN = 4,
        /// `[REFUSED]`: the API refused the body's token: tell the clients.
        REFUSED = 5,
        /// `[END, reply]`: end the session (revoked), then answer.
        END = 6,
    }

    /// Which broker `new Broker(role, ...)` makes (a session's object makes its own).
    pub mod role: u8 {
        /// The edge: every request of the Worker.
        EDGE = 0,
        /// A `TokenCache` Durable Object: the upstream token, one per deployment.
        TOKEN_CACHE = 1,
    }

    /// Which token a broker's token client is for: a `PROXY_ROUTES` entry's number, or this.
    /// (`Broker.client`, `Broker.cacheName`, `Broker.cachedRoute`, a proxy's `[target, route]`.)
    pub mod token_route: i32 {
        /// The deployment's own token (`TOKEN_URL`'s), or the signed-in user's.
        DEPLOYMENT = -1,
    }

    /// Which of the broker's sign-in cookies (`Broker.sessionCookie`, `Broker.macInput`).
    pub mod cookie: u8 {
        /// The signed-in session's.
        SESSION = 0,
        /// A sign-in still pending (between `/login` and `/callback`).
        PENDING = 1,
    }

    /// What to do after the API answered a proxied call 401 (`Broker.after401`).
    pub mod after401: u8 {
        /// Send it again, with a fresh proof (the API asked for a new DPoP nonce).
        REPLAY = 0,
        /// Relay the 401; the token is kept.
        KEPT = 1,
        /// Relay the 401 and drop the token: the API refused it.
        REFUSED = 2,
    }

    /// What a session's token request came to (`Session.token`).
    pub mod verdict: u8 {
        /// Serve the token.
        SERVE = 0,
        /// Refuse with the failure.
        FAIL = 1,
        /// End the session, then refuse.
        END = 2,
    }

    /// The optional request headers the edge reads (bits of `Broker.reads`).
    pub mod read: u8 {
        /// `X-Broker-Key`.
        BROKER_KEY = 1,
        /// `CF-Connecting-IP`.
        CLIENT_IP = 2,
        /// `Tokenkit-Request`.
        CSRF = 4,
        /// `Cookie`.
        COOKIE = 8,
    }

    /// The gates a routed request must pass first (bits of `Broker.gates`).
    pub mod gate: u8 {
        /// Cloudflare Access: a valid `Cf-Access-Jwt-Assertion`.
        ACCESS = 1,
        /// Turnstile: a valid token.
        TURNSTILE = 2,
    }
}

/// Where each group is written on the JavaScript side: (file under js/, group). Each module
/// that reads a group has its own copy, not exported: minifiers inline the numbers and drop
/// the names, so naming them costs the download nothing.
pub const JS: &[(&str, &str)] = &[
    ("shell.js", "action"),
    ("shell.js", "runtime"),
    ("shell.js", "value"),
    ("shell.js", "send"),
    ("shell.js", "record"),
    ("shell.js", "status"),
    ("shell.js", "body"),
    ("signin.js", "send"),
    ("signin.js", "bytes"),
    ("server.js", "bytes"),
    ("dpop.js", "bytes"),
    ("server.js", "status"),
    ("server.js", "body"),
    ("dpop.js", "status"),
    ("broker.js", "route"),
    ("broker.js", "gate"),
    ("broker.js", "read"),
    ("broker.js", "step"),
    ("broker.js", "failed"),
    ("broker.js", "record"),
    ("broker.js", "role"),
    ("broker.js", "token_route"),
    ("broker.js", "cookie"),
    ("broker.js", "after401"),
    ("broker.js", "verdict"),
];

/// The block generated from [`TABLE`] for `file` (under js/), between its markers.
#[cfg(feature = "std")]
pub fn javascript(file: &str) -> alloc::string::String {
    use alloc::string::{String, ToString};
    let mut out = String::from(BEGIN);
    out.push('\n');
    for (_, group) in JS.iter().filter(|(f, _)| *f == file) {
        let Some((_, doc, items)) = TABLE.iter().find(|(g, ..)| g == group) else { continue };
        out.push_str("/** ");
        out.push_str(doc.trim());
        out.push_str(" */\nconst ");
        for (i, (name, v)) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&group.to_ascii_uppercase());
            out.push('_');
            out.push_str(name);
            out.push_str(" = ");
            out.push_str(&v.to_string());
        }
        out.push_str(";\n");
    }
    out.push_str(END);
    out
}

/// Where a generated block starts in a js/ module.
pub const BEGIN: &str = "// <boundary> Generated from src/boundary.rs by `make boundary` (tests/boundary.rs checks it): do not edit.";
/// Where it ends.
pub const END: &str = "// </boundary>";
