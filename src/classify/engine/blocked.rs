//! Blocked findings: the evidence of each way an attempt fails.

use super::*;

impl<'a> Classifier<'a> {
    pub(super) fn blocked(
        &self,
        k: GroupKey,
        how: How,
        b: &Bucket,
        working: Option<&Bucket>,
        sel: Selected<'a>,
        one_sided: bool,
    ) -> Finding {
        let mut ev = Vec::new();
        // Through a proxy, working and refused tunnels to the proxy are to
        // different targets: no "works to A, fails to B" about the proxy.
        if how != How::ProxyRefused
            && let Some(s) = working.and_then(|w| works_fails(w, &[b]))
        {
            ev.push(s);
        }
        let o = Outcome::Blocked(how);
        ev.extend(self.ports_line(k, o, sel.enabled.or(sel.disabled)));
        ev.extend(self.endpoint_lines(sel.enabled.or(sel.disabled), &self.ports_of(k, o), b));
        let pairs = b.sorted();
        let per_dst = per_destination(&pairs);
        let first_line = ev.len();
        match how {
            How::Rst => {
                for (d, p) in &per_dst {
                    let delay = range_text(p.answer_delay, fmt_delay);
                    let after = if p.syns <= 1 {
                        "the SYN".to_string()
                    } else {
                        format!("each of {} SYNs", p.syns)
                    };
                    ev.push(format!(
                        "RST from {d} {delay} after {after}: port closed or host firewall"
                    ));
                }
            }
            How::ResetAfterHandshake => {
                for (d, p) in &per_dst {
                    let when = range_text(p.answer_delay, fmt_delay);
                    let after = match p.sent_data {
                        0 => "before the client sent anything".to_string(),
                        n if n == p.conns => {
                            "after the client's first data (a TLS ClientHello or a first request)"
                                .to_string()
                        }
                        n => format!(
                            "{n} of them after the client's first data (a TLS ClientHello or a first request)"
                        ),
                    };
                    ev.push(format!(
                        "{} to {d} completed the handshake, then {d} reset {} without sending a byte, {when} after the SYN, {after}: \
                         the port is open but the service refused the client, or a firewall or IPS that inspects the first bytes \
                         (TLS server name filtering) cut the connection",
                        plural(p.conns, "connection", "connections"),
                        if p.conns == 1 { "it" } else { "them" },
                    ));
                }
                if let Some(note) = sel
                    .enabled
                    .or(sel.disabled)
                    .and_then(|r| r.on_reset.as_deref())
                {
                    ev.push(note.to_string());
                }
            }
            How::ProxyRefused => {
                for (d, p) in &per_dst {
                    for &(port, status, n) in &p.proxied {
                        ev.push(format!(
                            "the explicit proxy {d}:{port} answered CONNECT with {status} for {}: {}",
                            plural(n, "connection", "connections"),
                            proxy_meaning(status)
                        ));
                    }
                }
            }
            How::NoSynack => {
                for (d, p) in &per_dst {
                    let up = if self.senders.contains(d) {
                        format!(
                            "a firewall dropping silently ({d} is up: the capture holds other packets from it)"
                        )
                    } else {
                        "a firewall dropping silently, or the host is down".to_string()
                    };
                    let s = if p.conns <= 1 {
                        if p.syns <= 1 {
                            format!("1 SYN to {d}, no SYN-ACK: {up}")
                        } else {
                            format!(
                                "{} SYNs to {d} over {}, no SYN-ACK: {up}",
                                p.syns,
                                fmt_secs(p.syn_span)
                            )
                        }
                    } else if p.syns <= p.conns {
                        format!(
                            "{} connections to {d}, one SYN each and no retransmission, no SYN-ACK: {up}",
                            p.conns
                        )
                    } else {
                        format!(
                            "{} in {} connections to {d} (retransmitted for up to {}), no SYN-ACK: {up}",
                            plural(p.syns, "SYN", "SYNs"),
                            p.conns,
                            fmt_secs(p.syn_span)
                        )
                    };
                    ev.push(s);
                }
            }
            How::NoReply => {
                for (d, p) in &per_dst {
                    ev.push(format!(
                        "{} in {} to {d}, no reply and no ICMP error: a firewall dropping silently, or the host is down",
                        plural(p.requests, "request", "requests"),
                        plural(p.conns, "connection", "connections"),
                    ));
                }
            }
            How::Icmp => {
                // (v6, type, code, reporter) -> (connections, destinations).
                let mut seen: BTreeMap<IcmpKind, (u64, BTreeSet<IpAddr>)> = BTreeMap::new();
                let mut other = 0u64;
                for &(_, d, p) in &pairs {
                    for e in &p.icmp {
                        let ent = seen
                            .entry((e.v6, e.icmp_type, e.code, e.reporter))
                            .or_default();
                        ent.0 += e.conns;
                        ent.1.insert(d);
                    }
                    other += p.icmp_other;
                }
                for ((v6, t, code, reporter), (n, dsts)) in &seen {
                    let (name, meaning) = icmp_name(*v6, *t, *code);
                    let from_dst = dsts.len() == 1 && dsts.contains(reporter);
                    let from = if from_dst {
                        format!("from the destination itself ({reporter})")
                    } else {
                        format!("from {reporter}")
                    };
                    let dl: Vec<IpAddr> = dsts.iter().copied().collect();
                    let advice = icmp_advice(meaning, from_dst && meaning == IcmpMeaning::Firewall);
                    ev.push(format!(
                        "ICMP{} {t}/{code} ({name}) {from} for {} to {}: {advice}",
                        if *v6 { "v6" } else { "" },
                        plural(*n, "connection", "connections"),
                        fmt_hosts(&dl)
                    ));
                }
                if other > 0 {
                    ev.push(format!("{other} more ICMP errors of other kinds"));
                }
            }
            // A connection's outcome is never one of these: `failed.rs` makes them.
            How::KerberosClockSkew
            | How::KerberosPrincipalUnknown
            | How::KerberosTcpBlocked
            | How::DnsNxdomain
            | How::DnsServfail
            | How::DnsNoAnswer
            | How::TlsLegacyVersion
            | How::TlsAlert
            | How::TlsIntercepted
            | How::TlsResetAfterHello
            | How::ResolvedNeverReached
            | How::ReachedAfterRetry
            | How::ProxyIdleCut
            | How::KerberosFragmentsLost => {}
        }
        cap_lines(
            &mut ev,
            first_line,
            if how == How::Icmp {
                "kinds of ICMP error"
            } else {
                "destinations"
            },
        );
        let (mut sev, why) = self.failure_severity(k, sel.clone());
        ev.push(why);
        if let Some(r) = sel.enabled.or(sel.disabled) {
            ev.extend(r.on_block.iter().cloned());
        }
        if one_sided && matches!(how, How::NoSynack | How::NoReply) {
            sev = sev.min(Severity::Warning);
            ev.push(
                "the capture looks one-sided (see the capture warnings): the replies may simply not have been captured"
                    .to_string(),
            );
        }
        if let Some(n) = filter_note(pairs.len()) {
            ev.push(n);
        }
        let shape = if matches!(how, How::Rst | How::ResetAfterHandshake | How::ProxyRefused) {
            Shape::Both
        } else {
            Shape::Forward
        };
        let ports = self.ports_of(k, o);
        // Through a proxy the packets go to the proxy's port, not the target's.
        let mut proxy_ports: Vec<u16> = pairs
            .iter()
            .flat_map(|(_, _, p)| p.proxied.iter().map(|e| e.0))
            .collect();
        proxy_ports.sort_unstable();
        proxy_ports.dedup();
        let filter_ports = if how == How::ProxyRefused && !proxy_ports.is_empty() {
            proxy_ports
        } else {
            ports.clone()
        };
        let wf = filter::build(
            k.proto,
            &filter_ports,
            &filter_pairs(b, how == How::Icmp),
            shape,
        );
        let k = GroupKey {
            port: ports.first().copied().unwrap_or(k.port),
            ..k
        };
        self.base(FindingKind::Blocked, sev, k, sel, Some(how), b, ev, wf)
    }
}
