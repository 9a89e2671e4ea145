//! Failed findings: the path is open and the protocol fails. The learner
//! saw the failures in the payload ([`crate::learn::failure`]); here each is
//! tied to its role pair and the rule it breaks, and those of one (how,
//! role pair, port, rule) make one finding.

use super::*;
use crate::catalogue::Watched;
use crate::classify::evidence::fmt_span;
use crate::learn::failure::{Clock, Failure, FailureKind};

/// Kerberos' default tolerance for clock skew (MaxClockSkew: 5 minutes).
const MAX_SKEW_SECS: u64 = 300;

/// The findings' grouping: how, source role, destination role, transport,
/// port, rule index.
type FailedKey = (How, Role, Option<Role>, Proto, u16, usize);

impl<'a> Classifier<'a> {
    /// The protocol failures the learner found
    /// ([`crate::learn::Learned::failures`]), judged at [`Classifier::finish`].
    pub fn set_failures(&mut self, failures: Vec<Failure>) {
        self.failures = failures;
    }

    /// The `failed` findings.
    pub(super) fn failed(&self, findings: &mut Vec<Finding>, span_end: Option<Timestamp>) {
        let derived = self.reach_failures(span_end);
        let mut groups: BTreeMap<FailedKey, Vec<(&Failure, Option<How>)>> = BTreeMap::new();
        for f in self.failures.iter().chain(&derived) {
            // A failure of a host outside the deployment is not the audit's.
            let Some(src) = self.role_of(f.client) else {
                continue;
            };
            // A proxy's tunnels carry flows to the cloud, as the audit
            // classifies them ([`Classifier::connection_via_proxy`]).
            let dst = match f.kind {
                FailureKind::ProxyIdleCut => self.role_of(f.server).or(Some(Role::Azure)),
                _ => self.role_of(f.server),
            };
            let (how, proto, tcp_how) = match f.kind {
                FailureKind::KerberosSkew => (How::KerberosClockSkew, f.proto, None),
                FailureKind::KerberosPrincipalUnknown => {
                    (How::KerberosPrincipalUnknown, f.proto, None)
                }
                // Asked to use TCP: a failure only when TCP then failed.
                FailureKind::KerberosTooBig => match self.tcp_failure(f, src, dst) {
                    Some(h) => (How::KerberosTcpBlocked, Proto::Tcp, Some(h)),
                    None => continue,
                },
                FailureKind::KerberosFragmentsLost => (How::KerberosFragmentsLost, f.proto, None),
                FailureKind::DnsNxdomain => (How::DnsNxdomain, f.proto, None),
                FailureKind::DnsServfail => (How::DnsServfail, f.proto, None),
                FailureKind::DnsNoAnswer => (How::DnsNoAnswer, f.proto, None),
                FailureKind::TlsLegacyVersion => (How::TlsLegacyVersion, f.proto, None),
                FailureKind::TlsAlert => (How::TlsAlert, f.proto, None),
                FailureKind::TlsIntercepted => (How::TlsIntercepted, f.proto, None),
                FailureKind::TlsResetAfterHello => (How::TlsResetAfterHello, f.proto, None),
                FailureKind::ResolvedNeverReached => (How::ResolvedNeverReached, f.proto, None),
                FailureKind::ReachedAfterRetry => (How::ReachedAfterRetry, f.proto, None),
                FailureKind::ProxyIdleCut => (How::ProxyIdleCut, f.proto, None),
            };
            let Some(rule) = self.broken_rule(f, src, dst, proto) else {
                continue;
            };
            let idx = self.rule_index(rule);
            groups
                .entry((how, src, dst, proto, f.port, idx))
                .or_default()
                .push((f, tcp_how));
        }
        for (key, fs) in groups {
            if let Some(f) = self.failed_finding(key, &fs) {
                findings.push(f);
            }
        }
    }

    /// The rule a failure breaks: for a named endpoint, the first rule the
    /// name serves that the client's role follows (those of the failure's
    /// own transport and port first, then enabled ones first); for
    /// Kerberos, the rule of the flow itself.
    fn broken_rule(
        &self,
        f: &Failure,
        src: Role,
        dst: Option<Role>,
        proto: Proto,
    ) -> Option<&'a Rule> {
        if let Some(name) = &f.name {
            let cat: &'a Catalogue = self.catalogue;
            let serves = cat.watched(name)?.serves();
            let rules = serves
                .iter()
                .filter_map(|id| self.rule_by_id(id))
                .filter(|r| r.src.contains(&src));
            let feats = &self.inventory.features;
            let own = |r: &&Rule| r.transports.contains(&proto) && r.ports.contains(f.port);
            return rules
                .clone()
                .filter(own)
                .find(|r| r.enabled_by(feats))
                .or(rules.clone().find(own))
                .or(rules.clone().find(|r| r.enabled_by(feats)))
                .or(rules.clone().next());
        }
        let k = GroupKey {
            src,
            dst: dst?,
            proto,
            port: 88,
            epm: false,
        };
        let sel = self.select(k);
        sel.enabled.or(sel.disabled)
    }

    /// How the client's TCP connections to the KDC on port 88 failed, if
    /// they did (the first way, in the order of [`How`]).
    fn tcp_failure(&self, f: &Failure, src: Role, dst: Option<Role>) -> Option<How> {
        let k = GroupKey {
            src,
            dst: dst?,
            proto: Proto::Tcp,
            port: f.port,
            epm: false,
        };
        self.groups.get(&k)?.iter().find_map(|(o, b)| match o {
            Outcome::Blocked(h) if b.pairs.contains_key(&(f.client, f.server)) => Some(*h),
            _ => None,
        })
    }

    /// One finding for the failures of one group.
    fn failed_finding(
        &self,
        (how, src, dst, proto, port, idx): FailedKey,
        fs: &[(&Failure, Option<How>)],
    ) -> Option<Finding> {
        let rule = self.catalogue.rules.get(idx)?;
        let mut ev = Vec::new();
        for (f, tcp_how) in fs {
            ev.push(failure_line(f, *tcp_how, self.catalogue));
        }
        cap_lines(&mut ev, 0, "failures");
        if let Some(line) = advice(how, src) {
            ev.push(line.to_string());
        }
        let feats = &self.inventory.features;
        let sel = Selected {
            enabled: rule.enabled_by(feats).then_some(rule),
            disabled: (!rule.enabled_by(feats)).then_some(rule),
            also: Vec::new(),
        };
        let k = GroupKey {
            src,
            dst: dst.unwrap_or(src),
            proto,
            port,
            epm: false,
        };
        let (mut severity, why) = self.failure_severity(k, sel);
        // Nothing was broken (the client got through, or only idle
        // connections were cut): worth fixing, not an outage.
        if !fs.iter().any(|(f, _)| f.disrupted) {
            severity = severity.min(Severity::Warning);
        }
        ev.push(why);
        let mut pairs: BTreeMap<(IpAddr, IpAddr), HostPair> = BTreeMap::new();
        for (f, _) in fs {
            let p = pairs.entry((f.client, f.server)).or_insert(HostPair {
                src: f.client,
                dst: f.server,
                attempts: 0,
                first_ts: f.first,
                last_ts: f.last,
                src_name: None,
                dst_name: None,
            });
            p.attempts += f.count;
            p.first_ts = p.first_ts.min(f.first);
            p.last_ts = p.last_ts.max(f.last);
        }
        let hosts: Vec<HostPair> = pairs.into_values().collect();
        Some(Finding {
            kind: FindingKind::Failed,
            severity,
            src_role: Some(src),
            dst_role: dst,
            transport: proto,
            port,
            ports: Some(rule.ports.to_string()),
            rule: Some(rule.id.clone()),
            table: rule.table.clone(),
            page: rule.page.clone(),
            section: rule.section.clone(),
            also_rules: Vec::new(),
            how: Some(how),
            hosts_total: hosts.len() as u64,
            hosts,
            count: fs.iter().map(|(f, _)| f.count).sum(),
            evidence: ev,
            wireshark_filter: wireshark(how, fs),
            inputs: Vec::new(),
            input_mask: 0,
        })
    }
}

/// `7 min 12 s`, `42 s`, `3.2 h`.
fn fmt_skew(ns: i64) -> String {
    let secs = ns.unsigned_abs() / 1_000_000_000;
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 3 * 3600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        fmt_span(secs as f64)
    }
}

/// The evidence line of one failure.
fn failure_line(f: &Failure, tcp_how: Option<How>, cat: &Catalogue) -> String {
    let times = plural(f.count, "time", "times");
    match f.kind {
        FailureKind::KerberosSkew => {
            let (c, s) = (f.client, f.server);
            let clock = match f.skew {
                Some((ns, clock)) => {
                    let side = if ns >= 0 { "ahead of" } else { "behind" };
                    let whose = match clock {
                        Clock::Client => {
                            "the client's clock (the time its request gave)".to_string()
                        }
                        Clock::Capture => format!(
                            "the capture's clock (which is {c}'s own when the capture was taken there)"
                        ),
                    };
                    let over = if ns.unsigned_abs() / 1_000_000_000 > MAX_SKEW_SECS {
                        ", more than the 5 minutes Kerberos allows"
                    } else {
                        ""
                    };
                    format!(": the DC's clock is {} {side} {whose}{over}", fmt_skew(ns))
                }
                None => String::new(),
            };
            format!(
                "KRB_AP_ERR_SKEW from {s} to {c} over {}, {times}{clock}: the time on {c} differs from the DC's",
                f.proto.name()
            )
        }
        FailureKind::KerberosPrincipalUnknown => format!(
            "{} from {} to {} over {}, {times}",
            f.detail,
            f.server,
            f.client,
            f.proto.name()
        ),
        FailureKind::KerberosTooBig => {
            let how = tcp_how.map_or("failed", How::name);
            format!(
                "{} answered {}'s UDP request with KRB_ERR_RESPONSE_TOO_BIG ({times}): the reply does not fit \
                 in a datagram and the client must retry over TCP, and its TCP connections to {} on port {} \
                 failed ({how}: see the blocked finding): UDP 88 works, TCP 88 is blocked",
                f.server, f.client, f.server, f.port
            )
        }
        FailureKind::KerberosFragmentsLost => format!(
            "{} to {} over udp, {times}: {}",
            f.server, f.client, f.detail
        ),
        FailureKind::DnsNxdomain | FailureKind::DnsServfail | FailureKind::DnsNoAnswer => {
            let what = match f.kind {
                FailureKind::DnsNxdomain => format!("answered NXDOMAIN by {}", f.server),
                FailureKind::DnsServfail => format!("answered SERVFAIL or REFUSED by {}", f.server),
                _ => format!("sent to {}, no response", f.server),
            };
            let name = f.name.as_deref().unwrap_or("");
            let meaning = match cat.watched(name) {
                Some(Watched::Lookup(l)) => l.meaning.clone(),
                Some(Watched::Endpoint(h)) => format!(
                    "a Microsoft endpoint ({}) of {}",
                    h.pattern,
                    fmt_list(&h.serves)
                ),
                None => String::new(),
            };
            format!(
                "{}: {what} to {} over {}, {times}: {meaning}",
                f.detail,
                f.client,
                f.proto.name()
            )
        }
        FailureKind::TlsLegacyVersion
        | FailureKind::TlsAlert
        | FailureKind::TlsIntercepted
        | FailureKind::TlsResetAfterHello => {
            let name = f.name.as_deref().unwrap_or("");
            let endpoint = match cat.watched(name) {
                Some(Watched::Endpoint(h)) => {
                    format!(
                        ": a Microsoft endpoint ({}) of {}",
                        h.pattern,
                        fmt_list(&h.serves)
                    )
                }
                _ => String::new(),
            };
            format!(
                "{} ({} to {} port {}, {times}){endpoint}",
                f.detail, f.client, f.server, f.port
            )
        }
        FailureKind::ResolvedNeverReached => format!(
            "{}: answered by {} to {} over {}, {times}",
            f.detail,
            f.server,
            f.client,
            f.proto.name()
        ),
        FailureKind::ReachedAfterRetry => format!("{} ({})", f.detail, f.client),
        FailureKind::ProxyIdleCut => format!("{}: {times}", f.detail),
    }
}

/// What to do about a failure, said once per finding.
fn advice(how: How, src: Role) -> Option<&'static str> {
    Some(match how {
        How::KerberosClockSkew => {
            "Kerberos refuses tickets while the clocks differ by more than 5 minutes: check the client's time \
             source (W32Time, NTP on udp/123 to a DC: `w32tm /query /status`) and the DC's"
        }
        How::KerberosPrincipalUnknown if src == Role::Sync => {
            "the KDC has no account of that name: if it is the AD DS connector account (MSOL_...), it was \
             deleted, renamed or belongs to another forest: update the connector's credentials in the Entra \
             Connect wizard; a service principal unknown means the DC was addressed by a name no account holds \
             (an alias, an address, a retired DC)"
        }
        How::KerberosPrincipalUnknown => {
            "the KDC has no account of that name: a deleted or renamed account, or a server addressed by a name \
             no account holds as its service principal name (check with `setspn -Q`)"
        }
        How::KerberosTcpBlocked => {
            "the classic half-open Kerberos firewall: open TCP 88 to the DCs as well as UDP 88 (large tickets, \
             such as those of accounts in many groups, always need TCP)"
        }
        How::KerberosFragmentsLost => {
            "something between the KDC and the client drops IP fragments (a firewall's or router's \
             fragment policy, or a path with a smaller MTU and ICMP blocked): allow fragments between the \
             clients and the DCs, or have the client use TCP for Kerberos (Windows does by default; MIT \
             Kerberos: `udp_preference_limit = 1`) and make sure TCP 88 is open"
        }
        How::DnsNxdomain => {
            "the DNS server says the name does not exist: for a DC locator record, the DCs' Netlogon has not \
             registered it in the zone this server answers from (`nltest /dsgetdc:` and `dcdiag /test:dns`); \
             for a Microsoft endpoint, a DNS filter or a split-horizon zone hides it"
        }
        How::DnsServfail => {
            "the DNS server could not resolve the name: its forwarders or root hints are unreachable, the zone's \
             servers do not answer it, or DNSSEC validation failed"
        }
        How::DnsNoAnswer => {
            "queries for the name went unanswered: the DNS server is down or a firewall drops DNS (see any blocked \
             finding on udp/53)"
        }
        How::TlsLegacyVersion => {
            "the client offers nothing newer than TLS 1.1, which the Microsoft cloud refuses: enable TLS 1.2 for \
             .NET and SChannel on the server (Entra Connect's \"TLS 1.2 enforcement\" registry keys: \
             SchUseStrongCrypto and SystemDefaultTlsVersions) and restart the service"
        }
        How::TlsAlert => {
            "the handshake was refused in clear text: protocol_version or handshake_failure from the server side \
             means no TLS version or cipher suite in common (the client's TLS 1.2 and cipher suite settings, or a \
             proxy that speaks only older ones); unknown_ca or bad_certificate from the client means it did not \
             trust the certificate it was shown (look for a tls-intercepted finding)"
        }
        How::TlsIntercepted => {
            "a device between the client and Microsoft replaced the server certificate with its own (TLS \
             inspection): Microsoft does not support it for Entra Connect and Connect Health: exempt the \
             Microsoft endpoints from inspection on the proxy or firewall"
        }
        How::TlsResetAfterHello => {
            "the port is open, and the connection is cut as soon as the server name is seen: a firewall or \
             proxy filters by SNI: allow the Microsoft endpoint's name in its URL or application policy"
        }
        How::ResolvedNeverReached => {
            "the host looked the endpoint up and never sent it a packet: something on the host stops it before \
             the wire (a Windows Firewall outbound rule, a WinHTTP or .NET proxy setting the capture does not \
             show, no route for the address family answered), or the service gave up before connecting; \
             `Test-NetConnection <name> -Port 443` on the host shows which"
        }
        How::ProxyIdleCut => {
            "the proxy closes tunnels that carry nothing for a fixed time, shorter than a sync export or an \
             agent's Service Bus relay stays quiet: raise the proxy's idle (or client-side) timeout for the \
             Microsoft endpoints to several minutes, or exempt them from the proxy"
        }
        How::ReachedAfterRetry => {
            "the endpoint was reached only after failed attempts: some of its addresses (or the first \
             connections) are blocked and the client got through by retrying; allow the whole Microsoft \
             range (endpoint set 56), not single addresses, and see the blocked finding for the attempts"
        }
        _ => return None,
    })
}

/// `ip.addr==A && ip.addr==B`.
fn both(a: IpAddr, b: IpAddr) -> String {
    let f = crate::classify::filter::ip_field(a);
    format!("{f}.addr=={a} && {f}.addr=={b}")
}

/// A display filter for the failures' packets: the errors, the failed
/// lookups, and for TCP 88 the SYNs that went unanswered.
fn wireshark(how: How, fs: &[(&Failure, Option<How>)]) -> Option<String> {
    let mut alts: Vec<String> = Vec::new();
    for (f, _) in fs.iter().take(crate::classify::filter::MAX_FILTER_PAIRS) {
        let pair = both(f.client, f.server);
        let dns = |cond: &str| {
            let name = f.name.as_deref().unwrap_or("");
            format!("{pair} && dns.qry.name==\"{name}\" && {cond}")
        };
        let alt = match how {
            How::KerberosClockSkew => format!("{pair} && kerberos.error_code==37"),
            How::KerberosPrincipalUnknown => {
                format!("{pair} && (kerberos.error_code==6 || kerberos.error_code==7)")
            }
            How::KerberosTcpBlocked => {
                format!(
                    "{pair} && (kerberos.error_code==52 || tcp.port=={})",
                    f.port
                )
            }
            How::KerberosFragmentsLost => {
                let frags = match f.client {
                    IpAddr::V4(_) => "ip.flags.mf==1 || ip.frag_offset>0",
                    IpAddr::V6(_) => "ipv6.fragment",
                };
                format!("{pair} && (udp.port==88 || {frags})")
            }
            How::DnsNxdomain => dns("dns.flags.rcode==3"),
            How::DnsServfail => dns("(dns.flags.rcode==2 || dns.flags.rcode==5)"),
            How::DnsNoAnswer => dns("dns.flags.response==0"),
            How::TlsLegacyVersion => format!(
                "{pair} && tls.handshake.type==1 && tls.handshake.extensions_server_name==\"{}\"",
                f.name.as_deref().unwrap_or("")
            ),
            How::TlsAlert => format!(
                "{pair} && tcp.port=={} && tls.alert_message.level==2",
                f.port
            ),
            How::TlsIntercepted => {
                format!("{pair} && tcp.port=={} && tls.handshake.type==11", f.port)
            }
            How::TlsResetAfterHello => format!(
                "{pair} && tcp.port=={} && (tls.handshake.type==1 || tcp.flags.reset==1 || tcp.flags.fin==1)",
                f.port
            ),
            How::ProxyIdleCut => format!(
                "{pair} && tcp.port=={} && (tcp.flags.fin==1 || tcp.flags.reset==1)",
                f.port
            ),
            // The answers, and (none, for never reached) the packets to them.
            How::ResolvedNeverReached | How::ReachedAfterRetry => {
                let to: Vec<String> = f
                    .addrs
                    .iter()
                    .take(8)
                    .map(|&a| format!("{}.dst=={a}", crate::classify::filter::ip_field(a)))
                    .collect();
                let (ip, c) = (crate::classify::filter::ip_field(f.client), f.client);
                format!(
                    "(dns.qry.name==\"{}\" && dns.flags.response==1 && {ip}.dst=={c}) || ({ip}.src=={c} && ({}))",
                    f.name.as_deref().unwrap_or(""),
                    to.join(" || ")
                )
            }
            _ => continue,
        };
        alts.push(alt);
    }
    alts.dedup();
    match alts.len() {
        0 => None,
        1 => alts.pop(),
        _ => Some(
            alts.iter()
                .map(|a| format!("({a})"))
                .collect::<Vec<_>>()
                .join(" || "),
        ),
    }
}
