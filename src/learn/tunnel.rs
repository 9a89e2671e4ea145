//! Tunnels through an explicit proxy (`CONNECT host:port`) to the
//! catalogue's endpoints, followed until they close, for one way they fail:
//! the proxy cutting them after a fixed idle time. A sync export or a Service
//! Bus relay keeps a tunnel open and quiet for minutes while the cloud works;
//! a proxy that closes idle tunnels sooner breaks it, and the capture shows
//! the proxy's FIN or RST a fixed time after the last byte, tunnel after
//! tunnel.
//!
//! Only tunnels opened in the capture are followed (at most [`MAX_TUNNELS`]);
//! a segment on a port no followed tunnel's proxy listens on is passed over
//! with a compare ([`Tunnels::may_follow`]). Each close by the proxy is kept
//! with the idle time before it ([`Cut`]); whether the cuts show a fixed
//! timeout is decided at the end ([`Tunnels::finish`]).

use super::failure::{FailureKind, Failures};
use super::held::{Held, conn_key};
use crate::catalogue::Proto;
use crate::decode::tcp_flags::{FIN, RST};
use crate::time::Timestamp;
use std::net::IpAddr;

/// Tunnels followed at most.
pub const MAX_TUNNELS: usize = 1 << 16;
/// Cuts kept at most.
pub const MAX_CUTS: usize = 1 << 14;
/// Idle times shorter than this are not a timeout: the proxy closed a
/// tunnel it was done with.
pub const MIN_IDLE: i64 = 5_000_000_000;
/// The idle time a proxy must allow: Entra Connect's exports and the agents'
/// Service Bus relays keep a quiet tunnel open for minutes.
pub const REQUIRED_IDLE: i64 = 300_000_000_000;
/// Cuts at least this many, at about the same idle time, make a timeout.
pub const MIN_CUTS: usize = 2;

/// One tunnel being followed.
#[derive(Clone, Debug)]
struct Open {
    /// The `CONNECT` target.
    host: String,
    /// When its last payload byte was seen (either way).
    last_payload: Timestamp,
    /// Whether that payload was the client's: it then waited for an answer.
    client_spoke_last: bool,
}

/// A tunnel the proxy closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The tunnel's client.
    pub client: IpAddr,
    /// The proxy.
    pub proxy: IpAddr,
    /// The proxy's port.
    pub proxy_port: u16,
    /// The `CONNECT` target.
    pub host: String,
    /// Nanoseconds from the last payload to the proxy's FIN or RST.
    pub idle: i64,
    /// When the proxy closed it.
    pub ts: Timestamp,
    /// The client had spoken last: a request was waiting for its answer.
    pub in_flight: bool,
}

/// The tunnels being followed and the cuts seen.
#[derive(Clone, Debug, Default)]
pub struct Tunnels {
    open: Held<Open>,
    cuts: Vec<Cut>,
}

impl Tunnels {
    /// True when a segment between these ports may be of a followed tunnel.
    #[inline]
    pub fn may_follow(&self, sport: u16, dport: u16) -> bool {
        self.open.may_hold(sport, dport)
    }

    /// A `CONNECT` to `host` (a catalogue endpoint) from `client` to `proxy`.
    pub fn connect(
        &mut self,
        client: (IpAddr, u16),
        proxy: (IpAddr, u16),
        host: String,
        ts: Timestamp,
    ) {
        let key = conn_key(client, proxy);
        if self.open.len() >= MAX_TUNNELS || self.open.contains(&key) {
            return;
        }
        self.open.insert(
            key,
            Open {
                host,
                last_payload: ts,
                client_spoke_last: true,
            },
        );
    }

    /// One TCP segment from `src` to `dst` that may be of a tunnel.
    pub fn segment(
        &mut self,
        (src, dst): ((IpAddr, u16), (IpAddr, u16)),
        flags: u8,
        payload_len: u32,
        ts: Timestamp,
    ) {
        let Some((key, from_client)) = self.open.find(src, dst) else {
            return;
        };
        let Some(t) = self.open.get_mut(&key) else {
            return;
        };
        if payload_len > 0 {
            t.last_payload = ts;
            t.client_spoke_last = from_client;
        }
        if flags & (FIN | RST) == 0 {
            return;
        }
        if let Some(t) = self.open.remove(&key)
            && !from_client
            && self.cuts.len() < MAX_CUTS
        {
            self.cuts.push(Cut {
                client: key.0,
                proxy: key.2,
                proxy_port: key.3,
                host: t.host,
                idle: ts.0.saturating_sub(t.last_payload.0),
                ts,
                in_flight: t.client_spoke_last,
            });
        }
    }

    /// The cuts of each client and proxy that show a fixed idle timeout
    /// shorter than [`REQUIRED_IDLE`] become failures: the largest set of
    /// [`MIN_CUTS`] or more whose idle times lie within a second (or 5 %)
    /// of each other, all at least [`MIN_IDLE`].
    pub fn finish(mut self, failures: &mut Failures) {
        self.cuts
            .sort_by_key(|c| (c.client, c.proxy, c.proxy_port, c.idle, c.ts));
        for group in self
            .cuts
            .chunk_by(|a, b| (a.client, a.proxy, a.proxy_port) == (b.client, b.proxy, b.proxy_port))
        {
            // Sorted by idle time: the widest window of near-equal ones.
            let long: Vec<&Cut> = group.iter().filter(|c| c.idle >= MIN_IDLE).collect();
            let mut best = (0, 0);
            for (i, c) in long.iter().enumerate() {
                let near = (c.idle / 20).max(1_000_000_000);
                let n = long[i..]
                    .iter()
                    .take_while(|d| d.idle - c.idle <= near)
                    .count();
                if n > best.1 {
                    best = (i, n);
                }
            }
            let fixed = &long[best.0..best.0 + best.1];
            let Some(median) = fixed.get(fixed.len() / 2).map(|c| c.idle) else {
                continue;
            };
            if fixed.len() < MIN_CUTS || median >= REQUIRED_IDLE {
                continue;
            }
            record(failures, fixed, median);
        }
    }
}

/// One failure for the cuts of a fixed timeout.
fn record(failures: &mut Failures, fixed: &[&Cut], median: i64) {
    let Some(first) = fixed.first() else {
        return;
    };
    let (lo, hi) = fixed.iter().fold((i64::MAX, i64::MIN), |(lo, hi), c| {
        (lo.min(c.idle), hi.max(c.idle))
    });
    let mut hosts: Vec<&str> = fixed.iter().map(|c| c.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let in_flight = fixed.iter().filter(|c| c.in_flight).count();
    let secs = |ns: i64| format!("{:.1} s", ns as f64 / 1e9);
    let range = if secs(lo) == secs(hi) {
        String::new()
    } else {
        format!(" ({} to {})", secs(lo), secs(hi))
    };
    let detail = format!(
        "the proxy {} (port {}) closed {} tunnels to {} after {} idle each{range}, {} of them while \
         {} waited for an answer",
        first.proxy,
        first.proxy_port,
        fixed.len(),
        hosts.join(", "),
        secs(median),
        in_flight,
        first.client,
    );
    let (t0, t1) = fixed
        .iter()
        .fold((first.ts, first.ts), |(a, b), c| (a.min(c.ts), b.max(c.ts)));
    let name = hosts.first().map(|h| h.to_string());
    let ends = (first.client, first.proxy);
    if let Some(f) = failures.record(
        FailureKind::ProxyIdleCut,
        ends,
        (Proto::Tcp, first.proxy_port),
        detail,
        name,
        t0,
        None,
    ) {
        f.count = fixed.len() as u64;
        f.last = f.last.max(t1);
        f.disrupted = in_flight > 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::NameWatch;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const C: (&str, u16) = ("10.0.1.10", 0);
    const P: (&str, u16) = ("10.0.0.8", 8080);

    /// A tunnel from client port `cport` whose last payload comes at
    /// `last` s (from the client when `waiting`), then `close` from the
    /// proxy (or the client) at `end` s.
    fn tunnel(t: &mut Tunnels, cport: u16, last: i64, end: i64, waiting: bool, by_proxy: bool) {
        let s = |x: i64| Timestamp(x * 1_000_000_000);
        let (c, p) = ((ip(C.0), cport), (ip(P.0), P.1));
        t.connect(c, p, "login.microsoftonline.com".into(), s(0));
        t.segment((p, c), 0x18, 39, s(0));
        let data = if waiting { (c, p) } else { (p, c) };
        t.segment(data, 0x18, 500, s(last));
        let close = if by_proxy { (p, c) } else { (c, p) };
        t.segment(close, FIN | 0x10, 0, s(end));
    }

    fn failures(t: Tunnels) -> Vec<crate::learn::failure::Failure> {
        let mut f = Failures::default();
        t.finish(&mut f);
        f.finish(&NameWatch::default())
    }

    #[test]
    fn a_fixed_idle_timeout_is_one_failure_with_its_time() {
        let mut t = Tunnels::default();
        tunnel(&mut t, 50_000, 10, 70, true, true);
        tunnel(&mut t, 50_001, 100, 160, false, true);
        tunnel(&mut t, 50_002, 200, 260, false, true);
        // Closed at once after its answer: no timeout, not counted.
        tunnel(&mut t, 50_003, 300, 301, false, true);
        let f = failures(t);
        assert_eq!(f.len(), 1, "{f:?}");
        let f = &f[0];
        assert_eq!(
            (f.kind, f.count, f.disrupted, f.port),
            (FailureKind::ProxyIdleCut, 3, true, 8080)
        );
        assert!(
            f.detail
                .contains("closed 3 tunnels to login.microsoftonline.com after 60.0 s idle each"),
            "{}",
            f.detail
        );
        assert!(
            f.detail.contains("1 of them while 10.0.1.10 waited"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn the_timeout_is_found_among_other_closes() {
        let mut t = Tunnels::default();
        for (i, idle) in [8, 60, 200, 61, 400, 60, 150].into_iter().enumerate() {
            let start = i as i64 * 1000;
            tunnel(&mut t, 50_000 + i as u16, start, start + idle, false, true);
        }
        let f = failures(t);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].count, 3);
        assert!(
            f[0].detail
                .contains("after 60.0 s idle each (60.0 s to 61.0 s)"),
            "{}",
            f[0].detail
        );
    }

    #[test]
    fn scattered_long_or_client_closes_are_not_a_timeout() {
        for (idles, by_proxy) in [
            (vec![8, 40, 200], true),
            (vec![400, 400, 400], true),
            (vec![60, 60, 60], false),
            (vec![60], true),
        ] {
            let mut t = Tunnels::default();
            for (i, idle) in idles.iter().enumerate() {
                let start = i as i64 * 1000;
                tunnel(
                    &mut t,
                    50_000 + i as u16,
                    start,
                    start + idle,
                    false,
                    by_proxy,
                );
            }
            assert_eq!(failures(t), Vec::new(), "{idles:?} {by_proxy}");
        }
    }

    #[test]
    fn segments_of_other_ports_are_passed_over() {
        let mut t = Tunnels::default();
        assert!(!t.may_follow(50_000, 8080));
        t.connect((ip(C.0), 50_000), (ip(P.0), 8080), "x".into(), Timestamp(0));
        assert!(t.may_follow(50_000, 8080) && t.may_follow(8080, 50_000));
        assert!(!t.may_follow(50_000, 443));
    }
}
