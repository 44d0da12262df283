//! Time: stored as UTC microseconds since the Unix epoch, shown in Asia/Tokyo (UTC+9, no DST).
//! Code that needs "now" asks an injected [`Clock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A point in time, UTC, microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

const JST: time::UtcOffset = time::macros::offset!(+9);

impl Timestamp {
    pub fn from_micros(us: i64) -> Self {
        Self(us)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, s: i64) -> Self {
        Self(self.0.saturating_add(s.saturating_mul(1_000_000)))
    }

    pub fn seconds_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0) / 1_000_000
    }

    fn to_offset(self, offset: time::UtcOffset) -> time::OffsetDateTime {
        let nanos = i128::from(self.0) * 1000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset)
    }

    /// The moment in Japan time (Asia/Tokyo has no daylight saving: UTC+9 always).
    pub fn in_jst(self) -> time::OffsetDateTime {
        self.to_offset(JST)
    }

    /// The calendar day in Japan, `2026-11-24`.
    pub fn jst_day(self) -> String {
        let f = time::macros::format_description!("[year]-[month]-[day]");
        self.to_offset(JST).format(&f).unwrap_or_default()
    }

    /// `2026-11-24 09:41` in Japan time.
    pub fn jst_minutes(self) -> String {
        let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
        self.to_offset(JST).format(&f).unwrap_or_default()
    }

    /// RFC 3339 in UTC, for logs, exports and the API.
    pub fn rfc3339(self) -> String {
        self.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }
}

/// A clock tests can move forward.
#[derive(Debug, Clone, Default)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    pub fn at(t: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(t.0)))
    }

    pub fn advance_seconds(&self, s: i64) {
        self.0.fetch_add(s * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_shown_in_japan_time() {
        // 2026-11-24T00:30:00Z is 09:30 in Tokyo.
        let t = Timestamp(1_795_480_200_000_000);
        assert_eq!(t.rfc3339(), "2026-11-24T00:30:00Z");
        assert_eq!(t.jst_minutes(), "2026-11-24 09:30");
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let c = FixedClock::at(Timestamp(0));
        assert_eq!(c.now(), Timestamp(0));
        c.advance_seconds(2);
        assert_eq!(c.now(), Timestamp(2_000_000));
    }
}
