//! Wireshark display filters for findings.
//!
//! Field comparisons in Wireshark match when *any* occurrence of the field
//! matches; ICMP errors carry the quoted IP and TCP/UDP headers, which
//! Wireshark dissects, so `tcp.dstport==P` also selects the ICMP errors that
//! quote a packet to port P.

use crate::catalogue::Proto;
use std::fmt::Write as _;
use std::net::IpAddr;

/// At most this many host pairs go into one filter; evidence says when more were left out.
pub(crate) const MAX_FILTER_PAIRS: usize = 50;

/// Which packets of each host pair the filter selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Originator to responder on the port only (SYNs, UDP requests).
    Forward,
    /// Both directions of the conversation on the port(s).
    Both,
}

/// One host pair of a filter, with the ICMP errors to include.
#[derive(Clone, Debug)]
pub(crate) struct FilterPair {
    /// Originator.
    pub src: IpAddr,
    /// Responder.
    pub dst: IpAddr,
    /// ICMP errors to add: (ICMPv6?, type, reporter).
    pub icmp: Vec<(bool, u8, IpAddr)>,
}

/// `ip` or `ipv6`: the display filter's protocol for an address.
pub(crate) fn ip_field(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "ip" } else { "ipv6" }
}

/// `tcp.dstport==3268`, or for several ports `(tcp.port==49670 || tcp.port==49671)`.
fn port_expr(proto: Proto, ports: &[u16], dir: &str) -> String {
    let t = proto.name();
    match ports {
        [p] => format!("{t}.{dir}port=={p}"),
        _ => {
            let alts: Vec<String> = ports
                .iter()
                .map(|p| format!("{t}.{dir}port=={p}"))
                .collect();
            format!("({})", alts.join(" || "))
        }
    }
}

/// A display filter for these host pairs on these destination ports.
pub(crate) fn build(
    proto: Proto,
    ports: &[u16],
    pairs: &[FilterPair],
    shape: Shape,
) -> Option<String> {
    if pairs.is_empty() || ports.is_empty() {
        return None;
    }
    let mut alts: Vec<String> = Vec::new();
    for p in pairs.iter().take(MAX_FILTER_PAIRS) {
        let (fs, fd) = (ip_field(p.src), ip_field(p.dst));
        let mut s = String::new();
        match shape {
            Shape::Forward => {
                let _ = write!(
                    s,
                    "{fs}.src=={} && {fd}.dst=={} && {}",
                    p.src,
                    p.dst,
                    port_expr(proto, ports, "dst")
                );
            }
            Shape::Both => {
                let _ = write!(
                    s,
                    "{fs}.addr=={} && {fd}.addr=={} && {}",
                    p.src,
                    p.dst,
                    port_expr(proto, ports, "")
                );
            }
        }
        alts.push(s);
        for &(v6, t, reporter) in &p.icmp {
            let (icmp, ipf) = if v6 {
                ("icmpv6", "ipv6")
            } else {
                ("icmp", "ip")
            };
            alts.push(format!(
                "{icmp}.type=={t} && {ipf}.src=={reporter} && {ipf}.dst=={} && {}",
                p.src,
                port_expr(proto, ports, "dst")
            ));
        }
    }
    if alts.len() == 1 {
        return alts.pop();
    }
    Some(
        alts.iter()
            .map(|a| format!("({a})"))
            .collect::<Vec<_>>()
            .join(" || "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn shapes() {
        let one = [FilterPair {
            src: ip("10.0.1.10"),
            dst: ip("10.0.0.5"),
            icmp: vec![],
        }];
        assert_eq!(
            build(Proto::Tcp, &[3268], &one, Shape::Forward).as_deref(),
            Some("ip.src==10.0.1.10 && ip.dst==10.0.0.5 && tcp.dstport==3268")
        );
        assert_eq!(
            build(Proto::Udp, &[53, 88], &one, Shape::Both).as_deref(),
            Some("ip.addr==10.0.1.10 && ip.addr==10.0.0.5 && (udp.port==53 || udp.port==88)")
        );
        let v6 = [FilterPair {
            src: ip("fd00::1:10"),
            dst: ip("fd00::5"),
            icmp: vec![(true, 1, ip("fd00::1"))],
        }];
        assert_eq!(
            build(Proto::Tcp, &[389], &v6, Shape::Forward).as_deref(),
            Some(
                "(ipv6.src==fd00::1:10 && ipv6.dst==fd00::5 && tcp.dstport==389) || \
                 (icmpv6.type==1 && ipv6.src==fd00::1 && ipv6.dst==fd00::1:10 && tcp.dstport==389)"
            )
        );
        assert_eq!(build(Proto::Tcp, &[1], &[], Shape::Both), None);
    }
}
