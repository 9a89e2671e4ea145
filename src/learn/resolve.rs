//! Names of the catalogue's Microsoft endpoints that a client resolved, and
//! what it did with the answer as far as names show it: whether it named the
//! endpoint later in a ClientHello or through a proxy's `CONNECT`.
//!
//! The learner only records; whether the client then reached one of the
//! addresses it was given (or only after a long retry) is judged by the
//! classifier at the end, against every connection of the audit
//! ([`crate::classify::Classifier::set_resolutions`]).

use crate::catalogue::Proto;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// (client, name) pairs kept at most: the endpoints are a few dozen names,
/// so this is thousands of clients.
pub const MAX_RESOLUTIONS: usize = 4096;
/// Addresses kept per resolution (the first ones answered).
pub const MAX_RESOLVED_ADDRS: usize = 16;

/// A catalogue endpoint's name resolved for one client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The host that asked (the response's destination).
    pub client: IpAddr,
    /// The DNS server that answered first.
    pub resolver: IpAddr,
    /// The transport of that first answer.
    pub proto: Proto,
    /// The name asked for, lower-case, no trailing dot.
    pub name: String,
    /// The addresses the answers gave (A and AAAA, through any CNAMEs), in
    /// the order first answered, at most [`MAX_RESOLVED_ADDRS`].
    pub addrs: Vec<IpAddr>,
    /// Answers counted.
    pub count: u64,
    /// The first answer.
    pub first: Timestamp,
    /// The last answer.
    pub last: Timestamp,
    /// The client named the endpoint itself: in a ClientHello's server
    /// name, or in a `CONNECT` through an explicit proxy (which resolves
    /// the name again and connects on the client's behalf).
    pub named: bool,
}

/// Resolutions so far, per client.
#[derive(Clone, Debug, Default)]
pub struct Resolutions {
    /// Client (canonical) -> its resolutions, few per client.
    by_client: HashMap<IpAddr, Vec<Resolution>>,
    /// Resolutions held in all.
    len: usize,
}

impl Resolutions {
    /// A successful answer for `name` (an endpoint's) to `client` from
    /// `resolver`, with the addresses it gave.
    pub fn answered(
        &mut self,
        (client, resolver): (IpAddr, IpAddr),
        proto: Proto,
        name: &str,
        addrs: impl Iterator<Item = IpAddr>,
        ts: Timestamp,
    ) {
        let client = client.to_canonical();
        let list = self.by_client.entry(client).or_default();
        let i = match list.iter().position(|r| r.name == name) {
            Some(i) => i,
            None if self.len >= MAX_RESOLUTIONS => return,
            None => {
                self.len += 1;
                list.push(Resolution {
                    client,
                    resolver: resolver.to_canonical(),
                    proto,
                    name: name.to_string(),
                    addrs: Vec::new(),
                    count: 0,
                    first: ts,
                    last: ts,
                    named: false,
                });
                list.len() - 1
            }
        };
        let Some(r) = list.get_mut(i) else {
            return;
        };
        r.count += 1;
        r.first = r.first.min(ts);
        r.last = r.last.max(ts);
        for a in addrs {
            let a = a.to_canonical();
            if r.addrs.len() < MAX_RESOLVED_ADDRS && !r.addrs.contains(&a) {
                r.addrs.push(a);
            }
        }
    }

    /// `client` named the endpoint `name` itself (SNI, `CONNECT`).
    pub fn named(&mut self, client: IpAddr, name: &[u8]) {
        if let Some(list) = self.by_client.get_mut(&client.to_canonical()) {
            for r in list {
                if r.name.as_bytes().eq_ignore_ascii_case(name) {
                    r.named = true;
                }
            }
        }
    }

    /// Every resolution, by client then name.
    pub fn finish(self) -> Vec<Resolution> {
        let mut v: Vec<Resolution> = self.by_client.into_values().flatten().collect();
        v.sort_by(|a, b| (a.client, &a.name).cmp(&(b.client, &b.name)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn answers_merge_per_client_and_name_and_stay_bounded() {
        let mut r = Resolutions::default();
        let (c, dns) = (ip("10.0.1.10"), ip("10.0.0.4"));
        let ends = (c, dns);
        r.answered(
            ends,
            Proto::Udp,
            "login.microsoftonline.com",
            [ip("20.190.151.7")].into_iter(),
            Timestamp(5),
        );
        r.answered(
            ends,
            Proto::Udp,
            "login.microsoftonline.com",
            [ip("20.190.151.7"), ip("20.190.151.8")].into_iter(),
            Timestamp(2),
        );
        r.named(ip("10.0.1.11"), b"login.microsoftonline.com");
        r.answered(
            ends,
            Proto::Tcp,
            "graph.windows.net",
            (0..40u8).map(|i| IpAddr::from([20, 0, 0, i])),
            Timestamp(9),
        );
        r.named(c, b"GRAPH.windows.net");
        let v = r.finish();
        assert_eq!(v.len(), 2);
        let g = &v[0];
        assert_eq!(
            (g.name.as_str(), g.addrs.len(), g.named),
            ("graph.windows.net", MAX_RESOLVED_ADDRS, true)
        );
        let l = &v[1];
        assert_eq!(l.addrs, vec![ip("20.190.151.7"), ip("20.190.151.8")]);
        assert_eq!(
            (l.count, l.first, l.last, l.named),
            (2, Timestamp(2), Timestamp(5), false)
        );
    }

    #[test]
    fn no_more_than_the_cap_is_held() {
        let mut r = Resolutions::default();
        for i in 0..(MAX_RESOLUTIONS as u32 + 10) {
            let c = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000u32 + i));
            r.answered(
                (c, ip("10.0.0.4")),
                Proto::Udp,
                "a.example",
                std::iter::empty(),
                Timestamp(1),
            );
        }
        assert_eq!(r.finish().len(), MAX_RESOLUTIONS);
    }
}
