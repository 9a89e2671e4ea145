//! Capture timestamps.

use std::fmt;

/// A capture timestamp: nanoseconds since the Unix epoch.
///
/// Nanoseconds in an `i64` reach the year 2262, past pcapng's 32-bit-seconds
/// overflow in 2106, and keep every resolution pcap and pcapng can express
/// (`if_tsresol` finer than 1 ns is rounded down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Seconds since the epoch as a float, as Zeek prints `ts`.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds since the epoch at microsecond precision, as Zeek logs `ts`
    /// (so a JSON number prints as `1.570191`, not `1.5701911` float noise).
    pub fn as_micros_f64(self) -> f64 {
        self.0.div_euclid(1000) as f64 / 1e6
    }

    /// Nanoseconds elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0).max(0))
    }
}

impl fmt::Display for Timestamp {
    /// Formats as `seconds.microseconds`, the way Zeek logs `ts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        write!(f, "{secs}.{micros:06}")
    }
}

/// A non-negative span of time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    /// Builds a duration from whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs * 1_000_000_000)
    }

    /// The duration in seconds as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl fmt::Display for Duration {
    /// Formats as `seconds.microseconds`, the way Zeek logs `duration`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.0 / 1_000_000_000,
            (self.0 % 1_000_000_000) / 1000
        )
    }
}

/// The time a capture actually covers: the span from its first to its last
/// packet, less every silence longer than [`Coverage::MAX_GAP`]. One stray
/// packet two hours after a 30-second capture does not make it a two-hour
/// capture of anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Latest packet time so far.
    last: Option<Timestamp>,
    /// Time covered so far, in nanoseconds.
    covered: i64,
}

impl Coverage {
    /// A silence longer than this is a gap in the capture, not time it
    /// watched: a sync server is never quiet for two minutes (DNS, LDAP,
    /// Kerberos, HTTPS to Entra ID), so a capture that is was stopped,
    /// filtered, or cut.
    pub const MAX_GAP: Duration = Duration::from_secs(120);

    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a packet at `ts` (packets out of time order add nothing).
    pub fn add(&mut self, ts: Timestamp) {
        match self.last {
            Some(last) if ts > last => {
                let gap = ts.0.saturating_sub(last.0);
                if gap <= Self::MAX_GAP.0 {
                    self.covered = self.covered.saturating_add(gap);
                }
                self.last = Some(ts);
            }
            Some(_) => {}
            None => self.last = Some(ts),
        }
    }

    /// The time covered.
    pub fn covered(&self) -> Duration {
        Duration(self.covered)
    }
}

impl serde::Serialize for Timestamp {
    /// Serialized as float seconds rounded to the microsecond, as Zeek's JSON
    /// logs write `ts` (so `1.5701911` prints as `1.570191`, not float noise).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_micros_f64())
    }
}

impl serde::Serialize for Duration {
    /// Serialized as float seconds rounded to the microsecond, as Zeek's JSON logs write `duration`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.div_euclid(1000) as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_leaves_out_long_silences() {
        let mut c = Coverage::new();
        let s = |secs: i64| Timestamp(secs * 1_000_000_000);
        for t in [0, 10, 30, 29, 100] {
            c.add(s(t));
        }
        assert_eq!(
            c.covered(),
            Duration::from_secs(100),
            "29 s is out of order"
        );
        // Two hours of silence, then one packet: nothing more covered.
        c.add(s(100 + 7200));
        c.add(s(100 + 7200 + 5));
        assert_eq!(c.covered(), Duration::from_secs(105));
    }

    #[test]
    fn display_matches_zeek_microseconds() {
        assert_eq!(
            Timestamp::from_parts(1_300_000_000, 1_234_567).to_string(),
            "1300000000.001234"
        );
        assert_eq!(Timestamp(-1).to_string(), "-1.999999");
        assert_eq!(Duration(2_500_000_999).to_string(), "2.500000");
    }
}
