//! Inconclusive and slow findings: failures the capture cannot prove, and answers that came too late.

use super::*;

impl<'a> Classifier<'a> {
    /// `o` is the outcome `b` was kept under (its ports are listed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn inconclusive(
        &self,
        k: GroupKey,
        o: Outcome,
        reason: Reason,
        b: &Bucket,
        sel: Selected<'a>,
        span_end: Option<Timestamp>,
    ) -> Finding {
        let mut ev: Vec<String> = self
            .ports_line(k, o, sel.enabled.or(sel.disabled))
            .into_iter()
            .collect();
        ev.extend(self.endpoint_lines(sel.enabled.or(sel.disabled), &self.ports_of(k, o), b));
        let pairs = b.sorted();
        for &(s, d, p) in pairs.iter().take(crate::classify::evidence::MAX_LISTED) {
            let n = plural(p.conns, "connection", "connections");
            ev.push(match reason {
                Reason::OneSided => format!(
                    "{s} -> {d}: {n} sent ACKs or data after the SYN, but no packet from {d} was captured: \
                     the handshake completed and the capture shows one direction only"
                ),
                Reason::PartialReply => format!(
                    "{s} -> {d}: {d} sent packets in {n} but no SYN-ACK or RST was captured: \
                     the capture missed part of the conversation"
                ),
                Reason::Midstream => format!(
                    "{s} -> {d}: {n} began before the capture (no SYN seen) and show packets from one side only"
                ),
                Reason::NoReplyOneSided => format!(
                    "{s} -> {d}: {} in {n}, no reply captured, but the capture looks one-sided (see the \
                     capture warnings): a reply may have come and not been captured",
                    plural(p.requests, "request", "requests"),
                ),
                Reason::Tail => {
                    let gap = |t: Timestamp| span_end.map_or(0, |e| e.0.saturating_sub(t.0));
                    let what = if k.proto == Proto::Tcp { "SYN" } else { "request" };
                    let next = if k.proto == Proto::Tcp {
                        "before a retransmission could follow"
                    } else {
                        "before a reply or a retry could be seen"
                    };
                    if p.conns == 1 {
                        format!(
                            "the only {what} from {s} to {d} came {} before the capture ended, {next}",
                            fmt_secs(gap(p.first))
                        )
                    } else {
                        format!(
                            "{} connections from {s} to {d} each sent one {what} in the last {} of the capture \
                             (the earliest {} before its end), {next}",
                            p.conns,
                            fmt_secs(TAIL_WINDOW.0),
                            fmt_secs(gap(p.first))
                        )
                    }
                }
            });
        }
        if pairs.len() > crate::classify::evidence::MAX_LISTED {
            ev.push(format!(
                "and {} more host pairs",
                pairs.len() - crate::classify::evidence::MAX_LISTED
            ));
        }
        let sev = doubt_severity(&sel);
        if let Some(r) = sel.enabled {
            ev.push(format!("matches {}", rule_ref(r)));
        }
        if let Some(n) = filter_note(pairs.len()) {
            ev.push(n);
        }
        let ports = self.ports_of(k, o);
        let wf = filter::build(k.proto, &ports, &filter_pairs(b, false), Shape::Both);
        let k = GroupKey {
            port: ports.first().copied().unwrap_or(k.port),
            ..k
        };
        self.base(FindingKind::Inconclusive, sev, k, sel, None, b, ev, wf)
    }

    /// UDP requests whose replies came only in a later record of the same flow.
    pub(super) fn slow(&self, k: GroupKey, b: &Bucket, sel: Selected<'a>) -> Finding {
        let mut ev: Vec<String> = self
            .ports_line(k, Outcome::Slow, sel.enabled.or(sel.disabled))
            .into_iter()
            .collect();
        let first_line = ev.len();
        for (d, p) in per_destination(&b.sorted()) {
            let after = range_text(p.answer_delay, fmt_secs);
            ev.push(format!(
                "{} in {} to {d} answered only {after} after the last request, in a later record of \
                 the same address/port pair (the tracker had closed the request's record, as Zeek \
                 does after 10 s for DNS and 60 s for other UDP): the path works, but the server or \
                 the path is slow, and clients give up long before such a reply",
                plural(p.requests, "request", "requests"),
                plural(p.conns, "record", "records"),
            ));
        }
        cap_lines(&mut ev, first_line, "destinations");
        let sev = doubt_severity(&sel);
        if let Some(r) = sel.enabled.or(sel.disabled) {
            ev.push(format!("matches {}", rule_ref(r)));
        }
        if let Some(n) = filter_note(b.pairs.len()) {
            ev.push(n);
        }
        let ports = self.ports_of(k, Outcome::Slow);
        let wf = filter::build(k.proto, &ports, &filter_pairs(b, false), Shape::Both);
        let k = GroupKey {
            port: ports.first().copied().unwrap_or(k.port),
            ..k
        };
        self.base(FindingKind::Slow, sev, k, sel, None, b, ev, wf)
    }
}
