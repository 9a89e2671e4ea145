//! Zeek's ASCII log format for conn.log, readable by `zeek-cut` and Zeek's own tools.

use super::conn::{ip_proto, proto_name};
use crate::time::civil;
use crate::track::Connection;
use std::io::{self, Write};

/// Column names and Zeek types, in Zeek 9's conn.log order.
const FIELDS: [(&str, &str); 22] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
];

/// Writes a conn.log. Fields flowaudit does not compute (`service`,
/// `local_orig`, `local_resp`, `tunnel_parents`) are unset (`-`); `#open` and
/// `#close` carry the first and last connection times rather than the wall
/// clock, so the same capture always gives the same file.
pub fn write_conn_log(w: &mut dyn Write, conns: &[Connection]) -> io::Result<()> {
    let first = conns.iter().map(|c| c.ts).min().unwrap_or_default();
    let last = conns
        .iter()
        .map(|c| crate::time::Timestamp(c.ts.0.saturating_add(c.duration.0)))
        .max()
        .unwrap_or_default();
    writeln!(w, "#separator \\x09")?;
    writeln!(w, "#set_separator\t,")?;
    writeln!(w, "#empty_field\t(empty)")?;
    writeln!(w, "#unset_field\t-")?;
    writeln!(w, "#path\tconn")?;
    writeln!(w, "#open\t{}", zeek_date(first))?;
    let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    let types: Vec<&str> = FIELDS.iter().map(|f| f.1).collect();
    writeln!(w, "#fields\t{}", names.join("\t"))?;
    writeln!(w, "#types\t{}", types.join("\t"))?;
    for c in conns {
        let lasted = c.duration.0 > 0;
        let unset = || "-".to_string();
        let history = if c.history.is_empty() {
            unset()
        } else {
            c.history.to_string()
        };
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t-\t{}\t{}\t{}\t{}\t-\t-\t{}\t{}\t{}\t{}\t{}\t{}\t-\t{}",
            c.ts.zeek(),
            c.uid,
            c.orig_h,
            c.orig_p,
            c.resp_h,
            c.resp_p,
            proto_name(c.proto),
            if lasted {
                c.duration.to_string()
            } else {
                unset()
            },
            if lasted {
                c.orig_bytes.to_string()
            } else {
                unset()
            },
            if lasted {
                c.resp_bytes.to_string()
            } else {
                unset()
            },
            c.conn_state,
            c.missed_bytes,
            history,
            c.orig_pkts,
            c.orig_ip_bytes,
            c.resp_pkts,
            c.resp_ip_bytes,
            ip_proto(c),
        )?;
    }
    writeln!(w, "#close\t{}", zeek_date(last))
}

/// `YYYY-MM-DD-HH-MM-SS` in UTC, the form of Zeek's `#open`/`#close` lines.
fn zeek_date(ts: crate::time::Timestamp) -> String {
    let (y, mo, d, h, mi, s) = civil(ts.0.div_euclid(1_000_000_000));
    format!("{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02}")
}
