//! A connection as Zeek's conn.log names its fields (JSON and CSV).

use super::escape;
use crate::decode::Transport;
use crate::track::Connection;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::io::{self, Write};

/// What the capture taught about a connection's ends, shown beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnNames<'a> {
    /// A name learned for the originator's address.
    pub orig: Option<&'a str>,
    /// A name learned for the responder's address.
    pub resp: Option<&'a str>,
    /// `host:port` of the explicit-proxy CONNECT request the connection carried.
    pub proxy_connect: Option<String>,
}

/// Looks up the names of a connection's ends (no names: `|_| ConnNames::default()`).
pub type NameLookup<'a> = dyn Fn(&Connection) -> ConnNames<'a> + 'a;

/// Serializes a [`Connection`] with Zeek's conn.log keys plus flowaudit's own.
///
/// As in Zeek's JSON logs, `duration`, `orig_bytes` and `resp_bytes` are left
/// out when the connection lasted zero seconds (Zeek leaves them unset then),
/// and optional fields (`icmp`, `vlan`, `inner_vlan`, `orig_name`,
/// `resp_name`, `proxy_connect`) only appear when set.
pub struct ConnJson<'a>(pub &'a Connection, pub ConnNames<'a>);

/// Zeek's `proto` value for a transport.
pub fn proto_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Icmp => "icmp",
        Transport::Other(_) => "unknown_transport",
    }
}

/// The IP protocol number (Zeek's `ip_proto`).
pub fn ip_proto(c: &Connection) -> u8 {
    match c.proto {
        Transport::Tcp => 6,
        Transport::Udp => 17,
        Transport::Icmp if c.orig_h.is_ipv6() => 58,
        Transport::Icmp => 1,
        Transport::Other(n) => n,
    }
}

/// The handshake verdict as its kebab-case name.
pub fn handshake_name(c: &Connection) -> &'static str {
    use crate::track::Handshake::*;
    match c.handshake {
        Established => "established",
        Rejected => "rejected",
        Unanswered => "unanswered",
        IcmpUnreachable => "icmp-unreachable",
        Midstream => "midstream",
        ClosedEarly => "closed-early",
        Answered => "answered",
        None => "none",
    }
}

impl Serialize for ConnJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &c.ts)?;
        m.serialize_entry("uid", &c.uid)?;
        m.serialize_entry("id.orig_h", &c.orig_h)?;
        m.serialize_entry("id.orig_p", &c.orig_p)?;
        m.serialize_entry("id.resp_h", &c.resp_h)?;
        m.serialize_entry("id.resp_p", &c.resp_p)?;
        m.serialize_entry("proto", proto_name(c.proto))?;
        if c.duration.0 > 0 {
            m.serialize_entry("duration", &c.duration)?;
            m.serialize_entry("orig_bytes", &c.orig_bytes)?;
            m.serialize_entry("resp_bytes", &c.resp_bytes)?;
        }
        m.serialize_entry("conn_state", c.conn_state)?;
        m.serialize_entry("missed_bytes", &c.missed_bytes)?;
        if !c.history.is_empty() {
            m.serialize_entry("history", &c.history)?;
        }
        m.serialize_entry("orig_pkts", &c.orig_pkts)?;
        m.serialize_entry("orig_ip_bytes", &c.orig_ip_bytes)?;
        m.serialize_entry("resp_pkts", &c.resp_pkts)?;
        m.serialize_entry("resp_ip_bytes", &c.resp_ip_bytes)?;
        m.serialize_entry("ip_proto", &ip_proto(c))?;
        m.serialize_entry("handshake", handshake_name(c))?;
        if c.proto == Transport::Tcp {
            m.serialize_entry("syn_attempts", &c.syn_attempts)?;
            if c.syn_attempts > 1 {
                m.serialize_entry("syn_times", &c.syn_times)?;
            }
        }
        if let Some(icmp) = &c.icmp {
            m.serialize_entry("icmp", icmp)?;
        }
        if let Some(v) = c.vlan {
            m.serialize_entry("vlan", &v)?;
        }
        if let Some(v) = c.inner_vlan {
            m.serialize_entry("inner_vlan", &v)?;
        }
        if c.tunnel_depth > 0 {
            m.serialize_entry("tunnel_depth", &c.tunnel_depth)?;
        }
        let names = &self.1;
        if let Some(n) = names.orig {
            m.serialize_entry("orig_name", n)?;
        }
        if let Some(n) = names.resp {
            m.serialize_entry("resp_name", n)?;
        }
        if let Some(p) = &names.proxy_connect {
            m.serialize_entry("proxy_connect", p)?;
        }
        m.end()
    }
}

/// CSV columns: the JSON keys, with `icmp` flattened.
const CSV_HEADER: [&str; 29] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "ip_proto",
    "handshake",
    "syn_attempts",
    "icmp_type",
    "icmp_code",
    "icmp_reporter",
    "vlan",
    "inner_vlan",
    "tunnel_depth",
    "orig_name",
    "resp_name",
    "proxy_connect",
];

/// Writes connections as CSV (RFC 4180 quoting; unset values are empty).
pub fn write_csv(
    w: &mut dyn Write,
    conns: &[Connection],
    names: &NameLookup<'_>,
) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(CSV_HEADER)?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for c in conns {
        let lasted = c.duration.0 > 0;
        let names = names(c);
        out.write_record([
            c.ts.zeek().to_string(),
            c.uid.to_string(),
            c.orig_h.to_string(),
            c.orig_p.to_string(),
            c.resp_h.to_string(),
            c.resp_p.to_string(),
            proto_name(c.proto).to_string(),
            opt(lasted.then(|| c.duration.to_string())),
            opt(lasted.then(|| c.orig_bytes.to_string())),
            opt(lasted.then(|| c.resp_bytes.to_string())),
            c.conn_state.to_string(),
            c.missed_bytes.to_string(),
            c.history.to_string(),
            c.orig_pkts.to_string(),
            c.orig_ip_bytes.to_string(),
            c.resp_pkts.to_string(),
            c.resp_ip_bytes.to_string(),
            ip_proto(c).to_string(),
            handshake_name(c).to_string(),
            c.syn_attempts.to_string(),
            opt(c.icmp.map(|i| i.icmp_type.to_string())),
            opt(c.icmp.map(|i| i.code.to_string())),
            opt(c.icmp.map(|i| i.reporter.to_string())),
            opt(c.vlan.map(|v| v.to_string())),
            opt(c.inner_vlan.map(|v| v.to_string())),
            c.tunnel_depth.to_string(),
            escape::csv_cell(names.orig.unwrap_or_default()).into_owned(),
            escape::csv_cell(names.resp.unwrap_or_default()).into_owned(),
            escape::csv_cell(names.proxy_connect.as_deref().unwrap_or_default()).into_owned(),
        ])?;
    }
    out.flush()
}
