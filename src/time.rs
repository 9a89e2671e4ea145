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

    /// Microseconds since the epoch, rounded to the nearest (half up): a
    /// nanosecond time shown at microsecond precision, as people read it
    /// (`.591932741` is `.591933`).
    pub fn round_micros(self) -> i64 {
        self.0.saturating_add(500).div_euclid(1000)
    }

    /// [`Timestamp::round_micros`] as float seconds, for summaries that show
    /// the same time as the text formats (capture `first_ts`/`last_ts`).
    pub fn as_rounded_micros_f64(self) -> f64 {
        self.round_micros() as f64 / 1e6
    }

    /// Shown as Zeek logs `ts` (`1700000000.001000`), for Zeek's conn.log and CSV.
    pub fn zeek(self) -> ZeekTime {
        ZeekTime(self)
    }

    /// Nanoseconds elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0).max(0))
    }
}

impl fmt::Display for Timestamp {
    /// Formats for people as UTC ISO 8601 at microsecond precision, rounded
    /// (not truncated): `2023-11-14T22:13:20.123457Z`. Every text format uses
    /// this one form; machine formats use [`Timestamp::zeek`] or JSON numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.round_micros();
        let (y, mo, d, h, mi, s) = civil(micros.div_euclid(1_000_000));
        let frac = micros.rem_euclid(1_000_000);
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}Z")
    }
}

/// A [`Timestamp`] shown the way Zeek logs `ts`: `seconds.microseconds`, the
/// sub-microsecond part dropped as libpcap drops it when Zeek reads a
/// nanosecond capture. From [`Timestamp::zeek`].
#[derive(Clone, Copy, Debug)]
pub struct ZeekTime(Timestamp);

impl fmt::Display for ZeekTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.0.div_euclid(1_000_000_000);
        let micros = self.0.0.rem_euclid(1_000_000_000) / 1000;
        write!(f, "{secs}.{micros:06}")
    }
}

/// Splits Unix seconds into UTC calendar fields `(year, month, day, hour,
/// minute, second)` (Howard Hinnant's days-from-civil inverse).
pub(crate) fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
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
    fn zeek_form_truncates_to_microseconds_as_zeek_logs() {
        assert_eq!(
            Timestamp::from_parts(1_300_000_000, 1_234_567)
                .zeek()
                .to_string(),
            "1300000000.001234"
        );
        assert_eq!(Timestamp(-1).zeek().to_string(), "-1.999999");
        assert_eq!(Duration(2_500_000_999).to_string(), "2.500000");
    }

    /// Independent values: `date -u -d @SECS +%FT%T`.
    #[test]
    fn display_is_iso_8601_utc_rounded_to_the_microsecond() {
        assert_eq!(
            Timestamp::from_parts(1_700_000_000, 1_234_567).to_string(),
            "2023-11-14T22:13:20.001235Z"
        );
        // Rounding carries into the seconds, minutes, ... and the date.
        assert_eq!(
            Timestamp::from_parts(1_700_006_399, 999_999_500).to_string(),
            "2023-11-15T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_parts(1_700_006_399, 999_999_499).to_string(),
            "2023-11-14T23:59:59.999999Z"
        );
        assert_eq!(Timestamp(-1).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp(-501).to_string(), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn civil_dates_match_known_epochs() {
        // Independent values: `date -u -d @SECS`.
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
    }
}
