//! Throttling failed logins (DESIGN §3.7): a pause that grows with repeated failures, per account
//! and per address.

use crate::Timestamp;

/// The failures counted against one key (an account or an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    pub first_at: Timestamp,
    pub locked_until: Timestamp,
}

/// The longest pause, in seconds.
pub const MAX_PAUSE_SECS: i64 = 15 * 60;
/// The first pause, in seconds; it doubles with each further failure.
pub const FIRST_PAUSE_SECS: i64 = 30;

/// Seconds until another attempt may be made, if the key is paused now.
pub fn retry_after(f: Option<&Failures>, now: Timestamp) -> Option<i64> {
    let f = f?;
    if f.locked_until > now { Some(now.seconds_until(f.locked_until).max(1)) } else { None }
}

/// The failures after one more failed attempt. Failures older than `window_secs` are forgotten;
/// from the `limit`-th failure on, each failure pauses the key, twice as long as the last.
pub fn record_failure(f: Option<&Failures>, now: Timestamp, limit: i64, window_secs: i64) -> Failures {
    let (count, first_at) = match f {
        Some(f) if f.first_at.seconds_until(now) <= window_secs || f.locked_until > now => {
            (f.count + 1, f.first_at)
        }
        _ => (1, now),
    };
    let locked_until = if count >= limit {
        let doublings = u32::try_from((count - limit).min(16)).unwrap_or(16);
        let pause = FIRST_PAUSE_SECS.saturating_mul(1 << doublings).min(MAX_PAUSE_SECS);
        now.plus_seconds(pause)
    } else {
        Timestamp(0)
    };
    Failures { count, first_at, locked_until }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_n(n: i64, now: Timestamp) -> Option<Failures> {
        let mut f = None;
        for _ in 0..n {
            f = Some(record_failure(f.as_ref(), now, 5, 900));
        }
        f
    }

    #[test]
    fn four_failures_do_not_pause() {
        let now = Timestamp(1_000_000_000);
        assert_eq!(retry_after(fail_n(4, now).as_ref(), now), None);
    }

    #[test]
    fn the_fifth_failure_pauses_thirty_seconds() {
        let now = Timestamp(1_000_000_000);
        assert_eq!(retry_after(fail_n(5, now).as_ref(), now), Some(30));
    }

    #[test]
    fn pauses_double_up_to_fifteen_minutes() {
        let now = Timestamp(1_000_000_000);
        assert_eq!(retry_after(fail_n(6, now).as_ref(), now), Some(60));
        assert_eq!(retry_after(fail_n(30, now).as_ref(), now), Some(MAX_PAUSE_SECS));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let now = Timestamp(1_000_000_000);
        let f = fail_n(4, now);
        let later = now.plus_seconds(901);
        let f = record_failure(f.as_ref(), later, 5, 900);
        assert_eq!(f.count, 1);
    }

    #[test]
    fn a_pause_ends() {
        let now = Timestamp(1_000_000_000);
        let f = fail_n(5, now);
        assert_eq!(retry_after(f.as_ref(), now.plus_seconds(31)), None);
    }
}
