//! Zeek `conn.log` rows into [`Connection`]s: the ASCII (TSV) form with its
//! `#separator`/`#fields` header, and JSON lines (Zeek's `LogAscii::use_json`
//! and flowaudit's `flows --format jsonl`), either of them gzip'd.
//!
//! Each row's handshake verdict comes from its `history` letters as
//! flowaudit's tracker derives it from the packets (`S` originator SYN, `h`
//! responder SYN-ACK, `r` responder RST), with `conn_state` deciding between
//! established and closed early; flowaudit's own rows carry the verdict,
//! the SYN count and the ICMP error, and those are taken as they are.

use crate::decode::Transport;
use crate::pipeline::CaptureReport;
use crate::read::{CaptureInfo, ReadError, Source};
use crate::time::{Duration, Timestamp};
use crate::track::ConnectionSink;
use crate::track::{CompactString, Connection, Handshake, IcmpError};
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;

/// How a connection log is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Zeek's ASCII log: `#` header lines, then separated fields.
    ZeekTsv,
    /// One JSON object per line.
    JsonLines,
}

/// Bytes looked at to tell a log from other files.
const SNIFF: usize = 4096;

/// Row problems listed by line before the rest are only counted.
const LISTED: usize = 5;

/// What the first bytes of a file (after gzip) say: a Zeek ASCII log of any
/// path (the reader refuses all but `conn`), or JSON lines whose first
/// object has Zeek's connection fields; `None` otherwise. See
/// [`sniff_source`] for the path check.
pub fn sniff(first: &[u8]) -> Option<LogFormat> {
    // A Zeek header, perhaps after comment lines (`### BTest baseline ...`).
    for line in first.split(|&b| b == b'\n') {
        if line.starts_with(b"#separator ") {
            return Some(LogFormat::ZeekTsv);
        }
        if !line.starts_with(b"#") {
            break;
        }
    }
    let line = first.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_start();
    (line.starts_with('{') && line.contains("\"id.orig_h\"") && line.contains("\"id.resp_p\""))
        .then_some(LogFormat::JsonLines)
}

/// [`sniff`] of the first bytes of a stream that may be gzip'd (stdin
/// peeked in its buffer): a gzip stream is decompressed as far as they go.
pub fn sniff_start(first: &[u8]) -> Option<LogFormat> {
    if !first.starts_with(&[0x1f, 0x8b]) {
        return sniff(first);
    }
    let mut inner = Vec::with_capacity(SNIFF);
    // A cut stream ends in an error after what it could give: keep that.
    let _ = flate2::read::MultiGzDecoder::new(first)
        .take(SNIFF as u64)
        .read_to_end(&mut inner);
    sniff(&inner)
}

/// Opens `source`, decompressing gzip; the reader and whether it was gzip'd.
fn open(source: &Source, path: &str) -> Result<(Box<dyn BufRead + Send>, bool), ReadError> {
    let err = |reason: String| ReadError {
        path: path.to_string(),
        reason,
    };
    let raw: Box<dyn Read + Send> = match source {
        Source::Path(p) => Box::new(std::fs::File::open(p).map_err(|e| err(e.to_string()))?),
        Source::Stdin => Box::new(std::io::stdin()),
    };
    let mut rd = BufReader::with_capacity(1 << 16, raw);
    let gz = rd
        .fill_buf()
        .map_err(|e| err(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    if gz {
        Ok((
            Box::new(BufReader::with_capacity(
                1 << 16,
                flate2::read::MultiGzDecoder::new(rd),
            )),
            true,
        ))
    } else {
        Ok((Box::new(rd), false))
    }
}

/// The format of the connection log at `source`, looking inside gzip, or
/// why a Zeek log is not one (`a Zeek dns log, ...`); `None`: no log at all,
/// or unreadable (the capture reader will say why).
pub fn sniff_source(source: &Source) -> Option<Result<LogFormat, String>> {
    let (mut rd, _) = open(source, "").ok()?;
    let mut first = Vec::with_capacity(SNIFF);
    rd.by_ref()
        .take(SNIFF as u64)
        .read_to_end(&mut first)
        .ok()?;
    let format = sniff(&first)?;
    let path = String::from_utf8_lossy(&first)
        .lines()
        .find_map(|l| l.strip_prefix("#path").map(|p| p.trim().to_string()));
    Some(match path {
        Some(p) if format == LogFormat::ZeekTsv && p != "conn" => Err(not_conn(&p)),
        _ => Ok(format),
    })
}

/// Why a Zeek log of another path is not read.
fn not_conn(path: &str) -> String {
    format!("a Zeek {path} log, not conn.log (only conn.log gives connections)")
}

/// Reads the connection log at `source` into `sink`, row by row; the
/// summary of what was read (its `format` says which log it was). Rows that
/// cannot be read are skipped and counted in the warnings, each listed by
/// line up to a few; a log cut short (a damaged gzip stream, a last line
/// without its end) keeps every row before and says so.
pub fn read_conn_log(
    source: &Source,
    sink: &mut dyn ConnectionSink,
) -> Result<CaptureReport, ReadError> {
    let path = match source {
        Source::Path(p) => p.display().to_string(),
        Source::Stdin => "-".to_string(),
    };
    let (mut raw, gz) = open(source, &path)?;
    let err = |reason: String| ReadError {
        path: path.clone(),
        reason,
    };
    let mut head = Vec::with_capacity(SNIFF);
    raw.by_ref()
        .take(SNIFF as u64)
        .read_to_end(&mut head)
        .map_err(|e| err(e.to_string()))?;
    let Some(format) = sniff(&head) else {
        return Err(err(
            "not a Zeek conn.log (no #separator header, and not JSON lines with Zeek's id.orig_h fields)".into(),
        ));
    };
    let mut rd = BufReader::new(std::io::Cursor::new(head).chain(raw));
    let mut r = Reader {
        path: path.clone(),
        header: Header::default(),
        format: Some(format),
        rows: 0,
        bad: Vec::new(),
        bad_count: 0,
        masked_ts: 0,
        last_ts: Timestamp(0),
        first: None,
        last: None,
        truncated: false,
    };
    let mut line = Vec::new();
    let mut no = 0u64;
    loop {
        line.clear();
        match rd.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                r.truncated = true;
                r.bad
                    .push(format!("{path}: reading stopped after line {no}: {e}"));
                break;
            }
        }
        no += 1;
        let ended = line.last() == Some(&b'\n');
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !ended && r.format.is_some() {
            // The last line lacks its end: written while the log was copied.
            r.truncated = true;
        }
        if line.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            r.problem(no, "not UTF-8");
            continue;
        };
        match r.format {
            Some(LogFormat::ZeekTsv) => r.tsv_line(no, text, sink).map_err(err)?,
            _ => r.json_line(no, text, sink),
        }
    }
    if r.format == Some(LogFormat::ZeekTsv) && r.header.fields.is_empty() {
        return Err(err("a Zeek log without a #fields line".into()));
    }
    let mut warnings = std::mem::take(&mut r.bad);
    if r.bad_count > LISTED as u64 {
        warnings.push(format!("{path}: {} rows skipped in all", r.bad_count));
    }
    if r.masked_ts > 0 {
        warnings.push(format!(
            "{path}: {} rows have no valid ts (masked or corrupt): each is taken to start when the row before it did",
            r.masked_ts
        ));
    }
    if r.truncated {
        warnings.push(format!(
            "{path}: the log ends inside a line (cut short while written or copied): every row before is kept"
        ));
    }
    let kind = match r.format {
        Some(LogFormat::ZeekTsv) => "zeek conn.log (TSV)",
        _ => "conn.log (JSON lines)",
    };
    Ok(CaptureReport {
        info: CaptureInfo {
            path,
            format: format!("{}{kind}, {} rows", if gz { "gzip+" } else { "" }, r.rows),
            first_ts: r.first.map(Timestamp::as_secs_f64),
            last_ts: r.last.map(Timestamp::as_secs_f64),
            first_time: r.first,
            last_time: r.last,
            truncated: r.truncated,
            warnings,
            ..CaptureInfo::default()
        },
        decode: Default::default(),
        duplicates: 0,
    })
}

/// The header lines of a Zeek ASCII log.
#[derive(Default)]
struct Header {
    separator: String,
    unset: String,
    empty: String,
    fields: Vec<String>,
}

struct Reader {
    path: String,
    header: Header,
    format: Option<LogFormat>,
    rows: u64,
    bad: Vec<String>,
    bad_count: u64,
    masked_ts: u64,
    last_ts: Timestamp,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    truncated: bool,
}

/// `\x09` and the like in a `#separator` line.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A row's fields by name.
trait Row {
    /// The field's text; `None` when absent or unset.
    fn text(&self, name: &str) -> Option<String>;
    /// flowaudit's ICMP error object, from its own JSON lines.
    fn icmp(&self) -> Option<IcmpError> {
        None
    }
}

struct TsvRow<'a> {
    header: &'a Header,
    values: Vec<&'a str>,
}

impl Row for TsvRow<'_> {
    fn text(&self, name: &str) -> Option<String> {
        let i = self.header.fields.iter().position(|f| f == name)?;
        let v = *self.values.get(i)?;
        (v != self.header.unset && v != self.header.empty).then(|| v.to_string())
    }
}

struct JsonRow(serde_json::Map<String, serde_json::Value>);

impl Row for JsonRow {
    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Array(a) if !a.is_empty() => Some(
                a.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    }

    fn icmp(&self) -> Option<IcmpError> {
        let o = self.0.get("icmp")?.as_object()?;
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
}

impl Reader {
    fn problem(&mut self, line: u64, why: &str) {
        self.bad_count += 1;
        if self.bad.len() < LISTED {
            self.bad
                .push(format!("{}: line {line} skipped: {why}", self.path));
        }
    }

    fn tsv_line(
        &mut self,
        no: u64,
        text: &str,
        sink: &mut dyn ConnectionSink,
    ) -> Result<(), String> {
        if let Some(h) = text.strip_prefix('#') {
            if let Some(sep) = h.strip_prefix("separator ") {
                self.header.separator = unescape(sep);
                return Ok(());
            }
            let sep = if self.header.separator.is_empty() {
                "\t".to_string()
            } else {
                self.header.separator.clone()
            };
            let mut parts = h.split(sep.as_str());
            match parts.next() {
                Some("unset_field") => self.header.unset = parts.collect::<Vec<_>>().join(&sep),
                Some("empty_field") => self.header.empty = parts.collect::<Vec<_>>().join(&sep),
                Some("fields") => self.header.fields = parts.map(str::to_string).collect(),
                Some("path") => {
                    let p: Vec<&str> = parts.collect();
                    if p != ["conn"] {
                        return Err(not_conn(&p.join(" ")));
                    }
                }
                _ => {}
            }
            return Ok(());
        }
        if self.header.fields.is_empty() {
            self.problem(no, "a row before the #fields line");
            return Ok(());
        }
        let row = TsvRow {
            header: &self.header,
            values: text.split(self.header.separator.as_str()).collect(),
        };
        let built = if row.values.len() == self.header.fields.len() {
            build(&row, self.rows)
        } else {
            Err(format!(
                "{} fields where #fields names {}",
                row.values.len(),
                self.header.fields.len()
            ))
        };
        self.deliver(no, built, sink);
        Ok(())
    }

    fn json_line(&mut self, no: u64, text: &str, sink: &mut dyn ConnectionSink) {
        let built = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => build(&JsonRow(m), self.rows),
            Ok(_) => Err("not a JSON object".into()),
            Err(e) => Err(format!("not JSON: {e}")),
        };
        self.deliver(no, built, sink);
    }

    fn deliver(
        &mut self,
        no: u64,
        built: Result<(Connection, bool), String>,
        sink: &mut dyn ConnectionSink,
    ) {
        match built {
            Ok((mut c, ts_valid)) => {
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
                self.rows += 1;
                sink.accept(c);
            }
            Err(why) => self.problem(no, &why),
        }
    }
}

/// Decimal seconds (`1700000001.000123`) as a timestamp, to the nanosecond
/// without going through a float.
fn parse_ts(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        // Exponent forms (`1.7e9`) from JSON encoders: through a float.
        let f: f64 = s.parse().ok()?;
        return f.is_finite().then(|| Timestamp((f * 1e9).round() as i64));
    }
    let nanos: i64 = format!("{frac:0<9}").parse().ok()?;
    Some(Timestamp::from_parts(secs, nanos))
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
        icmp: row.icmp(),
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
            panic!("a dns.log is refused")
        };
        let e = e.to_string();
        assert!(
            e.ends_with("a Zeek dns log, not conn.log (only conn.log gives connections)"),
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
