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

/// The flows table's look: a rule under the header, two spaces between
/// columns, no borders (a connection per line reads best without them, and
/// borders would cost the narrow terminals a column).
fn flows_style(t: &mut Table) {
    t.load_style(
        comfy_table::TableStyle::new()
            .header_separator(comfy_table::LineStyle::none().fill('─').junction('─')),
    );
    // comfy-table keeps a blank column between columns even without
    // vertical lines: one space of padding makes the gap two.
    let last = t.column_count().saturating_sub(1);
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_padding((0, u16::from(i != last)));
    }
}

/// Connections, failed handshakes first, then by start time; on a terminal
/// of `width` columns, fitted to it: the least useful columns go first
/// (duration, bytes, history, packets, state), times lose their date when
/// all share one (it moves to the header), and long names wrap.
pub fn write_flows(
    w: &mut dyn Write,
    conns: &[Connection],
    names: &super::NameLookup<'_>,
    width: Option<u16>,
) -> io::Result<()> {
    use super::fit::{Column, Step};
    let mut order: Vec<&Connection> = conns.iter().collect();
    order.sort_by_key(|c| (super::interest_rank(c), c.ts, &c.uid));
    // (header, priority): extra room goes to the addresses first.
    let spec = [
        ("start (UTC)", 5),
        ("proto", 4),
        ("originator", 7),
        ("responder", 8),
        ("handshake", 6),
        ("state", 3),
        ("history", 1),
        ("pkts\u{a0}o/r", 2),
        ("bytes\u{a0}o/r", 0),
        ("duration", 0),
    ];
    let mut cols: Vec<Column> = spec.iter().map(|&(h, p)| Column::new(h, p)).collect();
    // Narrow forms: the time of day, names wrapped at 20 columns.
    let mut time_of_day = Vec::new();
    let mut short_names: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for c in &order {
        let names = names(c);
        let handshake = if c.syn_attempts > 1 {
            format!(
                "{} ({}{}SYNs)",
                handshake_name(c),
                c.syn_attempts,
                super::fit::GLUE
            )
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
        let start = c.ts.to_string();
        time_of_day.push(start.get(11..).unwrap_or(&start).to_string());
        let cells = [
            start,
            proto_name(c.proto).to_string(),
            named_endpoint(c.orig_h, c.orig_p, names.orig),
            named_endpoint(c.resp_h, c.resp_p, names.resp),
            handshake,
            c.conn_state.to_string(),
            c.history.to_string(),
            format!("{}/{}", c.orig_pkts, c.resp_pkts),
            format!("{}/{}", c.orig_bytes, c.resp_bytes),
            format!("{:.3}s", c.duration.as_secs_f64()),
        ];
        for (col, text) in cols.iter_mut().zip(cells) {
            col.cells.push(text);
        }
        let wrapped = |addr, port, name: Option<&str>| match name {
            Some(n) => {
                let n = super::fit::wrap(&escape::terminal(n), 20).join("\n");
                format!("{}\n{n}", endpoint(addr, port))
            }
            None => endpoint(addr, port),
        };
        short_names[0].push(wrapped(c.orig_h, c.orig_p, names.orig));
        short_names[1].push(wrapped(c.resp_h, c.resp_p, names.resp));
    }
    let dates: std::collections::BTreeSet<String> = order
        .iter()
        .map(|c| c.ts.to_string().chars().take(10).collect())
        .collect();
    let [orig_short, resp_short] = short_names;
    let mut steps = vec![Step::Drop(9), Step::Drop(8)];
    if let [date] = dates.iter().collect::<Vec<_>>()[..] {
        let mut col = Column::new(&format!("start ({date})"), 5);
        col.cells = time_of_day;
        steps.push(Step::Replace(0, col));
    }
    steps.extend([
        Step::Shorten(3, resp_short),
        Step::Shorten(2, orig_short),
        Step::Drop(6),
        Step::Drop(7),
        Step::Drop(5),
    ]);
    let width = width.map_or(usize::MAX, usize::from);
    let t = super::fit::table(cols, steps, width, &flows_style);
    // Without a right border, the last column's padding is trailing blanks.
    for line in t.to_string().lines() {
        writeln!(w, "{}", line.trim_end())?;
    }
    writeln!(
        w,
        "{}",
        super::count(conns.len() as u64, "connection", "connections")
    )
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
