//! The token cache: a state machine driven by the shell, with time passed in.
//!
//! Modelled on quinn-proto's `Connection`: the shell asks [`Cache::lookup`] what to do,
//! reports results with [`Cache::complete`], and arms one timer from
//! [`Cache::poll_timeout`], calling [`Cache::handle_timeout`] when it fires (spurious calls
//! are harmless). Timers are only an optimisation: every lookup re-checks the clock.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::Error;
use super::response::TokenSet;
use super::Millis;

/// Identifies one token request; hand it back to [`Cache::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    id: u64,
    generation: u64,
}

/// What a caller who wants a token should do.
#[derive(Debug)]
pub enum Lookup {
    /// Use this token; it is not due for refresh.
    Fresh(TokenSet),
    /// Send a token request now (you are the only one); everyone else will [`Lookup::Join`].
    Fetch(Ticket),
    /// A token request is already in flight: wait for its result.
    Join,
}

/// The outcome of a token request, for everyone who waited on it.
#[derive(Debug)]
pub enum Completion {
    /// A new token; `stored` says whether it replaced the cache (it does not if the
    /// cache was invalidated while the request was in flight).
    Token {
        /// The token.
        token: TokenSet,
        /// Whether the cache now holds it (emit `"token"`).
        stored: bool,
    },
    /// The refresh failed but the old token is still unexpired: use it, report the error.
    Fallback {
        /// The still-valid old token.
        token: TokenSet,
        /// Why the refresh failed.
        error: Error,
    },
    /// The request failed and there is no valid token.
    Failed(Error),
}

/// What a fired timer means.
#[derive(Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// Nothing is due (a spurious or stale wake-up).
    Nothing,
    /// The token lapsed with no replacement (emit `"expired"`).
    Expired,
    /// Refresh proactively now.
    Refresh(Ticket),
}

/// The cached token and single-flight bookkeeping.
#[derive(Debug, Default)]
pub struct Cache {
    token: Option<TokenSet>,
    /// Bumped by [`Cache::invalidate`]; results of older requests are not stored.
    generation: u64,
    in_flight: Option<Ticket>,
    next_id: u64,
    /// The timer already asked for a proactive refresh of the current token; after that
    /// the next deadline is expiry (a failed background refresh is not retried in a loop).
    refresh_requested: bool,
}

impl Cache {
    /// Drops the token if it has expired at `now`; returns whether it did (emit
    /// `"expired"`).
    pub fn expire(&mut self, now: Millis) -> bool {
        if self.token.as_ref().is_some_and(|t| now >= t.expires_at) {
            self.token = None;
            return true;
        }
        false
    }

    /// What a caller wanting a token at `now` should do. Call [`Cache::expire`] first.
    pub fn lookup(&mut self, now: Millis) -> Lookup {
        match &self.token {
            Some(t) if now < t.refresh_at => Lookup::Fresh(t.clone()),
            _ if self.in_flight.is_some() => Lookup::Join,
            _ => Lookup::Fetch(self.start()),
        }
    }

    /// Whether `ticket` is the request currently in flight.
    pub fn is_in_flight(&self, ticket: Ticket) -> bool {
        self.in_flight == Some(ticket)
    }

    fn start(&mut self) -> Ticket {
        self.next_id += 1;
        let t = Ticket {
            id: self.next_id,
            generation: self.generation,
        };
        self.in_flight = Some(t);
        t
    }

    /// Records the result of the request `ticket` at `now`.
    pub fn complete(
        &mut self,
        ticket: Ticket,
        result: Result<TokenSet, Error>,
        now: Millis,
    ) -> Completion {
        if self.in_flight == Some(ticket) {
            self.in_flight = None;
        }
        let current = ticket.generation == self.generation;
        match result {
            Ok(mut token) => {
                self.next_id += 1;
                token.id = self.next_id;
                if current {
                    self.token = Some(token.clone());
                    self.refresh_requested = false;
                }
                Completion::Token {
                    token,
                    stored: current,
                }
            }
            Err(error) => match &self.token {
                Some(t) if current && now < t.expires_at => Completion::Fallback {
                    token: t.clone(),
                    error,
                },
                _ => Completion::Failed(error),
            },
        }
    }

    /// Forgets the token; a request in flight is not joined any more and its result will
    /// not be stored. The next lookup starts a new request.
    pub fn invalidate(&mut self) {
        self.token = None;
        self.in_flight = None;
        self.generation += 1;
    }

    /// Invalidates only if the cached token is still the one with `token_id` (after a 401
    /// with it); a newer token is kept.
    pub fn invalidate_token(&mut self, token_id: u64) {
        if self.token.as_ref().map_or(true, |t| t.id == token_id) {
            self.invalidate();
        }
    }

    /// When the shell should call [`Cache::handle_timeout`], if at all.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let t = self.token.as_ref()?;
        Some(if self.refresh_requested || t.refresh_at >= t.expires_at {
            t.expires_at
        } else {
            t.refresh_at
        })
    }

    /// Handles the timer at `now`.
    pub fn handle_timeout(&mut self, now: Millis) -> TimerAction {
        if self.expire(now) {
            return TimerAction::Expired;
        }
        match &self.token {
            Some(t) if now >= t.refresh_at && !self.refresh_requested => {
                self.refresh_requested = true;
                if self.in_flight.is_some() {
                    TimerAction::Nothing
                } else {
                    TimerAction::Refresh(self.start())
                }
            }
            _ => TimerAction::Nothing,
        }
    }
}
