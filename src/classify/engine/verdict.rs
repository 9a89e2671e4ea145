//! Verdicts: what became of one connection, from its handshake, its history
//! letters and its counters, before any aggregation.

use super::*;

/// The time of a connection's last packet.
pub(super) fn end_of(c: &Connection) -> Timestamp {
    Timestamp(c.ts.0.saturating_add(c.duration.0))
}

/// `later`, a record of the same flow as the unanswered request `p`, began
/// with a packet from `p`'s responder within [`LATE_REPLY_WINDOW`]: the reply.
/// (A later record the client began is a new request on a reused port: it
/// says nothing of the earlier one.)
pub(super) fn answers_late(p: &Pending, later: &Connection) -> bool {
    // `^` in the history: the record was flipped, so its first packet came
    // from the end that is now the responder.
    let flipped = later.history.starts_with('^');
    let first_from_server = if flipped {
        (later.resp_h, later.resp_p) == p.server
    } else {
        (later.orig_h, later.orig_p) == p.server
    };
    let server_pkts = if (later.orig_h, later.orig_p) == p.server {
        later.orig_pkts
    } else {
        later.resp_pkts
    };
    first_from_server
        && server_pkts > 0
        && later.ts >= p.end
        && later.ts.0.saturating_sub(p.end.0) <= LATE_REPLY_WINDOW.0
}

/// The letters present in a connection's history, read in one pass (the
/// history's bytes are usually out of cache by the time a connection ends,
/// and several questions are asked of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Letters {
    /// Bit `b - 64` for every byte `b` in 64..128 (all ASCII letters).
    set: u64,
    /// Some letter other than `S` (or any other byte) is present.
    pub(super) not_only_syns: bool,
}

impl Letters {
    pub(super) fn of(history: &str) -> Letters {
        let mut l = Letters::default();
        for b in history.bytes() {
            l.set |= b
                .checked_sub(64)
                .and_then(|i| 1u64.checked_shl(u32::from(i)))
                .unwrap_or(0);
            l.not_only_syns |= b != b'S';
        }
        l
    }

    /// Any of the letters of `mask` (from [`letters`]) is present.
    pub(super) fn any(self, mask: u64) -> bool {
        self.set & mask != 0
    }
}

/// The [`Letters::set`] bits of some ASCII letters.
pub(super) const fn letters(s: &[u8]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < s.len() {
        m |= 1u64 << (s[i] - 64);
        i += 1;
    }
    m
}

/// Originator ACK or data.
pub(super) const ORIG_ACK_DATA: u64 = letters(b"AD");

/// Responder SYN-ACK, ACK or data.
pub(super) const RESP_SYNACK_ACK_DATA: u64 = letters(b"adh");

/// A SYN-ACK from either side.
pub(super) const SYNACK: u64 = letters(b"hH");

/// A pure ACK or data from either side.
pub(super) const ACK_OR_DATA: u64 = letters(b"AaDd");

/// Data from either side.
pub(super) const DATA: u64 = letters(b"Dd");

/// Packets both ways, with an ACK or data from the originator and a SYN-ACK,
/// ACK or data from the responder: established in substance.
pub(super) fn alive(c: &Connection, h: Letters) -> bool {
    c.orig_pkts > 0 && c.resp_pkts > 0 && h.any(ORIG_ACK_DATA) && h.any(RESP_SYNACK_ACK_DATA)
}

/// A multicast address, the limited broadcast address, or an IPv4 address
/// ending in .255 (the broadcast address of a /24, the common subnet size;
/// a host numbered .255 in a larger subnet is rare).
pub(super) fn is_group_address(a: IpAddr) -> bool {
    match a.to_canonical() {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast() || v4.octets()[3] == 255,
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// A TCP connection attempt (a SYN was sent) in which neither side sent a
/// byte of payload: a port scan is made of these.
pub(super) fn is_probe(c: &Connection, tcp: bool) -> bool {
    tcp && c.syn_attempts > 0 && c.orig_bytes == 0 && c.resp_bytes == 0
}

/// A responder that resets an idle connection this long after the SYN,
/// without a byte from either side, is taken to refuse it (a reset after an
/// idle timeout comes minutes or hours later).
pub(super) const REFUSE_WINDOW: Duration = Duration::from_secs(10);

/// The handshake completed, then the responder reset the connection
/// without ever sending a byte, before the originator closed or reset it:
/// after the client's first data (a TLS ClientHello, a first request), or
/// at once. The port is open; the service, or a middlebox inspecting the
/// first bytes, refused the client.
pub(super) fn refused_after_handshake(c: &Connection) -> bool {
    if c.resp_bytes > 0 || c.handshake != Handshake::Established {
        return false;
    }
    let h = c.history.as_bytes();
    let Some(rst) = h.iter().position(|&b| b == b'r') else {
        return false;
    };
    let client_closed_first = h.iter().take(rst).any(|&b| b == b'F' || b == b'R');
    !client_closed_first && (c.orig_bytes > 0 || c.duration.0 <= REFUSE_WINDOW.0)
}

/// The outcome of `c`, whose history holds the letters `h`.
pub(super) fn judge(c: &Connection, proto: Proto, h: Letters) -> Judged {
    use Judged::{Now, Tail};
    use Outcome::*;
    match proto {
        Proto::Tcp => match c.handshake {
            Handshake::Established if refused_after_handshake(c) => {
                Now(Blocked(How::ResetAfterHandshake))
            }
            Handshake::Established
            | Handshake::ClosedEarly
            | Handshake::Answered
            | Handshake::None => Now(Working),
            Handshake::Midstream if alive(c, h) => Now(Working),
            Handshake::Midstream => Now(Inconclusive(Reason::Midstream)),
            Handshake::Rejected => Now(Blocked(How::Rst)),
            Handshake::IcmpUnreachable => Now(Blocked(How::Icmp)),
            Handshake::Unanswered => {
                if alive(c, h) {
                    Now(Working)
                } else if c.resp_pkts == 0 && h.any(ORIG_ACK_DATA) {
                    Now(Inconclusive(Reason::OneSided))
                } else if c.resp_pkts > 0 {
                    Now(Inconclusive(Reason::PartialReply))
                } else if c.syn_attempts <= 1 {
                    Tail(How::NoSynack)
                } else {
                    Now(Blocked(How::NoSynack))
                }
            }
        },
        Proto::Udp => match c.handshake {
            Handshake::IcmpUnreachable => Now(Blocked(How::Icmp)),
            Handshake::Unanswered if c.orig_pkts <= 1 => Tail(How::NoReply),
            Handshake::Unanswered => Now(Blocked(How::NoReply)),
            _ if c.resp_pkts > 0 => Now(Working),
            _ => Now(Blocked(How::NoReply)),
        },
    }
}

pub(super) fn facts(c: &Connection, proto: Proto) -> Facts {
    let end = end_of(c);
    let tcp = proto == Proto::Tcp;
    let unanswered = c.handshake == Handshake::Unanswered;
    let last_syn = if tcp && unanswered {
        end
    } else {
        c.syn_times.last().copied().unwrap_or(c.ts)
    };
    let first_syn = c.syn_times.first().copied().unwrap_or(c.ts);
    Facts {
        ts: c.ts,
        last_attempt: if tcp { last_syn } else { c.ts },
        attempts: if tcp {
            u64::from(c.syn_attempts.max(1))
        } else {
            1
        },
        syns: if tcp { u64::from(c.syn_attempts) } else { 0 },
        syn_span: if tcp {
            last_syn.0.saturating_sub(first_syn.0).max(0)
        } else {
            0
        },
        answer_delay: if tcp && c.handshake == Handshake::Rejected {
            Some(end.0.saturating_sub(last_syn.0).max(0))
        } else if tcp && refused_after_handshake(c) {
            Some(c.duration.0.max(0))
        } else {
            None
        },
        icmp: c.icmp,
        inputs: c.inputs,
        closed_early: c.handshake == Handshake::ClosedEarly,
        midstream: c.handshake == Handshake::Midstream,
        requests: if tcp { 0 } else { c.orig_pkts },
        sent_data: tcp && c.orig_bytes > 0,
        probe: is_probe(c, tcp),
        failed: false,
        proxy: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_answer_as_a_scan_of_the_history_would() {
        for h in [
            "", "S", "SSS", "ShADadFf", "^hADadfF", "Sr", "DdT", "SÄ", "S\u{7f}", "s",
        ] {
            let l = Letters::of(h);
            let has = |set: &str| h.chars().any(|c| set.contains(c));
            assert_eq!(l.not_only_syns, h.chars().any(|c| c != 'S'), "{h:?}");
            assert_eq!(l.any(ORIG_ACK_DATA), has("AD"), "{h:?}");
            assert_eq!(l.any(RESP_SYNACK_ACK_DATA), has("adh"), "{h:?}");
            assert_eq!(l.any(SYNACK), has("hH"), "{h:?}");
            assert_eq!(l.any(ACK_OR_DATA), has("AaDd"), "{h:?}");
            assert_eq!(l.any(DATA), has("Dd"), "{h:?}");
        }
    }
}
