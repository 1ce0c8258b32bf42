//! The token state machine: every decision and every deadline of a token client.
//!
//! Modelled on quinn-proto's `Connection`. The shell feeds it inputs, each with one
//! reading of both clocks ([`Now`]) ([`Machine::get`], [`Machine::handle_response`], [`Machine::handle_timeout`],
//! [`Machine::invalidate`], [`Machine::unauthorized`], [`Machine::dispose`]), then drains
//! [`Machine::poll`] for what to do ([`Action`]) and arms one timer for
//! [`Machine::poll_timeout`]. The machine holds the one copy of every fact: the token and
//! its identity, the single request in flight, its attempts, backoff and overall deadline,
//! the failure cooldown. The shell holds only handles the machine points to (the abort
//! handle of [`Action::Send`]'s attempt, the waiters' promises).
//!
//! Rules:
//! - A valid token is answered at once, even while its refresh runs (stale-while-revalidate).
//!   The refresh starts at `refresh_at`, from the timer or from whichever call sees it due.
//! - One request at a time. Callers without a valid token join it ([`Get::Wait`]).
//! - An attempt fails after `timeoutMs`; network errors, timeouts, 429 and 5xx are retried
//!   with backoff (and `Retry-After`), never past the flight's deadline (`deadlineMs` from
//!   its start), so no `getToken()` waits longer than that.
//! - A refresh that fails while the token is still valid leaves the token in use, emits
//!   `error`, and is not tried again for [`COOLDOWN`] (or the server's `Retry-After`).
//!   Without a valid token, a `Retry-After` makes calls fail fast until it has passed.
//! - Timers are an optimisation: every input re-checks the clock first.
//!
//! Parts: a signed-in user's session ([`SessionPart`]: its refresh token, ID token and
//! generation; [`session`] adds the code exchange, other tabs and sign-out) and DPoP
//! ([`crate::proto::dpop::Part`]: its key and nonces) keep their own state. The machine
//! holds one of each and asks them; a build without the feature carries a part that holds
//! nothing, so the shared paths have no `cfg` for either.

#[allow(unused_imports)]
use crate::prelude::*;

use super::config::{Config, Endpoint, Grant, Source, MIN_INTERVAL};
#[cfg(any(feature = "signin", feature = "server"))]
use super::request::Call;
use super::request::Runtime;
use crate::proto::dpop::{is_nonce_error, nonce_challenge, DpopKey, Part as DpopPart};
use crate::proto::error::Error;
use crate::proto::http::{scheme_refused, HttpRequest, HttpResponse};
#[cfg(any(feature = "signin", feature = "server"))]
use crate::proto::secret::AccessToken;
use crate::proto::secret::{AuthorizationCode, CodeVerifier, IdToken, RefreshToken};
use crate::proto::time::{Instant, Millis, Now, WallMillis};
use crate::proto::url::ParseUrl;
use super::response::{process_token_response, TokenId, TokenSet, NEVER};
use super::retry::retry_delay;

// The user session (sign-in build): its state's transitions, its snapshot for other tabs.
#[cfg(feature = "signin")]
pub mod session;
#[cfg(feature = "signin")]
pub use session::{generation_of, lock_hold, Restored, Snapshot, LOCK_HOLD, MIN_RESTORE};

/// The user-session part a build carries: [`session::UserSession`] in the sign-in builds,
/// else [`NoSession`]. The one place the feature decides which; the machine's shared paths
/// ask the part, and only the sign-in build's part ever holds a session.
#[cfg(feature = "signin")]
pub type SessionPart = session::UserSession;
/// The user-session part a build carries (see the sign-in builds' documentation).
#[cfg(not(feature = "signin"))]
pub type SessionPart = NoSession;

/// The user-session part of a build without sign-in: the same questions as
/// [`session::UserSession`], none of its state. Such a build's configuration refuses the
/// `authorization_code` grant, so the machine never asks it to hold anything.
#[derive(Debug)]
pub struct NoSession;

#[allow(clippy::unused_self)]
impl NoSession {
    /// Nothing.
    pub fn new(_: u64) -> NoSession {
        NoSession
    }
    /// None.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        None
    }
    /// 0.
    pub fn generation(&self) -> u64 {
        0
    }
    /// Never asked (no session is needed).
    pub fn missing(&self) -> Error {
        Error::Disposed
    }
    /// Nothing ends.
    pub fn ends(&self, _: &Error) -> bool {
        false
    }
    /// Never asked (nothing ends).
    pub fn ended(&self) -> Error {
        Error::Disposed
    }
    /// Ignored.
    pub fn rotated(&mut self, _: Option<RefreshToken>) {}
    /// Ignored.
    pub fn renewed(&mut self, _: u64) {}
    /// Ignored.
    pub fn signed_in(&mut self, _: Option<IdToken>) {}
    /// Nothing to forget.
    pub fn forget(&mut self) {}
}

/// How long a failed refresh waits before the next one while the old token is valid.
pub const COOLDOWN: Millis = Millis(5_000);

/// How far the wall clock may run ahead of the monotonic one before the machine counts
/// the difference as time spent suspended.
pub const SUSPEND_GAP: Millis = Millis(2_000);

/// What the shell may hand out without asking the machine ([`Machine::serving`]).
#[derive(Debug)]
pub struct Serving<'a> {
    /// The token.
    pub token: &'a TokenSet,
    /// Served while the monotonic clock is before this.
    pub until: Instant,
    /// And while the wall clock is before this: the same deadline, read off the wall clock
    /// (after a suspend, where the monotonic clock stood still, the wall clock ends it).
    pub wall_until: WallMillis,
}

/// Identifies one token request (with its retries) that callers can wait for; as a number
/// it crosses to the JavaScript shell, which hands it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlightId(pub u64);

/// Identifies one HTTP attempt of a flight (a number the shell hands back with its answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptId(pub u64);

/// What a caller who wants a token should do.
#[derive(Debug)]
pub enum Get {
    /// Use this token now.
    Ready(TokenSet),
    /// Wait for this flight ([`Machine::outcome`] after each [`Action::Wake`]).
    Wait(FlightId),
    /// Fail with this error now (disposed, or the server's `Retry-After` has not passed).
    Fail(Error),
}

/// Where a flight a caller waits for stands.
#[derive(Debug)]
pub enum Outcome {
    /// Still running.
    Pending,
    /// Finished with this result.
    Done(Result<TokenSet, Error>),
    /// Finished long enough ago that its result is gone: ask [`Machine::get`] again.
    Gone,
}

/// What the shell must do next.
#[derive(Debug)]
pub enum Action {
    /// Send [`Machine::request`] now as this attempt, abortable by [`Action::Abort`];
    /// report the answer with [`Machine::handle_response`].
    Send(AttemptId),
    /// Abort this attempt's request (timed out, superseded or disposed).
    Abort(AttemptId),
    /// A flight finished: wake every waiter to check [`Machine::outcome`].
    Wake,
    /// A new token was stored: emit `"token"`.
    Token(TokenSet),
    /// The token lapsed with no replacement: emit `"expired"`.
    Expired,
    /// A token request finally failed: emit `"error"`.
    Error(Error),
    /// A user's tokens came from the server (a sign-in or a refresh): tell this browser's
    /// other tabs, which take them up instead of refreshing themselves ([`Machine::snapshot`],
    /// [`Machine::restore`]).
    Share,
}

#[derive(Debug)]
enum Stage {
    Sending { attempt: AttemptId, sent_at: Instant, timeout_at: Instant },
    Backoff { until: Instant },
}

/// What a flight asks the server for.
#[derive(Debug)]
#[cfg_attr(not(feature = "signin"), allow(dead_code))]
enum Kind {
    /// A token: client credentials, or a user's refresh.
    Token,
    /// Redeeming a sign-in's authorization code (never retried: a code is single-use).
    Exchange { code: AuthorizationCode, verifier: CodeVerifier },
    /// The authorization server's metadata only (a sign-in needs its endpoints first).
    Discover,
}

#[derive(Debug)]
struct Flight {
    id: FlightId,
    kind: Kind,
    deadline: Instant,
    retries: u32,
    /// Someone awaits it (a background refresh has no waiters).
    joined: bool,
    /// It was sent again for a DPoP nonce the server demanded: never twice (a server that
    /// wants a new nonce every time must not turn one request into a storm).
    nonce_retried: bool,
    stage: Stage,
}

/// The token client's state; see the module docs.
#[derive(Debug)]
pub struct Machine {
    /// `None` once disposed: the secrets go with it.
    cfg: Option<Config>,
    runtime: Runtime,
    token: Option<TokenSet>,
    flight: Option<Flight>,
    /// The result of the last finished flight, for waiters that have not looked yet.
    last: Option<(FlightId, Result<TokenSet, Error>)>,
    /// No background refresh before this (after one failed).
    cooldown_until: Instant,
    /// No token request starts before this: [`MIN_INTERVAL`] after the last token's request
    /// was sent (a tokenkit broker's answers excepted: it spaces its own).
    spaced_until: Instant,
    /// With no valid token: calls fail with this error until the instant passes.
    blocked: Option<(Instant, Error)>,
    /// Pending actions, oldest last (few at a time: a Vec beats a VecDeque on wasm size).
    actions: Vec<Action>,
    next_id: u64,
    rng: u64,
    /// The user-session part: a signed-in user's refresh token, ID token and their
    /// generation (nothing in a build without sign-in: [`SessionPart`]).
    session: SessionPart,
    /// Both clocks when last shown, to see a suspended machine ([`Machine::tick`]).
    clock: Option<Now>,
    /// The DPoP part: its key and the servers' nonces (used only when `dpop` is on; nothing
    /// in a build without DPoP: [`crate::proto::dpop::Part`]).
    dpop: DpopPart,
    /// A token exchange client's subject: the signed-in user's access token it exchanges.
    #[cfg(feature = "server")]
    subject: Option<AccessToken>,
}

impl Machine {
    /// A client's state for `cfg` in `runtime`; `seed` seeds the backoff jitter.
    pub fn new(cfg: Config, runtime: Runtime, seed: u64) -> Machine {
        Machine {
            // An API key is the token from the start: always served, never fetched.
            token: super::sign::static_token(&cfg),
            cfg: Some(cfg),
            runtime,
            flight: None,
            last: None,
            cooldown_until: Instant(0),
            spaced_until: Instant(0),
            blocked: None,
            actions: Vec::new(),
            next_id: 0,
            rng: seed | 1,
            session: SessionPart::new(seed),
            clock: None,
            dpop: DpopPart::default(),
            #[cfg(feature = "server")]
            subject: None,
        }
    }

    #[cfg(feature = "server")]
    /// A token exchange client's subject token (RFC 8693 §2.1): the signed-in user's access
    /// token, given before each [`Machine::get`]. The next exchange sends it; a token
    /// already exchanged stays in use until it is due (it is valid on its own).
    pub fn set_subject(&mut self, token: AccessToken) {
        self.subject = Some(token);
    }

    /// Takes the public half of the client's DPoP key (js: the key pair's public JWK).
    pub fn set_dpop_key(&mut self, key: DpopKey) {
        self.dpop.set_key(key);
    }

    /// The client's DPoP key, if `dpop` is on and the shell has given it.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop_target()?;
        self.dpop.key()
    }

    /// Where the token endpoint's proofs point, if `dpop` is on (never in a build without
    /// DPoP: the constant lets the compiler drop every use).
    fn dpop_target(&self) -> Option<&super::config::DpopTarget> {
        if !crate::proto::DPOP {
            return None;
        }
        match &self.cfg.as_ref()?.source {
            Source::Endpoint(ep) => ep.dpop.as_ref(),
            Source::ApiKey { .. } => None,
        }
    }

    /// The signing input of a DPoP proof for the token request being sent: made at
    /// `wall`, with `jti` (fresh random bytes: every attempt gets its own proof) and the
    /// token endpoint's nonce, if it gave one. `None` without DPoP or its key.
    pub fn token_proof(&self, wall: WallMillis, jti: &[u8]) -> Option<String> {
        // None for a metadata GET: its endpoint is no token endpoint.
        let target = self.dpop_target().filter(|t| !t.htu.is_empty())?;
        self.dpop.proof("POST", &target.htu, &target.origin, wall.0 / 1000, jti, None)
    }

    /// The signing input of a DPoP proof for a request with `method` to a resource server
    /// at `origin` and `pathname` (a platform-parsed URL's: `htu` is both, without the
    /// query), carrying `ath`, the SHA-256 of the access token attached (RFC 9449 §7.1).
    pub fn resource_proof(&self, method: &str, origin: &str, pathname: &str, ath: Option<&[u8]>, wall: WallMillis, jti: &[u8]) -> Option<String> {
        self.dpop_target()?;
        let target = super::config::DpopTarget::new(origin, pathname);
        self.dpop.proof(method, &target.htu, origin, wall.0 / 1000, jti, ath)
    }

    /// The answer of the authorization server at `origin` to a request other than a token
    /// request (a revocation), sent as its `attempt` (0 first): takes its `DPoP-Nonce`, and
    /// says whether to send the request again with a fresh proof ([`DpopPart::server_answer`]):
    /// as for token requests, a server that wants a new nonce every time gets two requests.
    #[must_use]
    pub fn server_answer(&mut self, origin: &str, attempt: u32, status: u16, error: Option<&str>, nonce: Option<&str>) -> bool {
        self.dpop_target().is_some() && self.dpop.server_answer(origin, attempt, status, error, nonce)
    }

    /// Whether a sign-in binds its authorization code to the DPoP key (`dpop_jkt`, RFC 9449
    /// §10): only where the client outlives the redirect. A page's key is in memory only,
    /// and the page that comes back makes a new one: a browser sends no `dpop_jkt` (it is
    /// optional), and the code's exchange binds the tokens to the new key.
    pub fn binds_code(&self) -> bool {
        self.dpop_target().is_some() && self.runtime != Runtime::Browser
    }

    /// Forgets the DPoP key and every nonce: a signed-out user's next session is bound to
    /// a new key.
    pub fn forget_dpop(&mut self) {
        self.dpop.forget();
    }

    /// A resource server's `DPoP-Nonce` (any status: RFC 9449 §8.2), kept for `origin`'s
    /// next proof. Ignored without DPoP.
    pub fn take_nonce(&mut self, origin: &str, value: &str) {
        if self.dpop_target().is_some() {
            self.dpop.take_nonce(origin, value);
        }
    }

    /// The signing input of a client assertion (`private_key_jwt`) for the request being
    /// sent ([`HttpRequest::assertion`]): made at `wall`, with `jti` (fresh random bytes,
    /// [`crate::proto::jwk::ASSERTION_JTI_BYTES`]: every attempt gets its own). `None` for a
    /// client without a key, or before its audience is known (nothing is sent then).
    pub fn client_assertion(&self, wall: WallMillis, jti: &[u8]) -> Option<String> {
        let Source::Endpoint(ep) = &self.cfg.as_ref()?.source else { return None };
        ep.key_auth.as_ref()?.assertion(&ep.client_id, wall.0 / 1000, jti)
    }

    /// The token held, if any (expired or not: the next input may drop it).
    pub fn held(&self) -> Option<&TokenSet> {
        self.token.as_ref()
    }

    /// The configuration, until disposed.
    pub fn config(&self) -> Option<&Config> {
        self.cfg.as_ref()
    }

    /// The runtime the shell declared.
    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    /// The request to send for [`Action::Send`] (the same bytes every attempt): the token
    /// request, or before it, while the endpoints are still to be discovered, the GET of
    /// the authorization server's metadata ([`crate::proto::discovery`]).
    #[must_use]
    pub fn request(&self) -> Option<HttpRequest> {
        let Source::Endpoint(ep) = &self.cfg.as_ref()?.source else { return None };
        if let Some(d) = &ep.discover {
            return Some(ep.metadata_request(self.runtime, d.urls.get(usize::from(d.step))?));
        }
        #[cfg(feature = "server")]
        if let Grant::TokenExchange = &ep.grant {
            return Some(ep.request(self.runtime, Call::Exchange { subject_token: self.subject.as_ref()?.expose() }));
        }
        #[cfg(feature = "signin")]
        if let Grant::AuthorizationCode(ac) = &ep.grant {
            return Some(match self.flight.as_ref().map(|f| &f.kind) {
                Some(Kind::Exchange { code, verifier }) => ep.request(
                    self.runtime,
                    Call::Code { code: code.expose(), verifier: verifier.expose(), redirect_uri: &ac.redirect_uri },
                ),
                _ => ep.request(self.runtime, Call::Refresh { refresh_token: self.session.refresh_token()?.expose() }),
            });
        }
        Some(ep.token_request(self.runtime))
    }

    /// The error for an attempt that got no answer at all: which request it was (the
    /// metadata being discovered, the broker, the token endpoint) and its host, with what to
    /// check: in a browser, CORS (a refusal is all a page is told of it); when discovering,
    /// that `tokenUrl` skips discovery.
    pub fn unreachable(&self) -> Error {
        let Some(Config { source: Source::Endpoint(ep), .. }) = &self.cfg else { return Error::network("the token endpoint", "", "") };
        let url = self.request().map(|r| r.url).unwrap_or_default();
        let browser = self.runtime == Runtime::Browser;
        let what = self.requested();
        let hint = match (browser, ep.discover.is_some()) {
            (true, false) => " (in a browser this is most often CORS: that server must allow this page's origin)",
            (true, true) => " (in a browser this is most often CORS: that server must allow this page's origin; or give tokenUrl)",
            (false, true) => " (check the issuer's host, or give tokenUrl)",
            (false, false) => "",
        };
        Error::network(what, &url, hint)
    }

    /// Which request the current attempt is, as an error names it: the metadata being
    /// discovered, the broker, or the token endpoint.
    fn requested(&self) -> &'static str {
        match &self.cfg {
            Some(Config { source: Source::Endpoint(ep), .. }) => match &ep.discover {
                Some(d) if d.resource && d.step == 0 => crate::proto::error::RESOURCE_METADATA,
                Some(_) => crate::proto::error::AS_METADATA,
                None if matches!(ep.wire.body, super::presets::BodyFormat::Empty) => "the broker",
                None => "the token endpoint",
            },
            _ => "the token endpoint",
        }
    }

    /// Whether this client acts for a signed-in user (the authorization code grant).
    fn user(&self) -> bool {
        crate::proto::SIGNIN
            && matches!(&self.cfg, Some(Config { source: Source::Endpoint(Endpoint { grant: Grant::AuthorizationCode(_), .. }), .. }))
    }

    /// Whether this is a page's sign-in client, which does two things a server's does not:
    /// it shares the user's session with its origin's other tabs (their tokens, sign-out, a
    /// refresh under one Web Lock), and it keeps a sign-in's pending state (`state`, PKCE
    /// verifier, nonce) itself, in the page's session storage, where a server's app keeps it
    /// in the user's own session (a page's app cannot carry it across the redirect).
    pub fn in_page(&self) -> bool {
        self.user() && self.runtime == Runtime::Browser
    }

    /// Both clocks, at the start of every input. A machine that was suspended (a laptop
    /// asleep) sees the wall clock run ahead of the monotonic one, which stops in suspend on
    /// some platforms: the token's deadlines move earlier by the gap, so a token whose time
    /// passed while asleep is never handed out. A wall clock that runs ahead by up to
    /// [`SUSPEND_GAP`] between two inputs (NTP slewing, timer jitter), or is set back, is
    /// ignored; one set forward by more is taken for a suspend (a token's life can only
    /// end early, never be stretched).
    fn tick(&mut self, now: Now) {
        if let Some(then) = self.clock {
            let gap = now.wall.0.saturating_sub(then.wall.0).saturating_sub(now.mono.0.saturating_sub(then.mono.0));
            if gap > SUSPEND_GAP.0 {
                // Time spent suspended has passed for every deadline: the token's life, the
                // waits before the next request, and the flight's own.
                let gap = Millis(gap);
                let early = |at: &mut Instant| {
                    if *at != NEVER {
                        *at = *at - gap;
                    }
                };
                if let Some(t) = &mut self.token {
                    early(&mut t.expires_at);
                    early(&mut t.refresh_at);
                }
                early(&mut self.cooldown_until);
                early(&mut self.spaced_until);
                if let Some((until, _)) = &mut self.blocked {
                    early(until);
                }
                if let Some(f) = &mut self.flight {
                    early(&mut f.deadline);
                    match &mut f.stage {
                        Stage::Sending { sent_at, timeout_at, .. } => {
                            early(sent_at);
                            early(timeout_at);
                        }
                        Stage::Backoff { until } => early(until),
                    }
                }
            }
        }
        self.clock = Some(now);
    }

    /// A caller wants a token at `now`.
    #[must_use]
    pub fn get(&mut self, now: Now) -> Get {
        if self.cfg.is_none() {
            return Get::Fail(Error::Disposed);
        }
        self.handle_timeout(now);
        let now = now.mono;
        if let Some(t) = &self.token {
            return Get::Ready(t.clone());
        }
        if let Some(f) = &mut self.flight {
            f.joined = true;
            return Get::Wait(f.id);
        }
        if self.user() && self.session.refresh_token().is_none() {
            return Get::Fail(self.session.missing());
        }
        if let Some((until, e)) = &self.blocked {
            if now < *until {
                return Get::Fail(with_retry_after(e, now.until(*until)));
            }
            self.blocked = None;
        }
        Get::Wait(self.start_flight(now, true))
    }

    /// Where flight `id` stands.
    #[must_use]
    pub fn outcome(&self, id: FlightId) -> Outcome {
        match (&self.flight, &self.last) {
            (Some(f), _) if f.id == id => Outcome::Pending,
            (_, Some((last, r))) if *last == id => Outcome::Done(r.clone()),
            _ if self.cfg.is_none() => Outcome::Done(Err(Error::Disposed)),
            _ => Outcome::Gone,
        }
    }

    /// The answer to attempt `attempt` arrived at `now` (`Err(Error::Network)` if the
    /// request failed). Answers to attempts no longer current are ignored.
    pub fn handle_response(
        &mut self,
        attempt: AttemptId,
        result: Result<HttpResponse, Error>,
        now: Now,
        parse_url: ParseUrl<'_>,
    ) {
        self.tick(now);
        let Now { mono: now, wall } = now;
        let sent_at = match &self.flight {
            Some(Flight { stage: Stage::Sending { attempt: a, sent_at, .. }, .. }) if *a == attempt => *sent_at,
            _ => return,
        };
        // Discovery first: the metadata's answer gives the token endpoint, and the token
        // request goes at once (the flight's deadline and retries cover both).
        if let Some(Config { source: Source::Endpoint(ep), .. }) = &mut self.cfg {
            if let Some(d) = &mut ep.discover {
                use crate::proto::discovery::{read, read_resource, Read};
                // A protected resource's metadata first (RFC 9728): it names the issuer.
                if d.resource {
                    let named = match result {
                        Ok(resp) => read_resource(ep.resource.as_deref().unwrap_or_default(), &resp, parse_url),
                        Err(e) => Err(e),
                    };
                    match named {
                        Ok((issuer, urls)) => {
                            **d = super::config::Discover { issuer, urls, step: 0, resource: false };
                            self.send(now);
                        }
                        Err(e) => self.attempt_failed(e, now),
                    }
                    return;
                }
                let status = result.as_ref().map_or(0, |r| r.status);
                let read = match result {
                    Ok(resp) => read(&d.issuer, &resp, parse_url),
                    Err(e) => Read::Failed(e),
                };
                let issuer = d.issuer.clone();
                let failed = match read {
                    Read::Found(md) => ep.apply(md, issuer).err(),
                    Read::NotHere if d.step == 0 => {
                        d.step = 1;
                        None
                    }
                    Read::NotHere => Some(Error::Metadata {
                        what: crate::proto::error::AS_METADATA,
                        status,
                        reason: "there is none at either well-known location (RFC 8414, OpenID Connect Discovery)",
                    }),
                    Read::Failed(e) => Some(e),
                };
                #[cfg_attr(not(feature = "signin"), allow(unused_variables))]
                let discovered = ep.discover.is_none();
                match failed {
                    // Only the metadata was asked for: done (its waiters ask again).
                    #[cfg(feature = "signin")]
                    None if discovered && matches!(self.flight, Some(Flight { kind: Kind::Discover, .. })) => {
                        self.flight = None;
                        self.actions.insert(0, Action::Wake);
                    }
                    None => self.send(now),
                    Some(e) => self.attempt_failed(e, now),
                }
                return;
            }
        }
        let Some(cfg) = &self.cfg else { return };
        let Source::Endpoint(ep) = &cfg.source else { return };
        // A DPoP nonce is taken from every answer, a success included (RFC 9449 §8.2).
        let fresh_nonce = match (ep.dpop.as_ref().filter(|_| crate::proto::DPOP), &result) {
            (Some(target), Ok(HttpResponse { dpop_nonce: Some(n), .. })) => self.dpop.take_nonce(&target.origin, n),
            _ => false,
        };
        let skew = cfg.timing.refresh_skew;
        let user = crate::proto::SIGNIN && matches!(ep.grant, Grant::AuthorizationCode(_));
        let spacing = if ep.wire.spaced { MIN_INTERVAL.ms() } else { Millis(0) };
        match result.and_then(|resp| process_token_response(ep, &cfg.timing, &resp, wall)) {
            Ok(mut issued) => {
                if user {
                    self.session.rotated(issued.refresh_token.take());
                    if matches!(self.flight, Some(Flight { kind: Kind::Exchange { .. }, .. })) {
                        self.session.signed_in(issued.id_token.take());
                    }
                }
                // A broker's answers are not spaced (it single-flights upstream itself), but one
                // that repeats the token held taught nothing: its refresh point, halved with each
                // shorter life, would otherwise bring ever-closer asks as it runs out.
                let repeated = self.token.as_ref().is_some_and(|t| t.access_token.expose() == issued.access_token.expose());
                let spacing = if repeated { MIN_INTERVAL.ms() } else { spacing };
                let t = TokenSet::new(issued, sent_at, skew, TokenId(self.next()));
                self.token = Some(t.clone());
                self.cooldown_until = Instant(0);
                self.spaced_until = sent_at + spacing;
                self.blocked = None;
                self.actions.insert(0, Action::Token(t.clone()));
                if user {
                    let g = self.draw();
                    self.session.renewed(g);
                    self.actions.insert(0, Action::Share);
                }
                self.settle(Ok(t));
            }
            // A refused refresh token ends the session: sign in again (RFC 6749 §5.2).
            Err(e) if user && self.session.ends(&e) && matches!(self.flight, Some(Flight { kind: Kind::Token, .. })) => {
                let e = self.session.ended();
                self.actions.insert(0, Action::Error(e.clone()));
                self.end_session(e, true);
            }
            // The server wants a nonce and gave a new one: the same request again at once, with
            // a fresh proof, once per flight. Not a failure: no retry counted, no backoff.
            Err(e) if fresh_nonce && is_nonce_error(&e) && self.flight.as_ref().is_some_and(|f| !f.nonce_retried) => {
                if let Some(f) = &mut self.flight {
                    f.nonce_retried = true;
                }
                self.send(now);
            }
            Err(e) => self.attempt_failed(e, now),
        }
    }

    /// The timer fired (or a caller looked) at `now`; spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Now) {
        if self.cfg.is_none() {
            return;
        }
        self.tick(now);
        let now = now.mono;
        match self.flight.as_ref().map(|f| &f.stage) {
            Some(Stage::Sending { attempt, sent_at, timeout_at }) if now >= *timeout_at => {
                let after = sent_at.until(*timeout_at);
                self.actions.insert(0, Action::Abort(*attempt));
                let what = self.requested();
                self.attempt_failed(Error::Timeout { what, after }, now);
            }
            Some(Stage::Backoff { until }) if now >= *until => self.send(now),
            _ => {}
        }
        if self.token.as_ref().is_some_and(|t| now >= t.expires_at) {
            self.token = None;
            self.actions.insert(0, Action::Expired);
        }
        let due = self.token.as_ref().is_some_and(|t| now >= t.refresh_at);
        let can = !self.user() || self.session.refresh_token().is_some();
        if due && can && self.flight.is_none() && now >= self.cooldown_until.max(self.spaced_until) {
            self.start_flight(now, false);
        }
    }

    /// When the shell should call [`Machine::handle_timeout`], if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cfg.as_ref()?;
        let flight = self.flight.as_ref().map(|f| match f.stage {
            Stage::Sending { timeout_at, .. } => timeout_at,
            Stage::Backoff { until } => until,
        });
        let token = self.token.as_ref().map(|t| match &self.flight {
            None => t.refresh_at.max(self.cooldown_until).max(self.spaced_until).min(t.expires_at),
            Some(_) => t.expires_at,
        });
        // A token that never lapses (an API key) has no deadline to wake for.
        let token = token.filter(|at| *at != NEVER);
        match (flight, token) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What the shell may serve without asking, read at `now` (the reading of the input
    /// just handled): the current token, until when [`Machine::get`] would answer with it
    /// and change nothing (before the machine's next deadline), on both clocks. The
    /// decision stays here; the shell only compares numbers. `None`: ask.
    pub fn serving(&self, now: Now) -> Option<Serving<'_>> {
        self.cfg.as_ref()?;
        // No deadline at all: get() answers with this token for ever.
        let until = self.poll_timeout().unwrap_or(NEVER);
        let wall_until = if until == NEVER { WallMillis(u64::MAX) } else { now.wall_at(until) };
        Some(Serving { token: self.token.as_ref()?, until, wall_until })
    }

    /// Whether a caller awaits the flight (a Node timer for it must keep the process alive;
    /// one for a background refresh or expiry must not).
    pub fn keep_alive(&self) -> bool {
        self.flight.as_ref().is_some_and(|f| f.joined)
    }

    /// The next thing the shell must do.
    #[must_use]
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop()
    }

    /// Forgets the token (the caller's `invalidate()`). A request in flight was sent before
    /// this and is replaced by a new one: its waiters get the new request's result.
    pub fn invalidate(&mut self, now: Now) {
        self.tick(now);
        let now = now.mono;
        self.token = self.cfg.as_ref().and_then(super::sign::static_token);
        self.cooldown_until = Instant(0);
        self.spaced_until = Instant(0);
        self.blocked = None;
        let deadline = self.cfg.as_ref().map_or(Millis(0), |c| c.timing.deadline);
        if let Some(f) = &mut self.flight {
            if let Stage::Sending { attempt, .. } = f.stage {
                self.actions.insert(0, Action::Abort(attempt));
            }
            f.retries = 0;
            f.deadline = now + deadline;
            self.send(now);
        }
    }

    /// The API answered 401 to a request signed with token `token`. Forgets that token if
    /// the challenge says it was refused and it is still the current one (a newer token, or
    /// a replacement already in flight, is kept). Returns whether to replay the request
    /// once: only for a refused token, a body that can be sent again, and a token that
    /// can change (not an API key).
    ///
    /// See <https://www.rfc-editor.org/rfc/rfc6750#section-3.1>.
    pub fn unauthorized(&mut self, token: TokenId, www_authenticate: Option<&str>, replayable: bool) -> bool {
        let Some(cfg) = &self.cfg else { return false };
        // A DPoP nonce challenge (RFC 9449 §9) does not refuse the token: send again once,
        // with the nonce the answer carried (the shell gave it to take_nonce first).
        if self.dpop_target().is_some() && nonce_challenge(www_authenticate) {
            return replayable;
        }
        let scheme = if self.dpop_target().is_some() { "dpop" } else { "bearer" };
        if matches!(cfg.source, Source::ApiKey { .. }) || !scheme_refused(www_authenticate, scheme) {
            return false;
        }
        if self.token.as_ref().is_some_and(|t| t.id == token) {
            self.token = None;
            self.cooldown_until = Instant(0);
            self.spaced_until = Instant(0);
        }
        replayable
    }

    /// An API refused `token`, the user's, which a holder that is not this machine's caller
    /// names by value (a session object's edge, after a `/proxy/` call): as a 401 to a call
    /// signed with it ([`Machine::unauthorized`]), if it is still the one held (compared in
    /// constant time).
    pub fn refused_by_value(&mut self, token: &str) {
        let id = self.token.as_ref().filter(|t| crate::proto::encode::ct_eq(t.access_token.expose(), token)).map(|t| t.id);
        if let Some(id) = id {
            self.unauthorized(id, None, false);
        }
    }

    /// Another holder of this machine's token (an isolate of the broker, given it by this
    /// `TokenCache` object) says an API refused `token`: dropped if it is still the one
    /// held, so the next call gets a fresh one (a newer token, or one in flight, is kept).
    /// Compared in constant time. Whether it was dropped.
    pub fn refused_elsewhere(&mut self, token: &str) -> bool {
        let held = self.token.as_ref().is_some_and(|t| crate::proto::encode::ct_eq(t.access_token.expose(), token));
        if held {
            self.token = None;
            self.cooldown_until = Instant(0);
            self.spaced_until = Instant(0);
        }
        held
    }

    /// Aborts the request in flight, fails its waiters with `DISPOSED` and drops the
    /// configuration, secrets and token.
    pub fn dispose(&mut self) {
        self.session.forget();
        self.dpop.forget();
        if let Some(f) = self.flight.take() {
            if let Stage::Sending { attempt, .. } = f.stage {
                self.actions.insert(0, Action::Abort(attempt));
            }
            self.last = Some((f.id, Err(Error::Disposed)));
            self.actions.insert(0, Action::Wake);
        }
        self.cfg = None;
        self.token = None;
        self.blocked = None;
    }

    /// The generation of the tokens held (below 2^53, a JavaScript number): a page's refresh
    /// is sent holding the browser lock named after it and the client ([`HttpRequest::lock`]),
    /// and it goes to the other tabs with the tokens. 0 in a build without sign-in.
    pub fn generation(&self) -> u64 {
        self.session.generation()
    }

    /// Ends the user's session: tokens forgotten, a flight called off with `why`.
    fn end_session(&mut self, why: Error, expired: bool) {
        if expired && self.token.is_some() {
            self.actions.insert(0, Action::Expired);
        }
        self.token = None;
        self.session.forget();
        self.blocked = None;
        if let Some(Flight { stage: Stage::Sending { attempt, .. }, .. }) = &self.flight {
            self.actions.insert(0, Action::Abort(*attempt));
        }
        self.settle(Err(why));
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The next of the machine's numbers (xorshift64*): backoff jitter and the tokens'
    /// generations need spread, not secrecy.
    fn draw(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `[0, 1)`.
    fn jitter(&mut self) -> f64 {
        (self.draw() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A token flight: sent at once, or when [`MIN_INTERVAL`] since the last one has passed
    /// (its deadline counted from then).
    fn start_flight(&mut self, now: Instant, joined: bool) -> FlightId {
        let id = FlightId(self.next());
        let at = now.max(self.spaced_until);
        let deadline = at + self.cfg.as_ref().map_or(Millis(0), |c| c.timing.deadline);
        self.flight = Some(Flight {
            id,
            kind: Kind::Token,
            deadline,
            retries: 0,
            joined,
            nonce_retried: false,
            stage: Stage::Backoff { until: at },
        });
        if at <= now {
            self.send(now);
        }
        id
    }

    fn send(&mut self, now: Instant) {
        let attempt = AttemptId(self.next());
        let timeout = self.cfg.as_ref().map_or(Millis(0), |c| c.timing.timeout);
        if let Some(f) = &mut self.flight {
            let timeout_at = (now + timeout).min(f.deadline);
            f.stage = Stage::Sending { attempt, sent_at: now, timeout_at };
            self.actions.insert(0, Action::Send(attempt));
        }
    }

    fn attempt_failed(&mut self, e: Error, now: Instant) {
        let exchange = crate::proto::SIGNIN && matches!(self.flight, Some(Flight { kind: Kind::Exchange { .. }, .. }));
        let max_retries = if exchange { 0 } else { self.cfg.as_ref().map_or(0, |c| c.timing.max_retries) };
        let retries = self.flight.as_ref().map_or(0, |f| f.retries);
        let jitter = self.jitter();
        if let (Some(delay), Some(f)) = (retry_delay(&e, retries, max_retries, jitter), &mut self.flight) {
            let at = now + delay;
            if at < f.deadline {
                f.retries += 1;
                f.stage = Stage::Backoff { until: at };
                return;
            }
        }
        let wait = e.retry_after().map(|s| s.ms());
        self.actions.insert(0, Action::Error(e.clone()));
        match self.token.as_ref().filter(|t| now < t.expires_at).cloned() {
            Some(t) => {
                self.cooldown_until = now + COOLDOWN.max(wait.unwrap_or_default());
                self.settle(Ok(t));
            }
            None => {
                if let Some(w) = wait {
                    self.blocked = Some((now + w, e.clone()));
                }
                self.settle(Err(e));
            }
        }
    }

    fn settle(&mut self, result: Result<TokenSet, Error>) {
        if let Some(f) = self.flight.take() {
            self.last = Some((f.id, result));
            self.actions.insert(0, Action::Wake);
        }
    }
}

/// `e` with its `Retry-After` lowered to what is left of it.
fn with_retry_after(e: &Error, left: Millis) -> Error {
    let left = Some(left.secs_ceil());
    match e {
        Error::RateLimited { status, .. } => Error::RateLimited { status: *status, retry_after: left },
        Error::Http { status, detail, .. } => Error::Http { status: *status, detail, retry_after: left },
        other => other.clone(),
    }
}
