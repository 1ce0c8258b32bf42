//! The retry schedule: which failures are retried, and after how long.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::Error;
use super::Millis;

/// A `Retry-After` longer than this fails at once with `RATE_LIMITED`.
pub const MAX_RETRY_AFTER_SECS: u64 = 60;
/// The first backoff step; doubles per retry.
pub const BASE_DELAY_MS: Millis = 500;
/// The largest backoff step.
pub const MAX_DELAY_MS: Millis = 8_000;

/// How long to wait before retrying after `err`, or `None` to give up with `err`.
///
/// Network errors, 429 and 5xx are retried up to `max_retries` times with exponential
/// backoff and "equal jitter" (half the step fixed, half random): `retries_done` is how many
/// retries were already made, `jitter` a random number in `[0, 1)` from the shell. A
/// `Retry-After` is honoured as a lower bound; one longer than a minute is not waited for.
/// OAuth errors, timeouts and invalid responses are never retried.
pub fn retry_delay(err: &Error, retries_done: u32, max_retries: u32, jitter: f64) -> Option<Millis> {
    if retries_done >= max_retries {
        return None;
    }
    let step = BASE_DELAY_MS
        .checked_shl(retries_done)
        .unwrap_or(MAX_DELAY_MS)
        .min(MAX_DELAY_MS);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    let backoff = step / 2 + (jitter * (step / 2) as f64) as Millis;
    match err {
        Error::Network => Some(backoff),
        Error::Http { status, .. } if *status >= 500 => Some(backoff),
        Error::RateLimited { retry_after, .. } => match retry_after {
            Some(s) if *s > MAX_RETRY_AFTER_SECS => None,
            Some(s) => Some(backoff.max(s * 1000)),
            None => Some(backoff),
        },
        _ => None,
    }
}
