//! Zeek's TCP endpoint state machine, counters and history letters.
//!
//! This follows `TCPSessionAdapter::Process` and friends (zeek/zeek,
//! `src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc`) and
//! `TCP_Endpoint.cc`: per-endpoint states INACTIVE, SYN_SENT, SYN_ACK_SENT,
//! PARTIAL, ESTABLISHED, CLOSED, RESET; sizes from sequence numbers (the
//! larger of the highest sequence number sent and the highest acknowledged by
//! the peer, minus the SYN and FIN octets); history letters S H A D F R T W I Q
//! and `^`. What is left out, and why:
//! - checksums are not verified (the decoded packet does not carry the TCP
//!   header bytes), so there is no `C`/`c` and bad-checksum packets are counted
//!   (Zeek drops them, unless run with `-C`, as most baselines were);
//! - there is no stream reassembly, so no content gaps: `G`/`g` never appear
//!   and `missed_bytes` is 0; for the same reason a close is never deferred
//!   while data is pending;
//! - window scaling is not tracked: `W` only needs to know the window is zero,
//!   which a scale factor cannot change.

use super::history::{History, Scaled, mask};
use crate::decode::TcpInfo;
use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
use crate::time::{Duration, Timestamp};

/// Zeek's `TOO_LARGE_SEQ_DELTA`: larger jumps in SYN/RST sequence numbers are not trusted.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// State of one TCP endpoint, as Zeek's `EndpointState` (`TCP_ENDPOINT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EpState {
    /// Nothing seen from this endpoint yet.
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK (as the first thing seen).
    SynAckSent,
    /// Active, but the handshake was not seen.
    Partial,
    /// Handshake completed.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// One endpoint's sequence-space and state bookkeeping (Zeek's `TCP_Endpoint`):
/// what every segment reads. What only SYNs, FINs, RSTs, retransmissions and
/// zero windows touch is in [`Marks`], away from the tracker's hot lines.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// Current state.
    pub state: EpState,
    /// State before the last change.
    pub prev_state: EpState,
    start_seq: u32,
    last_seq: u32,
    ack_seq: u32,
    seq_wraps: u32,
    ack_wraps: u32,
    /// The endpoint's close (FIN or RST) was reported.
    pub did_close: bool,
    fin_seen: bool,
    /// Sent a SYN without ACK (for the handshake verdict).
    pub sent_syn: bool,
    /// Sent a SYN-ACK.
    pub sent_synack: bool,
    /// Sent an ACK without SYN after the peer's SYN-ACK (completes the handshake).
    pub completed: bool,
    /// Sent a RST.
    pub sent_rst: bool,
    /// Sent a RST before the peer sent any SYN-ACK... as a reply to a SYN (reject).
    pub rejected: bool,
    /// Sent a FIN or RST.
    pub sent_close: bool,
    /// Sent a segment without SYN (an ACK, data, a FIN or a RST) while the
    /// peer had sent nothing (only then does it matter: see
    /// [`TcpConn::half_duplex_pending`]).
    pub sent_beyond_syn: bool,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            state: EpState::Inactive,
            prev_state: EpState::Inactive,
            start_seq: 0,
            last_seq: 0,
            ack_seq: 0,
            seq_wraps: 0,
            ack_wraps: 0,
            did_close: false,
            fin_seen: false,
            sent_syn: false,
            sent_synack: false,
            sent_beyond_syn: false,
            completed: false,
            sent_rst: false,
            rejected: false,
            sent_close: false,
        }
    }
}

/// An endpoint's marks for history letters that repeat only at new sequence
/// numbers or at 1, 10, 100, ... occurrences (Zeek's `hist_last_*` and
/// counters): touched only by SYN, FIN and RST segments, retransmissions and
/// zero windows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Marks {
    /// Relative sequence number of the last SYN (`S`/`H` repeat only at a new one).
    last_syn: u64,
    /// Relative sequence number of the last FIN.
    last_fin: u64,
    /// Relative sequence number of the last RST.
    last_rst: u64,
    /// Retransmissions (`T`).
    rxmt: Scaled,
    /// Zero windows (`W`).
    win0: Scaled,
}

fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn full_seq(seq: u32, wraps: u32) -> u64 {
    (u64::from(wraps) << 32) | u64::from(seq)
}

impl Endpoint {
    /// Reads a field, so a caller warming the cache for a connection about to
    /// be updated loads the endpoint's line.
    pub(crate) fn touch(&self) -> u64 {
        u64::from(self.last_seq)
    }

    fn set_state(&mut self, s: EpState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    fn init_start(&mut self, seq: u32) {
        self.start_seq = seq;
    }

    fn init_ack(&mut self, seq: u32) {
        self.ack_seq = seq;
        self.ack_wraps = 0;
    }

    fn init_last(&mut self, seq: u32) {
        self.last_seq = seq;
        self.seq_wraps = 0;
    }

    fn update_last(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps = self.seq_wraps.wrapping_add(1);
        }
        self.last_seq = seq;
    }

    fn update_ack(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps = self.ack_wraps.wrapping_add(1);
        }
        self.ack_seq = seq;
    }

    /// The peer acknowledged up to `ack_seq`: moves this endpoint's highest
    /// acknowledged sequence number forward, unless the ack lies before its
    /// start or is an implausible jump to 0.
    fn take_ack(&mut self, ack_seq: u32) {
        let (_, underflow) = self.relative(ack_seq, self.ack_seq, self.ack_wraps);
        if underflow {
            return;
        }
        let delta = seq_delta(ack_seq, self.ack_seq);
        if ack_seq == 0 && delta > TOO_LARGE_SEQ_DELTA {
            // More likely a broken ack than a connection landing on 0.
        } else if delta > 0 {
            self.update_ack(ack_seq);
        }
    }

    fn no_data_acked(&self) -> bool {
        let ack = full_seq(self.ack_seq, self.ack_wraps);
        let start = u64::from(self.start_seq);
        ack == start || ack == start.wrapping_add(1)
    }

    /// Zeek's `get_relative_seq`: the sequence number relative to the start,
    /// and whether it lies before the start.
    fn relative(&self, cur: u32, last: u32, wraps: u32) -> (u64, bool) {
        let mut wraps = wraps;
        let delta = seq_delta(cur, last);
        if delta < 0 {
            if wraps > 0 && cur > last {
                wraps -= 1;
            }
        } else if delta > 0 && cur < last {
            wraps = wraps.wrapping_add(1);
        }
        if wraps == 0 {
            let d = seq_delta(cur, self.start_seq);
            (i64::from(d) as u64, d < 0)
        } else {
            (
                full_seq(cur, wraps).wrapping_sub(u64::from(self.start_seq)),
                false,
            )
        }
    }
}

/// Size of an endpoint's payload from sequence numbers (Zeek's `TCP_Endpoint::Size`).
fn size(ep: &Endpoint, peer: &Endpoint) -> u64 {
    if ep.prev_state == EpState::SynSent
        && ep.state == EpState::Reset
        && peer.state == EpState::Inactive
        && !ep.no_data_acked()
    {
        // A half-open connection discovered and aborted: the sequence numbers say nothing.
        return 0;
    }
    let last = full_seq(ep.last_seq, ep.seq_wraps);
    let ack = full_seq(ep.ack_seq, ep.ack_wraps);
    let mut size = last.max(ack).wrapping_sub(u64::from(ep.start_seq));
    // The SYN octet.
    size = size.saturating_sub(1);
    if ep.fin_seen && size != 0 {
        size -= 1; // the FIN octet
    }
    size
}

/// One TCP segment as the state machine sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    /// Key side (0 = `key.a`) of the sender.
    pub side: usize,
    /// Capture time.
    pub ts: Timestamp,
    /// The TCP header's fields.
    pub tcp: TcpInfo,
    /// Payload length.
    pub len: u32,
}

/// What the state machine asks the connection to do after a packet.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Outcome {
    /// The roles were flipped (SYN / SYN-ACK seen in reverse order).
    pub flipped: bool,
}

/// TCP state of one connection, both endpoints indexed by key side.
///
/// `repr(C)`: the fields every segment reads come first, so that with the
/// connection's own hot fields they fill the fewest cache lines (see
/// [`super::table::Conn`]); the SYN times and the history marks come last.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct TcpConn {
    /// Endpoints by key side (not by role: roles can flip).
    pub ep: [Endpoint; 2],
    /// Zeek's `is_active`: cleared once finished, reset or given up as an attempt.
    pub is_active: bool,
    /// When the close completed, the time the connection is removed.
    pub close_at: Option<Timestamp>,
    /// When the originator's first SYN was seen, plus `tcp_attempt_delay`.
    pub attempt_at: Option<Timestamp>,
    /// Originator SYNs (first one and retransmissions).
    pub syn_attempts: u32,
    /// The first packet was a SYN-ACK and nothing else was seen yet.
    pub synack_only: bool,
    /// Their times, at most 16.
    pub syn_times: Vec<Timestamp>,
    /// History marks by key side.
    marks: [Marks; 2],
}

/// Delays that decide when a closed or unanswered TCP connection is removed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delays {
    /// `tcp_close_delay`.
    pub close: Duration,
    /// `tcp_reset_delay`.
    pub reset: Duration,
    /// `tcp_attempt_delay`.
    pub attempt: Duration,
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0.saturating_add(d.0))
}

/// Maximum number of SYN times kept.
pub(crate) const MAX_SYN_TIMES: usize = 16;

impl TcpConn {
    /// A fresh connection.
    pub(crate) fn new() -> Self {
        TcpConn {
            is_active: true,
            ..Default::default()
        }
    }

    /// Zeek flips a connection that began with a SYN-ACK once an ACK or data
    /// segment follows in either direction (zeek/zeek#2191: a stealth scan
    /// never does that). The history then reads as if the roles had been flipped
    /// before the first packet (`^h...`, as Zeek's baselines show), and the
    /// SYN-ACK's sender is the established responder.
    pub(crate) fn flip_after_synack(
        &mut self,
        hist: &mut History,
        orig_side: &mut usize,
        tcp: &TcpInfo,
        len: u32,
    ) {
        if !self.synack_only {
            return;
        }
        self.synack_only = false;
        let f = tcp.flags;
        if f & (SYN | FIN | RST) != 0 || (f & ACK == 0 && len == 0) {
            return;
        }
        let o = *orig_side;
        if self.ep[o].state != EpState::SynAckSent || self.ep[1 - o].state != EpState::Inactive {
            return;
        }
        *orig_side = 1 - o;
        hist.flip_from_start();
        let sender = &mut self.ep[o];
        sender.state = EpState::Established;
        sender.prev_state = EpState::Inactive;
        self.attempt_at = None;
    }

    /// Notes the connection's first packet (for [`Self::flip_after_synack`]).
    pub(crate) fn first_packet(&mut self, tcp: &TcpInfo) {
        self.synack_only = tcp.flags & (SYN | ACK | FIN | RST) == SYN | ACK;
    }

    fn pair(&mut self, side: usize) -> (&mut Endpoint, &mut Endpoint) {
        let [a, b] = &mut self.ep;
        if side == 0 { (a, b) } else { (b, a) }
    }

    /// The endpoint on key side `side` and its history marks.
    fn with_marks(&mut self, side: usize) -> (&mut Endpoint, &mut Marks) {
        let [a, b] = &mut self.ep;
        let [ma, mb] = &mut self.marks;
        if side == 0 { (a, ma) } else { (b, mb) }
    }

    /// True if either endpoint's close was reported (Zeek's `IsClosed`).
    pub(crate) fn is_closed(&self) -> bool {
        self.ep[0].did_close || self.ep[1].did_close
    }

    /// Zeek's `IsReuse`: does this SYN from `side` start a new connection on the same 5-tuple?
    pub(crate) fn is_reuse(&self, orig_side: usize, tcp: &TcpInfo) -> bool {
        if tcp.flags & SYN == 0 {
            return false;
        }
        let orig = &self.ep[orig_side];
        let resp = &self.ep[1 - orig_side];
        let mut conn_orig = orig;
        if tcp.flags & ACK != 0 {
            if orig.state != EpState::Inactive {
                return false; // not a half connection
            }
            conn_orig = resp;
        }
        if !self.is_closed() {
            if tcp.seq == conn_orig.start_seq {
                return false;
            }
            if tcp.flags & ACK == 0
                && conn_orig.state == EpState::SynAckSent
                && resp.state == EpState::Inactive
                && tcp.seq == resp.start_seq
            {
                // SYN and SYN-ACK seen in reverse order; the state machine flips.
                return false;
            }
        }
        true
    }

    /// Processes one segment (Zeek's `Process`), step by step; with
    /// `SHORTCUT` (the tracker always; off only in the test that holds the two
    /// paths together), the commonest segment takes [`Self::established_segment`].
    pub(crate) fn process<const SHORTCUT: bool>(
        &mut self,
        hist: &mut History,
        orig_side: &mut usize,
        last_time: &mut Timestamp,
        seg: &Segment,
        delays: &Delays,
    ) -> Outcome {
        let Segment { side, ts, len, .. } = *seg;
        let tcp = &seg.tcp;
        if SHORTCUT
            && tcp.flags & (SYN | FIN | RST | ACK) == ACK
            && tcp.window != 0
            && self.ep[0].state == EpState::Established
            && self.ep[1].state == EpState::Established
        {
            self.established_segment(hist, side == *orig_side, last_time, seg);
            return Outcome::default();
        }
        let mut out = Outcome::default();
        let f = tcp.flags;
        let (syn, fin, rst, ack) = (f & SYN != 0, f & FIN != 0, f & RST != 0, f & ACK != 0);
        let is_orig = side == *orig_side;
        let base_seq = tcp.seq;
        let ack_seq = tcp.ack;

        let mut seg_len = len;
        if syn {
            seg_len = seg_len.wrapping_add(1);
        }
        if fin {
            seg_len = seg_len.wrapping_add(1);
        }
        if rst {
            seg_len = seg_len.wrapping_sub(len);
        }
        let seq_one_past = base_seq.wrapping_add(seg_len);

        // init_endpoint
        {
            let (ep, _) = self.pair(side);
            match ep.state {
                EpState::Inactive => {
                    let mut last = seq_one_past;
                    if syn {
                        ep.init_ack(base_seq);
                        ep.init_start(base_seq);
                    } else {
                        // A partial connection: number as if a SYN had been seen.
                        ep.init_ack(base_seq.wrapping_sub(1));
                        ep.init_start(base_seq.wrapping_sub(1));
                        last = base_seq;
                    }
                    ep.init_last(last);
                }
                EpState::SynSent | EpState::SynAckSent => {
                    if syn && base_seq != ep.start_seq {
                        ep.init_start(base_seq);
                        ep.init_ack(base_seq);
                        ep.init_last(seq_one_past);
                    }
                }
                EpState::Established | EpState::Partial => {
                    if syn {
                        ep.init_start(base_seq);
                        ep.init_ack(base_seq);
                        ep.init_last(seq_one_past);
                    }
                }
                EpState::Reset => {
                    if syn && ep.prev_state == EpState::Inactive {
                        ep.init_start(base_seq);
                        ep.init_ack(base_seq);
                        ep.init_last(seq_one_past);
                    }
                }
                EpState::Closed => {}
            }
        }

        let (rel_seq, _underflow) = {
            let ep = &self.ep[side];
            ep.relative(base_seq, ep.last_seq, ep.seq_wraps)
        };

        // update_history
        {
            let (_, m) = self.with_marks(side);
            let bits = u8::from(syn) + u8::from(fin) + u8::from(rst);
            if bits > 1 {
                if fin && rst {
                    hist.check(is_orig, mask::FIN_RST, 'I');
                } else {
                    hist.check(is_orig, mask::MULTI_FLAG, 'Q');
                }
            } else if bits == 1 {
                if syn {
                    let code = if ack { 'H' } else { 'S' };
                    if hist.check(is_orig, mask::SYN, code) && rel_seq != m.last_syn {
                        hist.add(if is_orig {
                            code
                        } else {
                            code.to_ascii_lowercase()
                        });
                    }
                    m.last_syn = rel_seq;
                }
                if fin {
                    let fin_seq = rel_seq.wrapping_add(u64::from(len));
                    if hist.check(is_orig, mask::FIN, 'F') && fin_seq != m.last_fin {
                        hist.add(if is_orig { 'F' } else { 'f' });
                    }
                    m.last_fin = fin_seq;
                }
                if rst {
                    if hist.check(is_orig, mask::RST, 'R') && rel_seq != m.last_rst {
                        hist.add(if is_orig { 'R' } else { 'r' });
                    }
                    m.last_rst = rel_seq;
                }
            } else if len > 0 {
                hist.check(is_orig, mask::DATA, 'D');
            } else if ack {
                hist.check(is_orig, mask::ACK, 'A');
            }
        }

        // update_window: only the zero-window letter matters here.
        {
            let peer_closed = self.ep[1 - side].state == EpState::Closed;
            let (ep, m) = self.with_marks(side);
            if tcp.window == 0 && !rst && !peer_closed && ep.state != EpState::Reset {
                hist.scaled(if is_orig { 'W' } else { 'w' }, &mut m.win0);
            }
        }

        if !self.ep[0].did_close || !self.ep[1].did_close {
            *last_time = ts;
        }

        if syn && !ack && is_orig {
            self.syn_attempts = self.syn_attempts.saturating_add(1);
            if self.syn_times.len() < MAX_SYN_TIMES {
                self.syn_times.push(ts);
            }
        }
        {
            let (ep, _) = self.pair(side);
            if fin {
                ep.fin_seen = true;
            }
            if syn && !ack && !fin && !rst {
                ep.sent_syn = true;
            }
            if syn && ack && !fin && !rst {
                ep.sent_synack = true;
            }
            if rst {
                ep.sent_rst = true;
            }
            if rst || fin {
                ep.sent_close = true;
            }
        }
        {
            let (ep, peer) = self.pair(side);
            if ack && !syn && !rst && peer.sent_synack && ep.sent_syn {
                ep.completed = true;
            }
            if rst && !peer.completed && !ep.sent_synack && peer.sent_syn && !peer.sent_synack {
                ep.rejected = true;
            }
        }

        if ack {
            let (ep, peer) = self.pair(side);
            if peer.state == EpState::Inactive {
                // init_peer: number the peer as if its SYN had been seen.
                let _ = ep;
                peer.init_start(ack_seq.wrapping_sub(1));
                peer.init_ack(ack_seq.wrapping_sub(1));
                peer.init_last(ack_seq.wrapping_sub(1));
            } else if !rst {
                peer.take_ack(ack_seq);
            }
        }

        // update_last_seq
        let delta_last = {
            let (ep, m) = self.with_marks(side);
            let delta = seq_delta(seq_one_past, ep.last_seq);
            if (syn || rst) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
                // Untrusted jump.
            } else if fin && ep.last_seq == ep.start_seq.wrapping_add(1) {
                ep.update_last(seq_one_past);
            } else if ep.state == EpState::Reset {
                // Sequence numbers after a RST are not trusted.
            } else if delta > 0 {
                ep.update_last(seq_one_past);
            } else if len > 0 {
                hist.scaled(if is_orig { 'T' } else { 't' }, &mut m.rxmt);
            }
            delta
        };

        let (do_close, gen_event) = self.state_machine(
            hist, orig_side, side, ts, base_seq, ack_seq, len, delta_last, is_orig, f, delays,
            &mut out,
        );

        if do_close {
            self.connection_closed(side, gen_event, *last_time, delays);
        }
        out
    }

    /// [`Self::process`] for the commonest segment, which takes none of its
    /// branches: an ACK (with or without data, no SYN, FIN or RST, a nonzero
    /// window) between two established endpoints. Most of a capture's
    /// packets are these, so they skip the endpoint initialisation, the
    /// relative sequence number and the state machine, whose outcome for them
    /// is fixed: no state changes, no close. What is left is exactly what
    /// `process::<false>` does for such a segment (`tests/zeek_baselines.rs` and
    /// `fast_path_matches_the_full_machine` below hold the two together).
    fn established_segment(
        &mut self,
        hist: &mut History,
        is_orig: bool,
        last_time: &mut Timestamp,
        seg: &Segment,
    ) {
        let Segment { side, ts, len, .. } = *seg;
        let tcp = &seg.tcp;
        if len > 0 {
            hist.check(is_orig, mask::DATA, 'D');
        } else {
            hist.check(is_orig, mask::ACK, 'A');
        }
        if !self.ep[0].did_close || !self.ep[1].did_close {
            *last_time = ts;
        }
        let (ep, peer) = self.pair(side);
        if peer.sent_synack && ep.sent_syn {
            ep.completed = true;
        }
        peer.take_ack(tcp.ack);
        let seq_one_past = tcp.seq.wrapping_add(len);
        let (ep, m) = self.with_marks(side);
        if seq_delta(seq_one_past, ep.last_seq) > 0 {
            ep.update_last(seq_one_past);
        } else if len > 0 {
            hist.scaled(if is_orig { 'T' } else { 't' }, &mut m.rxmt);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn state_machine(
        &mut self,
        hist: &mut History,
        orig_side: &mut usize,
        side: usize,
        ts: Timestamp,
        base_seq: u32,
        ack_seq: u32,
        len: u32,
        delta_last: i32,
        is_orig: bool,
        f: u8,
        delays: &Delays,
        out: &mut Outcome,
    ) -> (bool, bool) {
        let (syn, fin, rst, ack) = (f & SYN != 0, f & FIN != 0, f & RST != 0, f & ACK != 0);
        if !syn && self.ep[1 - side].state == EpState::Inactive {
            self.ep[side].sent_beyond_syn = true;
        }
        let mut do_close = false;
        let mut gen_event = false;
        let state = self.ep[side].state;
        match state {
            EpState::Inactive => {
                if syn {
                    if is_orig {
                        let (ep, _) = self.pair(side);
                        ep.set_state(if ack {
                            EpState::SynAckSent
                        } else {
                            EpState::SynSent
                        });
                        if self.attempt_at.is_none() {
                            self.attempt_at = Some(add(ts, delays.attempt));
                        }
                    } else {
                        let (ep, peer) = self.pair(side);
                        if !ack && peer.state == EpState::SynAckSent && base_seq == ep.start_seq {
                            // SYN / SYN-ACK reversal: flip the roles and establish.
                            *orig_side ^= 1;
                            hist.add('^');
                            out.flipped = true;
                            peer.set_state(EpState::Established);
                        }
                        if peer.state == EpState::SynSent {
                            peer.set_state(EpState::Established);
                        }
                        ep.set_state(EpState::Established);
                    }
                }
                if fin {
                    self.ep[side].set_state(EpState::Closed);
                    do_close = true;
                    gen_event = true;
                }
                if rst {
                    let peer_state = self.ep[1 - side].state;
                    self.ep[side].set_state(EpState::Reset);
                    let is_reject = if is_orig {
                        peer_state == EpState::Established
                    } else {
                        peer_state == EpState::SynSent || peer_state == EpState::SynAckSent
                    };
                    do_close = true;
                    gen_event = !is_reject;
                }
                if self.ep[side].state == EpState::Inactive {
                    let orig_state = self.ep[*orig_side].state;
                    let (ep, peer) = self.pair(side);
                    if !is_orig && len == 0 && orig_state == EpState::SynSent {
                        // An ACK to the SYN before the SYN-ACK: not a partial connection.
                    } else if ack && peer.state == EpState::Established {
                        // The SYN was missed but SYN-ACK and ACK seen: established.
                        ep.set_state(EpState::Established);
                    } else {
                        ep.set_state(EpState::Partial);
                    }
                }
            }
            EpState::SynSent | EpState::SynAckSent => {
                if fin {
                    self.ep[side].set_state(EpState::Closed);
                    do_close = true;
                    gen_event = true;
                }
                if rst {
                    self.ep[side].set_state(EpState::Reset);
                    self.is_active = false; // ConnectionReset
                    do_close = true;
                }
            }
            EpState::Established | EpState::Partial => {
                let (ep, peer) = self.pair(side);
                if syn && ep.state == EpState::Partial && peer.state == EpState::Inactive && !ack {
                    ep.set_state(EpState::SynSent);
                }
                if fin && !rst {
                    ep.set_state(EpState::Closed);
                    if peer.state == EpState::Reset && peer.prev_state == EpState::Closed {
                        // FIN then RST from the peer: a normal termination after all.
                        peer.set_state(EpState::Closed);
                    }
                    do_close = true;
                    gen_event = true;
                }
                if rst {
                    ep.set_state(EpState::Reset);
                    do_close = true;
                    if peer.state != EpState::Reset || peer.prev_state != EpState::Established {
                        self.is_active = false; // ConnectionReset
                    }
                }
            }
            EpState::Closed => {
                let _ = delta_last;
                let peer_state = self.ep[1 - side].state;
                if rst && peer_state != EpState::Closed {
                    let (ep, _) = self.pair(side);
                    ep.set_state(EpState::Reset);
                    if !ep.did_close {
                        do_close = true;
                    }
                    // Zeek's reset timer removes the connection tcp_reset_delay later.
                    if self.close_at.is_none() {
                        self.close_at = Some(add(ts, delays.reset));
                    }
                }
            }
            EpState::Reset => {}
        }
        let _ = ack_seq;
        (do_close, gen_event)
    }

    /// Zeek's `ConnectionClosed` (without reassembly, so never deferred).
    fn connection_closed(
        &mut self,
        side: usize,
        gen_event: bool,
        last_time: Timestamp,
        delays: &Delays,
    ) {
        let (ep, peer) = self.pair(side);
        if ep.did_close {
            return;
        }
        ep.did_close = true;
        let complete =
            ep.state == EpState::Reset || peer.did_close || peer.state == EpState::Inactive;
        if complete {
            let report = ep.prev_state != EpState::Inactive || peer.state != EpState::Inactive;
            if report && gen_event {
                self.is_active = false; // ConnectionFinished
            }
            // All other timers are cancelled; the connection goes tcp_close_delay later.
            if self.close_at.is_none() {
                self.close_at = Some(add(last_time, delays.close));
            }
            self.attempt_at = None;
        }
    }

    /// Whether Zeek's attempt timer would still remove this connection: an
    /// active connection whose originator only sent SYNs and whose responder said nothing.
    pub(crate) fn attempt_pending(&self, orig_side: usize) -> bool {
        let o = self.ep[orig_side].state;
        self.is_active
            && matches!(o, EpState::SynSent | EpState::SynAckSent)
            && self.ep[1 - orig_side].state == EpState::Inactive
    }

    /// [`TcpConn::attempt_pending`] for a connection whose originator also
    /// sent more than SYNs: a client-side half-duplex capture, where Zeek's
    /// attempt timer splits the connection even when flowaudit keeps SYN
    /// retransmissions together.
    pub(crate) fn half_duplex_pending(&self, orig_side: usize) -> bool {
        self.attempt_pending(orig_side) && self.ep[orig_side].sent_beyond_syn
    }

    /// Payload bytes of the endpoint on key side `side`.
    pub(crate) fn size(&self, side: usize) -> u64 {
        size(&self.ep[side], &self.ep[1 - side])
    }
}

/// Zeek's `conn_state()` for TCP, from the endpoint states, sizes and history.
pub(crate) fn conn_state(
    os: EpState,
    rs: EpState,
    orig_size: u64,
    resp_size: u64,
    history: &str,
) -> &'static str {
    use EpState::*;
    let o_inactive = matches!(os, Inactive | Partial);
    let r_inactive = matches!(rs, Inactive | Partial);
    if rs == Reset {
        if os == SynSent || os == SynAckSent || (os == Reset && orig_size == 0 && resp_size == 0) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if os == Reset {
        if r_inactive {
            if rstos0_history(history) {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else {
            "RSTO"
        }
    } else if rs == Closed && os == Closed {
        "SF"
    } else if os == Closed {
        if r_inactive { "SH" } else { "S2" }
    } else if rs == Closed {
        if o_inactive { "SHR" } else { "S3" }
    } else if os == SynSent && rs == Inactive {
        "S0"
    } else if os == Established && rs == Established {
        "S1"
    } else {
        "OTH"
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/ == history` (a full match).
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::PSH;
    use proptest::prelude::*;

    /// One segment: from the originator?, flags, sequence and ack offsets
    /// from what each side has sent so far, payload length, window.
    type Seg = (bool, u8, i32, i32, u32, u16);

    fn segment() -> impl Strategy<Value = Seg> {
        let flags = prop_oneof![
            6 => Just(ACK),
            4 => Just(ACK | PSH),
            1 => Just(FIN | ACK),
            1 => Just(RST),
            1 => Just(RST | ACK),
            1 => Just(SYN),
            1 => Just(SYN | ACK),
            1 => Just(0u8),
        ];
        let offset = prop_oneof![4 => Just(0i32), 2 => -3000i32..3000, 1 => any::<i32>()];
        let len = prop_oneof![Just(0u32), Just(1u32), Just(1460u32), 0u32..5000];
        let window = prop_oneof![4 => Just(65535u16), 1 => Just(0u16), 1 => any::<u16>()];
        (any::<bool>(), flags, offset.clone(), offset, len, window)
    }

    proptest! {
        /// The established-segment shortcut leaves a connection exactly as
        /// the full machine does, whatever came before: handshakes from any
        /// initial sequence numbers (wraps included), then any mix of
        /// segments, in or out of order, retransmitted, zero windows, closes.
        #[test]
        fn fast_path_matches_the_full_machine(
            isn in (any::<u32>(), any::<u32>()),
            segs in proptest::collection::vec(segment(), 0..40),
        ) {
            let delays = Delays {
                close: Duration::from_secs(5),
                reset: Duration::from_secs(5),
                attempt: Duration::from_secs(5),
            };
            let mut fast = (TcpConn::new(), History::default(), 0usize, Timestamp(0));
            let mut full = fast.clone();
            // Next sequence number each side would send.
            let mut next = [isn.0, isn.1];
            let handshake: [Seg; 3] = [
                (true, SYN, 0, 0, 0, 65535),
                (false, SYN | ACK, 0, 0, 0, 65535),
                (true, ACK, 0, 0, 0, 65535),
            ];
            for (i, (from_orig, flags, dseq, dack, len, window)) in
                handshake.into_iter().chain(segs).enumerate()
            {
                let side = usize::from(!from_orig);
                let seq = next[side].wrapping_add_signed(dseq);
                let tcp = TcpInfo {
                    flags,
                    seq,
                    ack: next[1 - side].wrapping_add_signed(dack),
                    window,
                };
                let len = if flags & (SYN | RST) != 0 { 0 } else { len };
                if dseq == 0 {
                    let used = len + u32::from(flags & (SYN | FIN) != 0);
                    next[side] = seq.wrapping_add(used);
                }
                let ts = Timestamp(i as i64 * 1_000_000);
                let seg = Segment { side, ts, tcp, len };
                let (c, h, o, l) = &mut fast;
                c.process::<true>(h, o, l, &seg, &delays);
                let (c, h, o, l) = &mut full;
                c.process::<false>(h, o, l, &seg, &delays);
                prop_assert_eq!(format!("{fast:?}"), format!("{full:?}"), "after segment {}", i);
            }
        }
    }

    #[test]
    fn rstos0_pattern() {
        assert!(rstos0_history("SR"));
        assert!(rstos0_history("^StR"));
        assert!(!rstos0_history("SFR"));
        assert!(!rstos0_history("SAR"));
        assert!(!rstos0_history("DR"));
    }

    #[test]
    fn conn_state_table() {
        use EpState::*;
        // Zeek's main.zeek documentation of each state.
        assert_eq!(conn_state(SynSent, Inactive, 0, 0, "S"), "S0");
        assert_eq!(conn_state(SynSent, Reset, 0, 0, "Sr"), "REJ");
        assert_eq!(conn_state(Closed, Closed, 1, 1, "ShAdDaFf"), "SF");
        assert_eq!(conn_state(Established, Established, 0, 0, "ShA"), "S1");
        assert_eq!(conn_state(Closed, Established, 0, 0, "ShAF"), "S2");
        assert_eq!(conn_state(Established, Closed, 0, 0, "ShAf"), "S3");
        assert_eq!(conn_state(Reset, Established, 0, 0, "ShAR"), "RSTO");
        assert_eq!(conn_state(Established, Reset, 0, 0, "ShAr"), "RSTR");
        assert_eq!(conn_state(Reset, Inactive, 0, 0, "SR"), "RSTOS0");
        assert_eq!(conn_state(Inactive, Reset, 0, 0, "hr"), "RSTRH");
        assert_eq!(conn_state(Closed, Inactive, 0, 0, "SF"), "SH");
        assert_eq!(conn_state(Inactive, Closed, 0, 0, "hf"), "SHR");
        assert_eq!(conn_state(Partial, Partial, 0, 0, "Dd"), "OTH");
    }
}
