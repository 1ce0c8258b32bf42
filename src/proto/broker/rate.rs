//! Rate limiting: the Rate Limiting binding's verdict, else the isolate's own buckets.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::collections::BTreeMap;
use crate::proto::encode::push_u64;
use crate::proto::http::Reply;
use crate::proto::time::{Instant, Secs};

/// `429` with the wait a rate limit asks for.
pub fn rate_limited_reply(wait: Secs) -> Reply {
    let mut v = String::new();
    push_u64(&mut v, wait.0);
    Reply::error(429, "rate_limited", "too many requests; retry later").with("Retry-After", v)
}

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
