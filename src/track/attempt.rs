//! Unanswered attempts: a connection that has seen one plain SYN and nothing
//! else, held in a slot a quarter the size of a full record.
//!
//! Most connections of a SYN flood or a scan never see a second packet, and a
//! full [`Conn`] (six cache lines, a heap vector of SYN times) is most of what
//! such a capture costs in memory and in cache misses. An attempt keeps only
//! what the SYN said; it becomes a full record, exactly as if the SYN had made
//! one, on the next packet of any kind for its key (a retransmission, an answer,
//! an ICMP error quoting it), and when it expires, is evicted or the trace ends
//! it is made whole first, so its connection is the same in every output.

use super::TrackConfig;
use super::history::History;
use super::key::ConnKey;
use super::table::{Conn, Kind, add};
use super::tcp::{Delays, Segment, TcpConn};
use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
use crate::decode::{Packet, TcpInfo, Transport};
use crate::time::Timestamp;

/// The index-slot bit that marks an attempt's slot (in the attempt slab)
/// rather than a full record's: both share the one index.
pub(super) const ATTEMPT: u32 = 1 << 31;

/// A connection of one plain SYN: its key and the SYN's fields.
#[derive(Clone, Debug)]
pub(super) struct Attempt {
    /// Its key.
    pub key: ConnKey,
    /// The inputs that showed its SYN ([`super::input_bit`]).
    pub inputs: u16,
    /// Key side of the SYN's sender: the originator.
    pub side: u8,
    /// Tunnel depth of the SYN.
    pub tunnel_depth: u8,
    /// Outer VLAN id of the SYN.
    pub vlan: Option<u16>,
    /// Inner VLAN id of the SYN.
    pub inner_vlan: Option<u16>,
    /// The SYN's TCP header fields.
    pub tcp: TcpInfo,
    /// The SYN's IP length.
    pub ip_len: u32,
    /// Earlier connections of this 5-tuple replaced by reuse (for the uid).
    pub reuse: u32,
    /// Slab generation: creation order, and stale expiry entries told apart.
    pub generation: u32,
    /// The SYN's time: start and last activity.
    pub ts: Timestamp,
    /// Its expiry entry's deadline (it never moves: only a packet changes
    /// an attempt, and a packet makes it a full record).
    pub queued_at: Timestamp,
}

/// Whether `p`, the first packet of a new connection, can open it as an
/// attempt: a TCP SYN without ACK, FIN, RST or payload whose header was
/// read whole (anything else needs the full record from the start).
pub(super) fn eligible(p: &Packet<'_>) -> bool {
    p.transport == Transport::Tcp
        && !p.header_only
        && p.payload_len == 0
        && p.tcp
            .is_some_and(|t| t.flags & (SYN | ACK | FIN | RST) == SYN)
}

impl Attempt {
    /// The attempt `p` opens (see [`eligible`]) for `key`, sent from key
    /// side `side`.
    pub(super) fn new(
        p: &Packet<'_>,
        key: ConnKey,
        side: usize,
        reuse: u32,
        generation: u32,
        input_bit: u16,
    ) -> Self {
        Attempt {
            key,
            inputs: input_bit,
            side: u8::from(side != 0),
            tunnel_depth: p.tunnel_depth,
            vlan: p.vlan,
            inner_vlan: p.inner_vlan,
            tcp: p.tcp.unwrap_or(TcpInfo {
                flags: SYN,
                seq: 0,
                ack: 0,
                window: 0,
            }),
            ip_len: p.ip_len,
            reuse,
            generation,
            ts: p.ts,
            queued_at: Timestamp(i64::MAX),
        }
    }

    /// When it expires, given no further packets: what
    /// [`Conn::deadline`] gives its full record (tests compare the two).
    pub(super) fn deadline(&self, cfg: &TrackConfig, delays: &Delays) -> Timestamp {
        let d = add(self.ts, cfg.tcp_timeout);
        if cfg.tcp_attempt_delay.is_some() {
            d.min(add(self.ts, delays.attempt))
        } else {
            d
        }
    }

    /// The full record: the one the tracker would have made from the SYN,
    /// as [`super::Tracker::packet`] creates and updates it.
    pub(super) fn materialize(&self, delays: &Delays) -> Conn {
        let side = usize::from(self.side);
        let mut c = Conn {
            key: self.key,
            inputs: self.inputs,
            orig_side: side,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            last: self.ts,
            queued_at: self.queued_at,
            start: self.ts,
            hist: History::default(),
            kind: Kind::Tcp(TcpConn::new()),
            icmp: None,
            vlan: self.vlan,
            inner_vlan: self.inner_vlan,
            tunnel_depth: self.tunnel_depth,
            reuse: self.reuse,
            generation: self.generation,
        };
        c.pkts[side] = 1;
        c.ip_bytes[side] = u64::from(self.ip_len);
        if let Kind::Tcp(t) = &mut c.kind {
            t.first_packet(&self.tcp);
            let seg = Segment {
                side,
                ts: self.ts,
                tcp: self.tcp,
                len: 0,
            };
            t.process::<true>(&mut c.hist, &mut c.orig_side, &mut c.last, &seg, delays);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt is what keeps a flood's memory down: it must stay a
    /// fraction of a full record.
    #[test]
    fn attempt_is_small() {
        assert!(std::mem::size_of::<Option<Attempt>>() <= 104);
        assert!(std::mem::size_of::<Option<Attempt>>() * 3 < std::mem::size_of::<Conn>());
    }
}
