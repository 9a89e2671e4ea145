//! Tables for people (comfy-table).

use super::conn::{handshake_name, proto_name};
use super::escape;
use crate::pipeline::CaptureReport;
use crate::time::Timestamp;
use crate::track::Connection;
use comfy_table::{Table, presets};
use std::io::{self, Write};

/// A capture's first or last packet time for people, `-` when it has none.
/// From the full-precision time, not the float seconds, so a nanosecond
/// capture's `.591932741` shows as `.591933`.
fn packet_time(ts: Option<Timestamp>) -> String {
    ts.map_or_else(|| "-".into(), |t| t.to_string())
}

/// `addr:port`, bracketing IPv6 as URLs do.
fn endpoint(addr: std::net::IpAddr, port: u16) -> String {
    match addr {
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// `addr:port`, with the learned name on a second line when there is one.
fn named_endpoint(addr: std::net::IpAddr, port: u16, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{}\n{}", endpoint(addr, port), escape::terminal(n)),
        None => endpoint(addr, port),
    }
}

/// Connections, failed handshakes first, then by start time.
pub fn write_flows(
    w: &mut dyn Write,
    conns: &[Connection],
    names: &super::NameLookup<'_>,
) -> io::Result<()> {
    let mut order: Vec<&Connection> = conns.iter().collect();
    order.sort_by_key(|c| (super::interest_rank(c), c.ts, &c.uid));
    let mut t = Table::new();
    t.load_style(presets::UTF8_BORDERS_ONLY);
    t.set_header([
        "start",
        "proto",
        "originator",
        "responder",
        "handshake",
        "state",
        "history",
        "pkts o/r",
        "bytes o/r",
        "duration",
    ]);
    for c in order {
        let names = names(c);
        let handshake = if c.syn_attempts > 1 {
            format!("{} ({} SYNs)", handshake_name(c), c.syn_attempts)
        } else if let Some(i) = c.icmp {
            format!(
                "{} (ICMP {}/{} from {})",
                handshake_name(c),
                i.icmp_type,
                i.code,
                i.reporter
            )
        } else {
            handshake_name(c).to_string()
        };
        t.add_row([
            c.ts.to_string(),
            proto_name(c.proto).to_string(),
            named_endpoint(c.orig_h, c.orig_p, names.orig),
            named_endpoint(c.resp_h, c.resp_p, names.resp),
            handshake,
            c.conn_state.to_string(),
            c.history.to_string(),
            format!("{}/{}", c.orig_pkts, c.resp_pkts),
            format!("{}/{}", c.orig_bytes, c.resp_bytes),
            format!("{:.3}s", c.duration.as_secs_f64()),
        ]);
    }
    writeln!(w, "{t}")?;
    writeln!(w, "{} connections", conns.len())
}

/// One capinfos-like block per capture, then the inputs skipped.
pub fn write_info(
    w: &mut dyn Write,
    captures: &[CaptureReport],
    skipped: &[crate::read::Skipped],
) -> io::Result<()> {
    for (i, cap) in captures.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        let info = &cap.info;
        let mut t = Table::new();
        t.load_style(presets::NOTHING);
        let links: Vec<String> = info.link_types.iter().map(|l| l.to_string()).collect();
        t.add_row(["File", &escape::terminal(&info.path)]);
        t.add_row(["Format", info.format.as_str()]);
        t.add_row(["Link types", &links.join(", ")]);
        t.add_row(["Packets", &info.packets.to_string()]);
        t.add_row(["Captured bytes", &info.bytes.to_string()]);
        t.add_row(["First packet", &packet_time(info.first_time)]);
        t.add_row(["Last packet", &packet_time(info.last_time)]);
        t.add_row(["Truncated", if info.truncated { "yes" } else { "no" }]);
        let d = &cap.decode;
        t.add_row(["Decoded", &d.decoded.to_string()]);
        // Fragments are not "decoded" one by one: each completed datagram is.
        // Without this row a capture of fragments reads "Decoded 0".
        if d.reassembled > 0 || d.datagrams_reassembled > 0 {
            t.add_row([
                "Reassembled",
                &format!(
                    "{} into {}",
                    super::count(d.reassembled, "fragment", "fragments"),
                    super::count(d.datagrams_reassembled, "datagram", "datagrams")
                ),
            ]);
        }
        if d.fragments_buffered > 0 {
            t.add_row([
                "Fragments held",
                &format!("{} (datagram not complete)", d.fragments_buffered),
            ]);
        }
        for (layer, n) in &cap.decode.not_decoded {
            t.add_row([format!("Not decoded: {layer}"), n.to_string()]);
        }
        for warning in &info.warnings {
            t.add_row(["Warning", &escape::terminal(warning)]);
        }
        writeln!(w, "{t}")?;
    }
    if !skipped.is_empty() {
        writeln!(w)?;
        writeln!(w, "Skipped (not captures):")?;
        for s in skipped {
            writeln!(
                w,
                "  {}: {}",
                escape::terminal(&s.path),
                escape::terminal(&s.reason)
            )?;
        }
    }
    Ok(())
}
