//! Zeek `conn.log` rows into [`Connection`]s: the ASCII (TSV) form with its
//! `#separator`/`#fields` header, and JSON lines (Zeek's `LogAscii::use_json`
//! and flowaudit's `flows --format jsonl`), either of them gzip'd.
//!
//! Each row's handshake verdict comes from its `history` letters as
//! flowaudit's tracker derives it from the packets (`S` originator SYN, `h`
//! responder SYN-ACK, `r` responder RST), with `conn_state` deciding between
//! established and closed early; flowaudit's own rows carry the verdict,
//! the SYN count and the ICMP error, and those are taken as they are.

use super::zeek::{LogKind, Row, Table, parse_ts, read_table};
use crate::decode::Transport;
use crate::pipeline::CaptureReport;
use crate::read::{CaptureInfo, ReadError, Source};
use crate::time::{Duration, Timestamp};
use crate::track::ConnectionSink;
use crate::track::{CompactString, Connection, Handshake, IcmpError};
use std::net::IpAddr;

/// Reads the connection log at `source` into `sink`, row by row; the
/// summary of what was read (its `format` says which log it was). Rows that
/// cannot be read are skipped and counted in the warnings, each listed by
/// line up to a few; a log cut short (a damaged gzip stream, a last line
/// without its end) keeps every row before and says so.
pub fn read_conn_log(
    source: &Source,
    sink: &mut dyn ConnectionSink,
) -> Result<CaptureReport, ReadError> {
    let mut rows = Rows {
        n: 0,
        masked_ts: 0,
        last_ts: Timestamp(0),
        first: None,
        last: None,
    };
    let accept = |k: LogKind| match k {
        LogKind::Conn => Ok(()),
        k => Err(format!(
            "a Zeek {} log, not conn.log (it gives names, not connections)",
            k.path()
        )),
    };
    let t: Table = read_table(source, &accept, &mut |row| {
        let (c, ts_valid) = build(row, rows.n)?;
        rows.deliver(c, ts_valid, sink);
        Ok(())
    })?;
    let mut more = Vec::new();
    if rows.masked_ts > 0 {
        more.push(format!(
            "{}: {} rows have no valid ts (masked or corrupt): each is taken to start when the row before it did",
            t.path, rows.masked_ts
        ));
    }
    let info = CaptureInfo {
        first_ts: rows.first.map(Timestamp::as_secs_f64),
        last_ts: rows.last.map(Timestamp::as_secs_f64),
        first_time: rows.first,
        last_time: rows.last,
        ..CaptureInfo::default()
    };
    Ok(t.report(info, more))
}

/// The rows of one connection log handed on so far.
struct Rows {
    /// Rows read (numbers the uids of rows without one).
    n: u64,
    /// Rows whose `ts` was masked or corrupt.
    masked_ts: u64,
    /// The last valid `ts`, for the rows without one.
    last_ts: Timestamp,
    /// The earliest start.
    first: Option<Timestamp>,
    /// The latest end.
    last: Option<Timestamp>,
}

impl Rows {
    /// Hands `c` to `sink`, its `ts` taken from the row before when its own was not valid.
    fn deliver(&mut self, mut c: Connection, ts_valid: bool, sink: &mut dyn ConnectionSink) {
        if ts_valid {
            self.last_ts = c.ts;
        } else {
            self.masked_ts += 1;
            c.ts = self.last_ts;
            for t in &mut c.syn_times {
                *t = Timestamp(self.last_ts.0.saturating_add(t.0));
            }
        }
        let end = Timestamp(c.ts.0.saturating_add(c.duration.0.max(0)));
        self.first = Some(self.first.map_or(c.ts, |f| f.min(c.ts)));
        self.last = Some(self.last.map_or(end, |l| l.max(end)));
        self.n += 1;
        sink.accept(c);
    }
}

/// flowaudit's ICMP error object, from its own JSON lines.
fn icmp(row: &dyn Row) -> Option<IcmpError> {
    let o = row.object("icmp")?;
    let n = |k: &str| o.get(k).and_then(serde_json::Value::as_u64);
    Some(IcmpError {
        icmp_type: u8::try_from(n("type")?).ok()?,
        code: u8::try_from(n("code")?).ok()?,
        v6: o.get("v6").and_then(serde_json::Value::as_bool)?,
        reporter: o.get("reporter")?.as_str()?.parse().ok()?,
        ts: o
            .get("ts")
            .map(|v| v.to_string())
            .and_then(|t| parse_ts(&t))?,
        count: u32::try_from(n("count").unwrap_or(1)).unwrap_or(u32::MAX),
    })
}

/// Zeek's conn_state values, as the tracker's `&'static str`.
const STATES: [&str; 13] = [
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];

/// States in which both sides completed the handshake.
const ESTABLISHED: [&str; 6] = ["S1", "SF", "S2", "S3", "RSTO", "RSTR"];

/// One row; the bool says whether its `ts` was valid (a masked or corrupt
/// one is taken from the row before; `syn_times` are then relative).
fn build(row: &dyn Row, n: u64) -> Result<(Connection, bool), String> {
    let need = |k: &str| row.text(k).ok_or_else(|| format!("no {k}"));
    let addr = |k: &str| -> Result<IpAddr, String> {
        need(k)?
            .parse()
            .map_err(|_| format!("{k} is not an address"))
    };
    let port = |k: &str| -> Result<u16, String> {
        need(k)?.parse().map_err(|_| format!("{k} is not a port"))
    };
    let count = |k: &str| row.text(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let ts = row.text("ts").and_then(|t| parse_ts(&t));
    let duration = row
        .text("duration")
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map_or(Duration(0), |d| Duration((d * 1e9).round() as i64));
    let proto = match need("proto")?.as_str() {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        "icmp" => Transport::Icmp,
        _ => Transport::Other(
            row.text("ip_proto")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
        ),
    };
    let state = row.text("conn_state").unwrap_or_default();
    let conn_state = STATES
        .iter()
        .copied()
        .find(|s| *s == state)
        .unwrap_or("OTH");
    let history = row.text("history").unwrap_or_default();
    let (orig_pkts, resp_pkts) = (count("orig_pkts"), count("resp_pkts"));
    let own = row.text("handshake").and_then(|h| handshake_named(&h));
    let handshake = own.unwrap_or_else(|| derive(proto, &history, conn_state, resp_pkts));
    let syn_attempts = match row.text("syn_attempts").and_then(|s| s.parse().ok()) {
        Some(n) => n,
        None => syns(proto, &history, handshake, orig_pkts),
    };
    let start = ts.unwrap_or(Timestamp(0));
    let mut syn_times = Vec::new();
    if syn_attempts > 0 {
        syn_times.push(start);
        if syn_attempts > 1 && handshake == Handshake::Unanswered {
            syn_times.push(Timestamp(start.0.saturating_add(duration.0)));
        }
    }
    let vlan = |k: &str| row.text(k).and_then(|v| v.parse().ok());
    let c = Connection {
        ts: start,
        uid: CompactString::new(row.text("uid").unwrap_or_else(|| format!("L{n}"))),
        orig_h: addr("id.orig_h")?,
        orig_p: port("id.orig_p")?,
        resp_h: addr("id.resp_h")?,
        resp_p: port("id.resp_p")?,
        proto,
        duration,
        orig_bytes: count("orig_bytes"),
        resp_bytes: count("resp_bytes"),
        conn_state,
        missed_bytes: count("missed_bytes"),
        history: CompactString::new(&history),
        orig_pkts,
        orig_ip_bytes: count("orig_ip_bytes"),
        resp_pkts,
        resp_ip_bytes: count("resp_ip_bytes"),
        handshake,
        syn_attempts,
        syn_times,
        icmp: icmp(row),
        vlan: vlan("vlan"),
        inner_vlan: vlan("inner_vlan"),
        tunnel_depth: u8::from(row.text("tunnel_parents").is_some()),
        inputs: 0,
    };
    Ok((c, ts.is_some()))
}

/// flowaudit's verdict names (`flows --format jsonl`).
fn handshake_named(s: &str) -> Option<Handshake> {
    Some(match s {
        "established" => Handshake::Established,
        "rejected" => Handshake::Rejected,
        "unanswered" => Handshake::Unanswered,
        "icmp-unreachable" => Handshake::IcmpUnreachable,
        "midstream" => Handshake::Midstream,
        "closed-early" => Handshake::ClosedEarly,
        "answered" => Handshake::Answered,
        "none" => Handshake::None,
        _ => return None,
    })
}

/// The tracker's verdict from Zeek's history letters (relative to the
/// logged originator, `^` flips included): no originator SYN is midstream;
/// a SYN-ACK answer is established when the state says both sides got
/// there, else closed early; a RST answer is a reject; else unanswered.
/// Without history, the state alone.
fn derive(proto: Transport, history: &str, state: &str, resp_pkts: u64) -> Handshake {
    match proto {
        Transport::Udp if resp_pkts > 0 => Handshake::Answered,
        Transport::Udp => Handshake::Unanswered,
        Transport::Tcp if history.is_empty() => match state {
            "S0" | "RSTOS0" | "SH" => Handshake::Unanswered,
            "REJ" => Handshake::Rejected,
            s if ESTABLISHED.contains(&s) => Handshake::Established,
            _ => Handshake::Midstream,
        },
        Transport::Tcp => {
            if !history.contains('S') {
                Handshake::Midstream
            } else if history.contains('h') {
                if ESTABLISHED.contains(&state) {
                    Handshake::Established
                } else {
                    Handshake::ClosedEarly
                }
            } else if history.contains('r') {
                Handshake::Rejected
            } else {
                Handshake::Unanswered
            }
        }
        _ => Handshake::None,
    }
}

/// SYNs the originator sent, as far as a row tells: an unanswered or
/// rejected attempt's originator packets are its SYNs (less a closing RST
/// or FIN), an answered one needed one (a log does not count retransmissions).
fn syns(proto: Transport, history: &str, h: Handshake, orig_pkts: u64) -> u32 {
    if proto != Transport::Tcp {
        return 0;
    }
    match h {
        Handshake::Unanswered | Handshake::Rejected => {
            let closing = u64::from(history.contains('R')) + u64::from(history.contains('F'));
            u32::try_from(orig_pkts.saturating_sub(closing).max(1)).unwrap_or(u32::MAX)
        }
        Handshake::Established | Handshake::ClosedEarly | Handshake::IcmpUnreachable => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::zeek::{LogFormat, sniff};
    use super::*;

    fn rows(text: &str) -> (Vec<Connection>, Result<CaptureReport, ReadError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("conn.log");
        std::fs::write(&p, text).expect("write");
        let mut out = Vec::new();
        let r = read_conn_log(&Source::Path(p), &mut |c| out.push(c));
        (out, r)
    }

    const HEAD: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\tconn_state\thistory\torig_pkts\tresp_pkts\ttunnel_parents\n";

    #[test]
    fn zeek_states_become_the_trackers_verdicts() {
        let text = format!(
            "{HEAD}1700000000.000001\tC1\t10.0.0.1\t50000\t10.0.0.2\t445\ttcp\t9.000000\tS0\tS\t3\t0\t-\n\
             1700000001.5\tC2\t10.0.0.1\t50001\t10.0.0.2\t3268\ttcp\t0.010000\tREJ\tSr\t1\t1\t-\n\
             1700000002\tC3\t10.0.0.1\t50002\t10.0.0.2\t389\ttcp\t1.0\tSF\tShADadFf\t8\t6\t-\n\
             1700000003\tC4\t10.0.0.1\t50003\t10.0.0.2\t53\tudp\t-\tS0\tD\t1\t0\t-\n\
             1700000004\tC5\t10.0.0.1\t50004\t10.0.0.2\t88\ttcp\t-\tOTH\tDd\t2\t2\t(empty)\n"
        );
        let (c, r) = rows(&text);
        let r = r.expect("read");
        let got: Vec<(Handshake, u32)> = c.iter().map(|c| (c.handshake, c.syn_attempts)).collect();
        assert_eq!(
            got,
            [
                (Handshake::Unanswered, 3),
                (Handshake::Rejected, 1),
                (Handshake::Established, 1),
                (Handshake::Unanswered, 0),
                (Handshake::Midstream, 0),
            ]
        );
        assert_eq!(c[0].ts, Timestamp::from_parts(1_700_000_000, 1_000));
        assert_eq!(c[1].ts, Timestamp::from_parts(1_700_000_001, 500_000_000));
        // Three SYNs over the row's 9 s.
        assert_eq!(c[0].syn_times.len(), 2);
        assert_eq!(
            c[0].syn_times[1].since(c[0].syn_times[0]),
            Duration::from_secs(9)
        );
        assert_eq!(r.info.format, "zeek conn.log (TSV), 5 rows");
        assert!(r.info.warnings.is_empty(), "{:?}", r.info.warnings);
        assert_eq!(c[4].tunnel_depth, 0);
    }

    #[test]
    fn bad_rows_are_skipped_by_line_and_the_rest_kept() {
        let text = format!(
            "{HEAD}x\tC1\tnot-an-ip\t1\t10.0.0.2\t445\ttcp\t-\tS0\tS\t1\t0\t-\n\
             XXXXXXXXXX.XXXXXX\tC2\t10.0.0.1\t2\t10.0.0.2\t445\ttcp\t-\tS0\tS\t1\t0\t-\n\
             1\t2\t3\n\
             1700000000\tC3\t10.0.0.1\t3\t10.0.0.2\t445\ttcp\t-\tS0\tS\t1\t0\t-"
        );
        let (c, r) = rows(&text);
        let r = r.expect("read");
        assert_eq!(c.len(), 2);
        let w = r.info.warnings.join("\n");
        assert!(
            w.contains("line 7 skipped: id.orig_h is not an address"),
            "{w}"
        );
        assert!(
            w.contains("line 9 skipped: 3 fields where #fields names 13"),
            "{w}"
        );
        assert!(w.contains("1 rows have no valid ts"), "{w}");
        assert!(r.info.truncated && w.contains("ends inside a line"), "{w}");
    }

    #[test]
    fn other_logs_and_files_are_refused_with_the_reason() {
        let (_, r) = rows("#separator \\x09\n#path\tdns\n#fields\tts\n");
        let Err(e) = r else {
            panic!("a dns.log gives no connections")
        };
        let e = e.to_string();
        assert!(
            e.ends_with("a Zeek dns log, not conn.log (it gives names, not connections)"),
            "{e}"
        );
        let (_, r) = rows("#separator \\x09\n#path\tfiles\n#fields\tts\n");
        let Err(e) = r else {
            panic!("a files.log is refused")
        };
        let e = e.to_string();
        assert!(
            e.ends_with("a Zeek files log: only conn.log (connections) and dns.log, ssl.log, http.log (names) are read"),
            "{e}"
        );
        let (_, r) = rows("hello\n");
        assert!(r.is_err());
    }

    #[test]
    fn flowaudits_own_json_lines_keep_verdict_and_icmp() {
        let line = r#"{"ts":1700000034.0,"uid":"C0","id.orig_h":"10.0.1.10","id.orig_p":49818,"id.resp_h":"10.0.0.5","id.resp_p":636,"proto":"tcp","conn_state":"S0","history":"S","orig_pkts":1,"resp_pkts":0,"handshake":"icmp-unreachable","syn_attempts":1,"icmp":{"type":3,"code":13,"v6":false,"reporter":"10.0.1.1","ts":1700000034.0004,"count":1}}"#;
        assert_eq!(sniff(line.as_bytes()), Some(LogFormat::JsonLines));
        let (c, r) = rows(&format!("{line}\n"));
        assert!(r.is_ok());
        assert_eq!(c[0].handshake, Handshake::IcmpUnreachable);
        let icmp = c[0].icmp.expect("icmp kept");
        assert_eq!((icmp.icmp_type, icmp.code), (3, 13));
        assert_eq!(icmp.reporter, "10.0.1.1".parse::<IpAddr>().expect("ip"));
    }
}
