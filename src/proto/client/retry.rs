//! The retry schedule: which failures are retried, and after how long.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::error::Error;
use crate::proto::time::Millis;

/// The first backoff step; doubles per retry.
pub const BASE_DELAY: Millis = Millis(500);
/// The largest backoff step.
pub const MAX_DELAY: Millis = Millis(8_000);

/// How long to wait before retrying after `err`, or `None` to give up with `err`.
///
/// Network errors, timeouts, 429 and 5xx are retried up to `max_retries` times with
/// exponential backoff and "equal jitter" (half the step fixed, half random):
/// `retries_done` is how many retries were already made, `jitter` a number in `[0, 1)`.
/// A `Retry-After` (on 429 or 503) is honoured as a lower bound. OAuth errors, other 4xx
/// and invalid responses are never retried. The caller also gives up when the wait would
/// pass its deadline.
pub fn retry_delay(err: &Error, retries_done: u32, max_retries: u32, jitter: f64) -> Option<Millis> {
    if retries_done >= max_retries {
        return None;
    }
    let step = BASE_DELAY.0.checked_shl(retries_done).unwrap_or(MAX_DELAY.0).min(MAX_DELAY.0);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    let backoff = Millis(step / 2 + (jitter * (step / 2) as f64) as u64);
    let at_least = |retry_after: &Option<crate::proto::time::Secs>| Some(backoff.max(retry_after.unwrap_or_default().ms()));
    match err {
        Error::Network { .. } | Error::Timeout { .. } => Some(backoff),
        Error::RateLimited { retry_after, .. } => at_least(retry_after),
        Error::Http { status, retry_after, .. } if *status >= 500 => at_least(retry_after),
        // Discovery: the metadata location failing or rate limiting.
        Error::Metadata { status: 429 | 500..=599, .. } => Some(backoff),
        _ => None,
    }
}
