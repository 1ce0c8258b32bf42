//! The user session, the sign-in build's part of the [`Machine`]: a user's tokens from the
//! code exchange to sign-out (RFC 6749 §4.1, refresh tokens §6, revocation RFC 7009), shared
//! with the other tabs ([`Snapshot`], [`Machine::restore_shared`]) under the lock of their
//! generation, and the metadata discovery a sign-in starts from (RFC 8414). The builds
//! without sign-in do not compile this module (one `cfg`, at its `mod` line); their
//! machine answers `user()` false, so no other path reaches a user's session.

#[allow(unused_imports)]
use crate::prelude::*;

use super::*;

/// How long a browser tab that refreshed a user's tokens keeps the refresh token's Web Lock
/// (js/signin.js `postTokenLocked`): a tab that missed the new tokens cannot spend the
/// rotated refresh token again meanwhile.
pub const LOCK_HOLD: Millis = Millis(60_000);

/// How long the tab that sent a refresh keeps its lock, by the answer's `status`: a
/// success may have rotated the refresh token, so [`LOCK_HOLD`]; a refusal spent nothing
/// (another tab may try its own refresh token at once).
pub fn lock_hold(status: u16) -> Millis {
    if (200..300).contains(&status) {
        LOCK_HOLD
    } else {
        Millis(0)
    }
}

/// Below this much life left, a [`Snapshot`]'s access token is not worth taking up (its
/// refresh token still is).
pub const MIN_RESTORE: Millis = Millis(1_000);

/// The generation another tab sent, as the JavaScript number it crossed as: an integer
/// from 0 to 2^53 − 1, else none (NaN, negative, fractional or too large: only same-origin
/// code can send one, and it must not become some other lock's name).
pub fn generation_of(n: f64) -> Option<u64> {
    let g = n as u64; // saturating: NaN and negatives become 0, which the comparison refuses
    (g as f64 == n && g < 1 << 53).then_some(g)
}

/// A user's session as it leaves a machine, for another tab or for storage. Its expiry is
/// on the wall clock: the reader's monotonic clock is not the writer's.
#[derive(Debug)]
pub struct Snapshot {
    /// The access token; `None` once it lapsed while the refresh token is still good.
    pub access_token: Option<AccessToken>,
    /// The refresh token, if the server issued one.
    pub refresh_token: Option<RefreshToken>,
    /// The granted scope.
    pub scope: Option<String>,
    /// When the access token expires (0 without one).
    pub expires_at: WallMillis,
}

/// What [`Machine::restore`] took up.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// Nothing: this machine keeps what it has.
    Nothing,
    /// The refresh token alone (the access token had lapsed): the next call refreshes.
    Refresh,
    /// The access token (with its refresh token), held as this token.
    Token(TokenId),
}

impl Restored {
    /// Whether anything was taken up.
    pub fn taken(self) -> bool {
        self != Restored::Nothing
    }

    /// The id of the token taken up, if one was.
    pub fn token(self) -> Option<TokenId> {
        match self {
            Restored::Token(id) => Some(id),
            _ => None,
        }
    }
}

/// A signed-in user's session (the sign-in builds' [`SessionPart`]): the refresh token,
/// the last sign-in's ID token, and the generation of the tokens. The machine holds the
/// access token itself, as it does every client's.
#[derive(Debug)]
pub struct UserSession {
    /// The refresh token (authorization code grant): the session, while it lasts.
    refresh: Option<RefreshToken>,
    /// The ID token of the last sign-in, until the shell has checked its nonce.
    id_token: Option<IdToken>,
    /// The generation of the tokens (53 bits): a new one with each set the server gives,
    /// the other tab's with a set taken up from it. A page's refresh is sent holding the
    /// browser lock named after the client and it ([`Machine::generation`]), so the tabs
    /// that hold one refresh token queue on one lock and never spend it twice.
    generation: u64,
}

impl UserSession {
    /// No session; the generation, each client's own until it takes another tab's tokens
    /// up, from `seed`.
    pub fn new(seed: u64) -> UserSession {
        UserSession { refresh: None, id_token: None, generation: seed >> 11 }
    }

    /// The refresh token, if one is held.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh.as_ref()
    }

    /// The generation of the tokens held.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The error a sign-in client's call for a token gets when no session is held.
    pub fn missing(&self) -> Error {
        Error::LoginRequired { reason: "no user is signed in" }
    }

    /// Whether a refresh that got `e` ends the session: `invalid_grant`, the refresh token
    /// refused (RFC 6749 §5.2). Anything else is retried or reported as it is.
    pub fn ends(&self, e: &Error) -> bool {
        matches!(e, Error::OAuth { error, .. } if error == "invalid_grant")
    }

    /// The error of a session a refused refresh token ended ([`UserSession::ends`]).
    pub fn ended(&self) -> Error {
        Error::LoginRequired { reason: "the refresh token was refused (invalid_grant)" }
    }

    /// The server gave the user new tokens, with this refresh token or none (rotated: the
    /// old one is spent; without one, the old one stays).
    pub fn rotated(&mut self, refresh: Option<RefreshToken>) {
        if let Some(rt) = refresh {
            self.refresh = Some(rt);
        }
    }

    /// The tokens are new: their generation is drawn from `draw`.
    pub fn renewed(&mut self, draw: u64) {
        self.generation = draw >> 11;
    }

    /// A sign-in's code exchange gave this ID token (or none), for the shell's nonce check.
    pub fn signed_in(&mut self, id_token: Option<IdToken>) {
        self.id_token = id_token;
    }

    /// Forgets the session (sign-out, a refused refresh token, dispose).
    pub fn forget(&mut self) {
        self.refresh = None;
        self.id_token = None;
    }
}

impl Machine {
    /// Whether a user's session is held: a token, or a refresh token to get one.
    pub fn is_authorized(&self) -> bool {
        self.token.is_some() || self.session.refresh.is_some()
    }

    /// The held token and refresh token, for sharing with other tabs ([`Action::Share`]).
    pub fn session(&self) -> Option<(&TokenSet, Option<&RefreshToken>)> {
        Some((self.token.as_ref()?, self.session.refresh.as_ref()))
    }

    /// The last sign-in's ID token, once, for the shell to read its `nonce`.
    pub fn take_id_token(&mut self) -> Option<IdToken> {
        self.session.id_token.take()
    }

    /// Redeems a sign-in's authorization `code` with its PKCE `verifier`: a flight the
    /// caller waits for. A sign-in replaces whatever session was held.
    #[must_use = "the exchange is a flight: wait for its outcome"]
    pub fn exchange(&mut self, code: String, verifier: String, now: Now) -> Result<FlightId, Error> {
        self.tick(now);
        let now = now.mono;
        if !self.user() {
            return Err(Error::config("grant", "completeAuthorization() needs grant \"authorization_code\""));
        }
        self.end_session(Error::LoginRequired { reason: "a new sign-in replaced this session" }, false);
        let id = self.start_flight(now, true);
        if let Some(f) = &mut self.flight {
            f.kind = Kind::Exchange { code: AuthorizationCode::new(code), verifier: CodeVerifier::new(verifier) };
        }
        Ok(id)
    }

    /// The user's session as it leaves this machine (to another tab, or to storage) at
    /// `now`, and the id of the token it holds.
    #[must_use]
    pub fn snapshot(&mut self, now: Now) -> Option<(Option<TokenId>, Snapshot)> {
        self.tick(now);
        if !self.user() {
            return None;
        }
        let refresh_token = self.session.refresh.clone();
        // A token past its expiry (the timer that drops it has not fired yet) is no session.
        match self.token.as_ref().filter(|t| now.mono < t.expires_at) {
            Some(t) => Some((
                Some(t.id),
                Snapshot {
                    access_token: Some(t.access_token.clone()),
                    refresh_token,
                    scope: t.scope.clone(),
                    expires_at: now.wall_at(t.expires_at),
                },
            )),
            // The access token lapsed; the refresh token is the session (and must not be lost).
            None => refresh_token.map(|rt| (None, Snapshot { access_token: None, refresh_token: Some(rt), scope: None, expires_at: WallMillis(0) })),
        }
    }

    /// [`Machine::restore`] of another tab's tokens and their `generation`: when anything
    /// is taken, the generation is too, so this tab's next refresh queues on the lock of the
    /// tab it took them from. One that is not a generation (absent, 2^53 or more) leaves
    /// this machine's own.
    #[must_use = "what was taken decides whether storage is current"]
    pub fn restore_shared(&mut self, snapshot: Snapshot, generation: Option<u64>, now: Now) -> Restored {
        let r = self.restore(snapshot, now);
        if let Some(g) = generation.filter(|g| r.taken() && *g < 1 << 53) {
            self.session.generation = g;
        }
        r
    }

    /// Takes up a [`Snapshot`] (another tab's [`Action::Share`], or what storage held) at
    /// `now`: held as if this machine had fetched it, with the life it has left.
    /// A refresh in flight here is called off; its waiters get these tokens. Nothing is
    /// taken by a client that signs no one in, during this machine's own sign-in, or when
    /// this machine holds a token that lasts as long (a tab answering late with an older
    /// session, whose refresh token was spent since, must not replace this one). With less
    /// than [`MIN_RESTORE`] left (or no access token), the refresh token alone is taken up
    /// by a machine that holds no session: a session restored after any idle time, or a new
    /// tab joining one whose access token lapsed, refreshes instead of signing in again.
    #[must_use = "what was taken decides whether storage is current"]
    pub fn restore(&mut self, snapshot: Snapshot, now: Now) -> Restored {
        self.tick(now);
        let left = Millis(snapshot.expires_at.0.saturating_sub(now.wall.0));
        let now = now.mono;
        if !self.user() || matches!(self.flight, Some(Flight { kind: Kind::Exchange { .. }, .. })) {
            return Restored::Nothing;
        }
        let access_token = match snapshot.access_token {
            Some(at) if left >= MIN_RESTORE => at,
            _ => {
                return match snapshot.refresh_token {
                    Some(rt) if self.token.is_none() && self.session.refresh.is_none() => {
                        self.session.refresh = Some(rt);
                        self.cooldown_until = Instant(0);
                        self.blocked = None;
                        Restored::Refresh
                    }
                    _ => Restored::Nothing,
                };
            }
        };
        if self.token.as_ref().is_some_and(|t| now + left <= t.expires_at) {
            return Restored::Nothing;
        }
        let skew = self.cfg.as_ref().map_or(Millis(0), |c| c.timing.refresh_skew);
        if let Some(rt) = snapshot.refresh_token {
            self.session.refresh = Some(rt);
        }
        let t = TokenSet::lasting(access_token, snapshot.scope, now, left, skew, TokenId(self.next()));
        if let Some(Flight { stage: Stage::Sending { attempt, .. }, .. }) = &self.flight {
            self.actions.insert(0, Action::Abort(*attempt));
        }
        self.token = Some(t.clone());
        self.cooldown_until = Instant(0);
        self.blocked = None;
        self.actions.insert(0, Action::Token(t.clone()));
        let id = t.id;
        self.settle(Ok(t));
        Restored::Token(id)
    }

    /// Forgets the user's session (signing out, here or in another tab) and returns the
    /// RFC 7009 revocation request to send for it, if the server has an endpoint: the
    /// refresh token if one is held (revoking it revokes its access tokens too), else the
    /// access token.
    #[must_use]
    pub fn sign_out(&mut self) -> Option<HttpRequest> {
        let revoke = match (&self.session.refresh, &self.token) {
            (Some(rt), _) => self.revocation(rt.expose(), "refresh_token"),
            (None, Some(t)) => self.revocation(t.access_token.expose(), "access_token"),
            (None, None) => None,
        };
        self.end_session(Error::LoginRequired { reason: "signed out" }, false);
        revoke
    }

    /// The RFC 7009 revocation request for `token` (its `token_type_hint` is `hint`) at this
    /// sign-in client's revocation endpoint, if it has one: also for tokens obtained with
    /// this client's tokens (a session's exchanged tokens, revoked with it).
    #[must_use]
    pub fn revocation(&self, token: &str, hint: &str) -> Option<HttpRequest> {
        let Some(Config { source: Source::Endpoint(ep), .. }) = &self.cfg else { return None };
        match &ep.grant {
            Grant::AuthorizationCode(ac) => ac.revocation_url.as_deref().map(|url| ep.request(self.runtime, Call::Revoke { url, token, hint })),
            _ => None,
        }
    }

    /// The endpoints are still to be discovered: the flight to wait for (the one already
    /// running, or a new one that fetches the metadata only), else `None`. A sign-in asks
    /// this before building its authorization URL or checking its callback.
    #[must_use]
    pub fn discover(&mut self, now: Now) -> Option<FlightId> {
        let Some(Config { source: Source::Endpoint(ep), .. }) = &self.cfg else { return None };
        ep.discover.as_ref()?;
        self.tick(now);
        if let Some(f) = &mut self.flight {
            f.joined = true;
            return Some(f.id);
        }
        let id = self.start_flight(now.mono, true);
        if let Some(f) = &mut self.flight {
            f.kind = Kind::Discover;
        }
        Some(id)
    }
}
