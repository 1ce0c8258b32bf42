//! Time as types, so milliseconds, seconds and clock readings cannot be mixed up.
//!
//! The core reads no clock. The shell passes [`Instant`]s from a monotonic clock
//! (`performance.now()`), which no wall-clock jump (NTP, the user, a VM resume) can move;
//! `Date.now()` is used only to *report* `expiresAt`/`refreshAt` and to read HTTP dates.

use core::ops::{Add, Sub};

/// A point on the monotonic clock, in milliseconds from an arbitrary origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub u64);

/// A duration in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub u64);

/// A duration in whole seconds (what `expires_in`, `Retry-After` and options speak).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secs(pub u64);

/// Milliseconds since the Unix epoch (`Date.now()`): reported times, HTTP dates, and what is
/// stored on the wall clock (a session's end, a Durable Object's alarm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallMillis(pub u64);

/// Both clocks, read once by the shell for each input it gives a machine: every input
/// carries one, so no decision can be made on a clock the machine was not shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// The monotonic clock: what every deadline is measured on.
    pub mono: Instant,
    /// The wall clock: for reported times, HTTP dates, and to see a suspend.
    pub wall: WallMillis,
}

impl Now {
    /// Where `at` (on the monotonic clock) falls on the wall clock, read off this reading.
    pub fn wall_at(self, at: Instant) -> WallMillis {
        if at >= self.mono {
            WallMillis(self.wall.0.saturating_add(at.0 - self.mono.0))
        } else {
            WallMillis(self.wall.0.saturating_sub(self.mono.0 - at.0))
        }
    }
}

impl Secs {
    /// The same duration in milliseconds (saturating).
    pub const fn ms(self) -> Millis {
        Millis(self.0.saturating_mul(1000))
    }
}

impl Millis {
    /// Whole seconds, rounded up (a wait is never reported shorter than it is).
    pub const fn secs_ceil(self) -> Secs {
        Secs(self.0.div_ceil(1000))
    }
}

impl Instant {
    /// How long from `self` until `later` (zero if `later` is not later).
    pub fn until(self, later: Instant) -> Millis {
        Millis(later.0.saturating_sub(self.0))
    }
}

impl Add for Millis {
    type Output = Millis;
    fn add(self, d: Millis) -> Millis {
        Millis(self.0.saturating_add(d.0))
    }
}

impl Add<Millis> for Instant {
    type Output = Instant;
    fn add(self, d: Millis) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Millis> for Instant {
    type Output = Instant;
    fn sub(self, d: Millis) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}
