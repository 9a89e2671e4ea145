//! Finished connections packed into a few dozen bytes each, for holding
//! millions of them until the end of a capture.
//!
//! The audit holds connections back when it cannot judge them yet: without an
//! inventory until the roles are known, and with one those whose unlisted end
//! a later name may place. A [`Connection`] is 248 bytes plus its SYN
//! times on the heap; most of it is zeros, small counts and times close to
//! the connection before. [`Packed`] writes each one as variable-length
//! integers into one growing byte buffer (times as differences from the
//! previous connection's start, the uid's base62 digits six bits each)
//! and reads them back, in order, exactly as they went in: an
//! unanswered SYN takes 48 bytes instead of about 280, so ten million held
//! connections fit in the memory one million took.
//!
//! The format is private to this process (never written to disk), so it has
//! no version and no compatibility to keep; the round-trip property test is
//! its specification.

use super::{CompactString, Connection, Handshake, IcmpError};
use crate::decode::Transport;
use crate::time::{Duration, Timestamp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Zeek's conn_state values, by their index in the packed form.
const STATES: [&str; 13] = [
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];

/// Handshake verdicts, by their index in the packed form ([`handshake_index`]).
const HANDSHAKES: [Handshake; 8] = [
    Handshake::Established,
    Handshake::Rejected,
    Handshake::Unanswered,
    Handshake::IcmpUnreachable,
    Handshake::Midstream,
    Handshake::ClosedEarly,
    Handshake::Answered,
    Handshake::None,
];

/// The index of `h` in [`HANDSHAKES`]; a match, so a new verdict cannot be forgotten here.
fn handshake_index(h: Handshake) -> u8 {
    match h {
        Handshake::Established => 0,
        Handshake::Rejected => 1,
        Handshake::Unanswered => 2,
        Handshake::IcmpUnreachable => 3,
        Handshake::Midstream => 4,
        Handshake::ClosedEarly => 5,
        Handshake::Answered => 6,
        Handshake::None => 7,
    }
}

// Bits of the flags byte that opens each connection.
const ORIG_V6: u8 = 1;
const RESP_V6: u8 = 1 << 1;
const HAS_ICMP: u8 = 1 << 2;
const HAS_VLAN: u8 = 1 << 3;
const HAS_INNER_VLAN: u8 = 1 << 4;
/// The uid is `C` and 17 base62 digits (the tracker's, and Zeek's usual
/// form), stored as their value; otherwise as its bytes.
const UID_BASE62: u8 = 1 << 5;
/// conn_state is not one of Zeek's (a log's odd value): stored as text.
const STATE_TEXT: u8 = 1 << 6;

use super::uid::BASE62;

/// Bytes a chunk of [`Packed`] fills before the next one starts: small
/// enough that a chunk's doubling never adds much, large enough that
/// chunks are few.
const CHUNK: usize = 1 << 20;

/// Connections packed one after another, read back in the order written.
///
/// In chunks of about a mebibyte, each holding whole connections:
/// one growing buffer would double (the last doubling alone leaves up to
/// half of it spare and, while it copies, holds both), and chunks are freed
/// one by one as they are read, while the audit's tables grow.
#[derive(Debug, Default)]
pub struct Packed {
    /// Chunks written in full, oldest first.
    full: Vec<Vec<u8>>,
    /// The chunk being written.
    bytes: Vec<u8>,
    /// How many connections they hold.
    len: usize,
    /// Start of the last connection written, which the next one's is written against.
    last_ts: i64,
    /// conn_state values outside Zeek's thirteen, interned (a log can hold anything).
    odd_states: Vec<&'static str>,
}

impl Packed {
    /// An empty buffer.
    pub fn new() -> Self {
        Packed::default()
    }

    /// How many connections it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes in use (for the memory notes and tests).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.full.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Appends one connection.
    pub fn push(&mut self, c: &Connection) {
        if self.bytes.len() + 1024 > CHUNK {
            let next = Vec::with_capacity(CHUNK);
            self.full.push(std::mem::replace(&mut self.bytes, next));
        }
        let b = &mut self.bytes;
        let mut flags = 0;
        if c.orig_h.is_ipv6() {
            flags |= ORIG_V6;
        }
        if c.resp_h.is_ipv6() {
            flags |= RESP_V6;
        }
        if c.icmp.is_some() {
            flags |= HAS_ICMP;
        }
        if c.vlan.is_some() {
            flags |= HAS_VLAN;
        }
        if c.inner_vlan.is_some() {
            flags |= HAS_INNER_VLAN;
        }
        let uid = uid_value(&c.uid);
        if uid.is_some() {
            flags |= UID_BASE62;
        }
        let state = STATES.iter().position(|s| *s == c.conn_state);
        if state.is_none() {
            flags |= STATE_TEXT;
        }
        b.push(flags);
        put_i(b, c.ts.0.wrapping_sub(self.last_ts));
        self.last_ts = c.ts.0;
        match uid {
            Some(v) => b.extend_from_slice(&v.to_le_bytes()[..13]),
            None => put_str(b, &c.uid),
        }
        put_addr(b, c.orig_h);
        put_addr(b, c.resp_h);
        put_u(b, u64::from(c.orig_p));
        put_u(b, u64::from(c.resp_p));
        b.push(match c.proto {
            Transport::Tcp => 0,
            Transport::Udp => 1,
            Transport::Icmp => 2,
            Transport::Other(_) => 3,
        });
        if let Transport::Other(p) = c.proto {
            b.push(p);
        }
        put_i(b, c.duration.0);
        for v in [
            c.orig_bytes,
            c.resp_bytes,
            c.missed_bytes,
            c.orig_pkts,
            c.orig_ip_bytes,
            c.resp_pkts,
            c.resp_ip_bytes,
        ] {
            put_u(b, v);
        }
        match state {
            Some(i) => b.push(i as u8),
            None => put_str(b, c.conn_state),
        }
        put_str(b, &c.history);
        b.push(handshake_index(c.handshake));
        put_u(b, u64::from(c.syn_attempts));
        put_u(b, c.syn_times.len() as u64);
        for t in &c.syn_times {
            put_i(b, t.0.wrapping_sub(c.ts.0));
        }
        if let Some(e) = &c.icmp {
            b.extend_from_slice(&[e.icmp_type, e.code, u8::from(e.v6)]);
            b.push(u8::from(e.reporter.is_ipv6()));
            put_addr(b, e.reporter);
            put_i(b, e.ts.0.wrapping_sub(c.ts.0));
            put_u(b, u64::from(e.count));
        }
        for v in [c.vlan, c.inner_vlan].into_iter().flatten() {
            put_u(b, u64::from(v));
        }
        b.push(c.tunnel_depth);
        put_u(b, u64::from(c.inputs));
        // Remembered so the reader hands back the same `&'static str`.
        if state.is_none() && !self.odd_states.contains(&c.conn_state) {
            self.odd_states.push(c.conn_state);
        }
        self.len += 1;
    }

    /// The connections, in the order they were pushed; the buffer is freed
    /// as it is read.
    pub fn drain(mut self) -> Drain {
        self.full.push(self.bytes);
        let mut chunks: std::collections::VecDeque<Vec<u8>> = self.full.into();
        Drain {
            reader: Reader {
                bytes: chunks.pop_front().unwrap_or_default(),
                at: 0,
            },
            chunks,
            left: self.len,
            last_ts: 0,
            odd_states: self.odd_states,
        }
    }
}

/// The iterator of [`Packed::drain`].
pub struct Drain {
    reader: Reader,
    /// The chunks after the reader's, each freed as the reader leaves it.
    chunks: std::collections::VecDeque<Vec<u8>>,
    left: usize,
    last_ts: i64,
    odd_states: Vec<&'static str>,
}

impl Iterator for Drain {
    type Item = Connection;

    fn next(&mut self) -> Option<Connection> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.reader.at >= self.reader.bytes.len()
            && let Some(next) = self.chunks.pop_front()
        {
            // A connection never spans two chunks.
            self.reader = Reader { bytes: next, at: 0 };
        }
        let c = self.read();
        debug_assert!(c.is_some(), "packed connections read back whole");
        if self.left == 0 {
            self.reader.bytes = Vec::new();
        }
        c
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl Drain {
    /// Reads the next connection; `None` only if the bytes were not written by [`Packed::push`].
    fn read(&mut self) -> Option<Connection> {
        let r = &mut self.reader;
        let flags = r.byte()?;
        let ts = self.last_ts.wrapping_add(r.i()?);
        self.last_ts = ts;
        let uid = if flags & UID_BASE62 != 0 {
            let mut v = [0u8; 16];
            v[..13].copy_from_slice(r.take(13)?);
            uid_text(u128::from_le_bytes(v))
        } else {
            CompactString::from(std::str::from_utf8(r.str()?).ok()?)
        };
        let orig_h = r.addr(flags & ORIG_V6 != 0)?;
        let resp_h = r.addr(flags & RESP_V6 != 0)?;
        let orig_p = u16::try_from(r.u()?).ok()?;
        let resp_p = u16::try_from(r.u()?).ok()?;
        let proto = match r.byte()? {
            0 => Transport::Tcp,
            1 => Transport::Udp,
            2 => Transport::Icmp,
            _ => Transport::Other(r.byte()?),
        };
        let duration = Duration(r.i()?);
        let mut v = [0u64; 7];
        for slot in &mut v {
            *slot = r.u()?;
        }
        let [
            orig_bytes,
            resp_bytes,
            missed_bytes,
            orig_pkts,
            orig_ip_bytes,
            resp_pkts,
            resp_ip_bytes,
        ] = v;
        let conn_state = if flags & STATE_TEXT != 0 {
            let text = std::str::from_utf8(r.str()?).ok()?;
            *self.odd_states.iter().find(|s| **s == text)?
        } else {
            STATES.get(usize::from(r.byte()?)).copied()?
        };
        let history = CompactString::from(std::str::from_utf8(r.str()?).ok()?);
        let handshake = HANDSHAKES.get(usize::from(r.byte()?)).copied()?;
        let syn_attempts = u32::try_from(r.u()?).ok()?;
        let n = usize::try_from(r.u()?).ok()?;
        let mut syn_times = Vec::with_capacity(n.min(super::tcp::MAX_SYN_TIMES));
        for _ in 0..n {
            syn_times.push(Timestamp(ts.wrapping_add(r.i()?)));
        }
        let icmp = if flags & HAS_ICMP != 0 {
            let head = r.take(4)?;
            let (icmp_type, code, v6, reporter_v6) = (head[0], head[1], head[2] != 0, head[3] != 0);
            Some(IcmpError {
                icmp_type,
                code,
                v6,
                reporter: r.addr(reporter_v6)?,
                ts: Timestamp(ts.wrapping_add(r.i()?)),
                count: u32::try_from(r.u()?).ok()?,
            })
        } else {
            None
        };
        let vlan = match flags & HAS_VLAN {
            0 => None,
            _ => Some(u16::try_from(r.u()?).ok()?),
        };
        let inner_vlan = match flags & HAS_INNER_VLAN {
            0 => None,
            _ => Some(u16::try_from(r.u()?).ok()?),
        };
        let tunnel_depth = r.byte()?;
        let inputs = u16::try_from(r.u()?).ok()?;
        Some(Connection {
            ts: Timestamp(ts),
            uid,
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            proto,
            duration,
            orig_bytes,
            resp_bytes,
            conn_state,
            missed_bytes,
            history,
            orig_pkts,
            orig_ip_bytes,
            resp_pkts,
            resp_ip_bytes,
            handshake,
            syn_attempts,
            syn_times,
            icmp,
            vlan,
            inner_vlan,
            tunnel_depth,
            inputs,
        })
    }
}

/// A cursor over packed bytes.
struct Reader {
    bytes: Vec<u8>,
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// An unsigned LEB128 integer.
    fn u(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A zigzag-encoded signed integer.
    fn i(&mut self) -> Option<i64> {
        let u = self.u()?;
        Some((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    fn str(&mut self) -> Option<&[u8]> {
        let n = usize::try_from(self.u()?).ok()?;
        self.take(n)
    }

    fn addr(&mut self, v6: bool) -> Option<IpAddr> {
        Some(if v6 {
            let mut o = [0u8; 16];
            o.copy_from_slice(self.take(16)?);
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            let mut o = [0u8; 4];
            o.copy_from_slice(self.take(4)?);
            IpAddr::V4(Ipv4Addr::from(o))
        })
    }
}

fn put_u(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn put_i(b: &mut Vec<u8>, v: i64) {
    put_u(b, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_u(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

fn put_addr(b: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => b.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b.extend_from_slice(&v6.octets()),
    }
}

/// Each byte's base62 digit value, or 0xFF for a byte that is not a digit.
const DIGIT_OF: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < BASE62.len() {
        t[BASE62[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The digits of a uid of the form `C` + 17 base62 digits, if it is one,
/// six bits each (102 bits: it fits in 13 bytes). Six-bit fields rather than
/// the number the digits spell: shifts, where base 62 would take a 128-bit
/// division per digit (a tenth of a flood's audit when it did).
fn uid_value(uid: &str) -> Option<u128> {
    let digits = uid.strip_prefix('C')?.as_bytes();
    if digits.len() != 17 {
        return None;
    }
    let mut v = 0u128;
    for &d in digits {
        let i = DIGIT_OF[usize::from(d)];
        if i == 0xFF {
            return None;
        }
        v = (v << 6) | u128::from(i);
    }
    Some(v)
}

/// The uid whose value [`uid_value`] gave.
fn uid_text(mut v: u128) -> CompactString {
    let mut out = [b'0'; 18];
    out[0] = b'C';
    for slot in out[1..].iter_mut().rev() {
        // A packed value holds digits below 62; `min` keeps a corrupt one in the table.
        *slot = BASE62[((v & 0x3F) as usize).min(61)];
        v >>= 6;
    }
    // Every byte is ASCII from BASE62 or 'C'.
    CompactString::from(std::str::from_utf8(&out).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(o.into())),
            any::<[u8; 16]>().prop_map(|o| IpAddr::V6(o.into())),
        ]
    }

    fn uid() -> impl Strategy<Value = String> {
        prop_oneof![
            "C[0-9A-Za-z]{17}",
            "C[0-9A-Za-z]{1,16}",
            "[a-zA-Z0-9\u{e9}-]{0,30}",
        ]
    }

    fn connection() -> impl Strategy<Value = Connection> {
        (
            (
                any::<i64>(),
                uid(),
                addr(),
                any::<u16>(),
                addr(),
                any::<u16>(),
            ),
            (
                prop_oneof![
                    Just(Transport::Tcp),
                    Just(Transport::Udp),
                    Just(Transport::Icmp),
                    any::<u8>().prop_map(Transport::Other),
                ],
                any::<i64>(),
                any::<[u64; 7]>(),
                prop_oneof![
                    proptest::sample::select(STATES.to_vec()),
                    Just("WEIRD"),
                    Just("")
                ],
                "[ShADadFfRrTtCcGgWwIiQq^]{0,40}",
                proptest::sample::select(HANDSHAKES.to_vec()),
            ),
            (
                any::<u32>(),
                proptest::collection::vec(any::<i64>(), 0..17),
                proptest::option::of((any::<(u8, u8, bool, u32, i64)>(), addr())),
                any::<(Option<u16>, Option<u16>, u8, u16)>(),
            ),
        )
            .prop_map(
                |(
                    (ts, uid, orig_h, orig_p, resp_h, resp_p),
                    (proto, duration, n, conn_state, history, handshake),
                    (syn_attempts, syn_times, icmp, (vlan, inner_vlan, tunnel_depth, inputs)),
                )| Connection {
                    ts: Timestamp(ts),
                    uid: uid.into(),
                    orig_h,
                    orig_p,
                    resp_h,
                    resp_p,
                    proto,
                    duration: Duration(duration),
                    orig_bytes: n[0],
                    resp_bytes: n[1],
                    conn_state,
                    missed_bytes: n[2],
                    history: history.into(),
                    orig_pkts: n[3],
                    orig_ip_bytes: n[4],
                    resp_pkts: n[5],
                    resp_ip_bytes: n[6],
                    handshake,
                    syn_attempts,
                    syn_times: syn_times.into_iter().map(Timestamp).collect(),
                    icmp: icmp.map(|((icmp_type, code, v6, count, ts), reporter)| IcmpError {
                        icmp_type,
                        code,
                        v6,
                        reporter,
                        ts: Timestamp(ts),
                        count,
                    }),
                    vlan,
                    inner_vlan,
                    tunnel_depth,
                    inputs,
                },
            )
    }

    proptest! {
        /// Whatever goes in comes back, in order, field for field.
        #[test]
        fn connections_come_back_as_they_went_in(
            conns in proptest::collection::vec(connection(), 0..40)
        ) {
            let mut p = Packed::new();
            for c in &conns {
                p.push(c);
            }
            prop_assert_eq!(p.len(), conns.len());
            let back: Vec<Connection> = p.drain().collect();
            prop_assert_eq!(back, conns);
        }
    }

    #[test]
    fn handshake_indexes_match_the_table() {
        for (i, h) in HANDSHAKES.iter().enumerate() {
            assert_eq!(usize::from(handshake_index(*h)), i, "{h:?}");
        }
    }

    #[test]
    fn the_trackers_uids_are_stored_as_numbers() {
        let max = "Czzzzzzzzzzzzzzzzz";
        let v = uid_value(max).unwrap();
        assert!(v < 1u128 << 104, "fits in 13 bytes");
        assert_eq!(
            uid_text(uid_value("C0123456789ABCDEFg").unwrap()),
            "C0123456789ABCDEFg"
        );
        assert_eq!(uid_text(v), max);
        assert_eq!(uid_value("C0000000000000000"), None, "16 digits");
        assert_eq!(uid_value("D00000000000000000"), None);
    }

    /// An unanswered SYN, the flood's connection, packs small.
    #[test]
    fn an_unanswered_syn_takes_a_few_dozen_bytes() {
        let ts = Timestamp(1_700_000_000_000_000_000);
        let c = Connection {
            uid: "CAbcdefghijklmnopq".into(),
            orig_ip_bytes: 60,
            syn_times: vec![ts],
            ..Connection::unanswered_syn(ts, [10, 1, 2, 3].into(), [10, 0, 0, 1].into(), 443)
        };
        let mut p = Packed::new();
        p.push(&c);
        let first = p.bytes.len();
        let mut next = c.clone();
        next.ts.0 += 1_000_000;
        next.syn_times = vec![next.ts];
        p.push(&next);
        let second = p.bytes.len() - first;
        assert!(second <= 48, "{second} bytes");
        assert_eq!(p.drain().collect::<Vec<_>>(), vec![c, next]);
    }

    /// Enough connections for several chunks, of sizes that put chunk ends
    /// anywhere: they come back whole and in order, and no chunk doubled.
    #[test]
    fn connections_across_chunks_come_back_in_order() {
        let ts = Timestamp(1_700_000_000_000_000_000);
        let conns: Vec<Connection> = (0..60_000u32)
            .map(|i| {
                let t = Timestamp(ts.0 + i64::from(i) * 7_919);
                let mut c = Connection::unanswered_syn(
                    t,
                    IpAddr::from(i.to_be_bytes()),
                    [10, 0, 0, 1].into(),
                    (i % 65_000) as u16,
                );
                c.uid = format!("C{i:017}").into();
                // Between 1 and 97 SYN times: connections of very different sizes.
                c.syn_times = (0..=i % 97)
                    .map(|k| Timestamp(t.0 + i64::from(k)))
                    .collect();
                c
            })
            .collect();
        let mut p = Packed::new();
        for c in &conns {
            p.push(c);
        }
        assert!(p.full.len() >= 2, "{} chunks", p.full.len() + 1);
        assert!(p.full.iter().all(|c| c.capacity() == CHUNK));
        let back: Vec<Connection> = p.drain().collect();
        assert!(back == conns);
    }
}
