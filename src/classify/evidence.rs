//! Words and numbers for evidence strings: durations, ICMP codes, address lists.

use std::fmt::Write as _;
use std::net::IpAddr;

/// How many addresses an evidence sentence lists before "and N more".
pub(crate) const MAX_LISTED: usize = 5;

/// A short duration for RST delays: `45 us`, `0.4 ms`, `12.3 ms`, `1.2 s`.
pub(crate) fn fmt_delay(ns: i64) -> String {
    let ns = ns.max(0);
    if ns < 100_000 {
        format!("{} us", ns / 1000)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} s", ns as f64 / 1e9)
    }
}

/// Seconds with one decimal: `9.0 s`.
pub(crate) fn fmt_secs(ns: i64) -> String {
    format!("{:.1} s", ns.max(0) as f64 / 1e9)
}

/// A capture span: `45 s`, `12 min`, `29.5 min`.
pub(crate) fn fmt_span(secs: f64) -> String {
    if secs < 120.0 {
        return format!("{secs:.0} s");
    }
    if secs >= 2.0 * 86_400.0 {
        return format!("{:.0} days", secs / 86_400.0);
    }
    if secs >= 5.0 * 3600.0 {
        return format!("{:.1} h", secs / 3600.0);
    }
    let tenths = (secs / 6.0).round() as i64;
    if tenths % 10 == 0 {
        format!("{} min", tenths / 10)
    } else {
        format!("{:.1} min", tenths as f64 / 10.0)
    }
}

/// Lists addresses: `10.0.0.4`, `10.0.0.4 and 10.0.0.5`, `a, b, c and 2 more`.
pub(crate) fn fmt_hosts(hosts: &[IpAddr]) -> String {
    fmt_list(&hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
}

/// Joins words as English: `a`, `a and b`, `a, b and c`, capped at [`MAX_LISTED`].
pub(crate) fn fmt_list(items: &[String]) -> String {
    let shown = items.len().min(MAX_LISTED);
    let rest = items.len() - shown;
    let mut s = String::new();
    for (i, it) in items.iter().take(shown).enumerate() {
        if i > 0 {
            let last = i + 1 == shown && rest == 0;
            s.push_str(if last { " and " } else { ", " });
        }
        s.push_str(it);
    }
    if rest > 0 {
        let _ = write!(s, " and {rest} more");
    }
    s
}

/// `1 SYN`, `3 SYNs`: a count with its noun, plural when needed.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What an ICMP error means for the flow it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IcmpMeaning {
    /// Administratively prohibited: a filter answered.
    Firewall,
    /// Port unreachable: the host is up, nothing listens.
    NoListener,
    /// No route to the network.
    NoRoute,
    /// The host does not answer on its subnet.
    HostDown,
    /// TTL or hop limit exhausted.
    Loop,
    /// Too big for the path.
    Mtu,
    /// Anything else.
    Other,
}

/// Name and meaning of an ICMP (or ICMPv6) error type and code.
pub(crate) fn icmp_name(v6: bool, t: u8, code: u8) -> (&'static str, IcmpMeaning) {
    use IcmpMeaning::*;
    if v6 {
        match (t, code) {
            (1, 0) => ("no route to destination", NoRoute),
            (1, 1) => ("communication administratively prohibited", Firewall),
            (1, 2) => ("beyond scope of source address", NoRoute),
            (1, 3) => ("address unreachable", HostDown),
            (1, 4) => ("port unreachable", NoListener),
            (1, 5) => ("source address failed ingress/egress policy", Firewall),
            (1, 6) => ("reject route to destination", Firewall),
            (1, _) => ("destination unreachable", Other),
            (2, _) => ("packet too big", Mtu),
            (3, 0) => ("hop limit exceeded in transit", Loop),
            (3, _) => ("fragment reassembly time exceeded", Other),
            (4, _) => ("parameter problem", Other),
            _ => ("error", Other),
        }
    } else {
        match (t, code) {
            (3, 0) => ("net unreachable", NoRoute),
            (3, 1) => ("host unreachable", HostDown),
            (3, 2) => ("protocol unreachable", Other),
            (3, 3) => ("port unreachable", NoListener),
            (3, 4) => ("fragmentation needed", Mtu),
            (3, 5) => ("source route failed", NoRoute),
            (3, 6) => ("destination network unknown", NoRoute),
            (3, 7) => ("destination host unknown", HostDown),
            (3, 9) => ("network administratively prohibited", Firewall),
            (3, 10) => ("host administratively prohibited", Firewall),
            (3, 11) => ("network unreachable for type of service", NoRoute),
            (3, 12) => ("host unreachable for type of service", HostDown),
            (3, 13) => ("communication administratively prohibited", Firewall),
            (3, _) => ("destination unreachable", Other),
            (11, 0) => ("TTL exceeded in transit", Loop),
            (11, _) => ("fragment reassembly time exceeded", Other),
            (12, _) => ("parameter problem", Other),
            _ => ("error", Other),
        }
    }
}

/// What an ICMP meaning tells the engineer, given who sent the error.
pub(crate) fn icmp_advice(m: IcmpMeaning, from_destination: bool) -> &'static str {
    match (m, from_destination) {
        (IcmpMeaning::Firewall, true) => "the destination's own firewall rejects the flow",
        (IcmpMeaning::Firewall, false) => "a firewall in the path",
        (IcmpMeaning::NoListener, _) => "nothing listens on the port",
        (IcmpMeaning::NoRoute, _) => "no route to the destination: a routing problem",
        (IcmpMeaning::HostDown, _) => "the host is down or does not answer on its subnet",
        (IcmpMeaning::Loop, _) => "routing loop or TTL too low",
        (IcmpMeaning::Mtu, _) => "the packet is too big for the path (MTU)",
        (IcmpMeaning::Other, _) => "the path refused the packet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_delay(400_000), "0.4 ms");
        assert_eq!(fmt_delay(45_000), "45 us");
        assert_eq!(fmt_delay(1_250_000_000), "1.2 s");
        assert_eq!(fmt_secs(9_000_000_000), "9.0 s");
        assert_eq!(fmt_span(720.0), "12 min");
        assert_eq!(fmt_span(1770.0), "29.5 min");
        assert_eq!(fmt_span(42.0), "42 s");
        assert_eq!(fmt_span(8280.0), "138 min");
        assert_eq!(fmt_span(6.0 * 3600.0), "6.0 h");
        assert_eq!(fmt_span(1395.0 * 86_400.0), "1395 days");
        let a: Vec<String> = (1..=7).map(|i| i.to_string()).collect();
        assert_eq!(fmt_list(&a[..1]), "1");
        assert_eq!(fmt_list(&a[..2]), "1 and 2");
        assert_eq!(fmt_list(&a[..3]), "1, 2 and 3");
        assert_eq!(fmt_list(&a), "1, 2, 3, 4, 5 and 2 more");
        assert_eq!(
            icmp_name(false, 3, 13),
            (
                "communication administratively prohibited",
                IcmpMeaning::Firewall
            )
        );
        assert_eq!(icmp_name(true, 1, 4).1, IcmpMeaning::NoListener);
        assert_eq!(icmp_name(false, 11, 0).1, IcmpMeaning::Loop);
    }
}
