//! Zeek's ASCII log format for conn.log, readable by `zeek-cut` and Zeek's own tools.

use super::conn::{ip_proto, proto_name};
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
            c.ts,
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

/// Splits Unix seconds into UTC calendar fields (Howard Hinnant's days-from-civil inverse).
pub(crate) fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_epochs() {
        // Independent values: `date -u -d @SECS`.
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
    }
}
