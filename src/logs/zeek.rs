//! What every Zeek log reader shares, whatever the log's path: opening a
//! log (gzip by its magic), telling its format and kind from its first
//! bytes, the ASCII (TSV) header (`#separator`, `#set_separator`,
//! `#empty_field`, `#unset_field`, `#path`, `#fields`), rows by field name in
//! either format, and the loop that reads them line by line, skipping and
//! counting the rows that cannot be read (listed by file and line up to a
//! few). The conn.log reader and the name-log readers are each a function of
//! one row on top of it.

use crate::pipeline::CaptureReport;
use crate::read::{CaptureInfo, ReadError, Source};
use crate::time::Timestamp;
use std::io::{BufRead, BufReader, Read};

/// How a connection log is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Zeek's ASCII log: `#` header lines, then separated fields.
    ZeekTsv,
    /// One JSON object per line.
    JsonLines,
}

/// Which Zeek log a file is: the ones flowaudit reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKind {
    /// `conn.log` (or flowaudit's own JSON lines): connections.
    Conn,
    /// `dns.log`: names of the addresses in DNS answers.
    Dns,
    /// `ssl.log`: TLS server names (SNI).
    Ssl,
    /// `http.log`: HTTP Host names and proxy CONNECT targets.
    Http,
}

impl LogKind {
    /// Zeek's `#path` for the kind (`conn`, `dns`, `ssl`, `http`).
    pub fn path(self) -> &'static str {
        match self {
            LogKind::Conn => "conn",
            LogKind::Dns => "dns",
            LogKind::Ssl => "ssl",
            LogKind::Http => "http",
        }
    }

    /// The kind of a Zeek `#path`, when flowaudit reads it.
    fn of_path(path: &str) -> Option<LogKind> {
        [LogKind::Conn, LogKind::Dns, LogKind::Ssl, LogKind::Http]
            .into_iter()
            .find(|k| k.path() == path)
    }

    /// The kind of a log without a `#path` (JSON lines, a header without
    /// one), by field names only that log has; a connection log otherwise
    /// (as before name logs were read, so its rows say what they lack).
    fn of_fields(has: &dyn Fn(&str) -> bool) -> LogKind {
        let any = |keys: &[&str]| keys.iter().any(|k| has(k));
        if any(&["conn_state"]) {
            LogKind::Conn
        } else if any(&["trans_depth", "method", "status_code"]) {
            LogKind::Http
        } else if any(&["trans_id", "qtype_name", "answers", "rcode"]) {
            LogKind::Dns
        } else if any(&["server_name", "cipher", "established", "ssl_history"]) {
            LogKind::Ssl
        } else {
            LogKind::Conn
        }
    }
}

/// Bytes looked at to tell a log from other files.
pub(super) const SNIFF: usize = 4096;

/// Row problems listed by line before the rest are only counted.
const LISTED: usize = 5;

/// What the first bytes of a file (after gzip) say: a Zeek ASCII log of any
/// path, or JSON lines whose first object has Zeek's connection fields
/// (every log with an `id` has them); `None` otherwise. See [`sniff_kind`]
/// for which log it is.
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

/// The format of a log's first bytes and which log it is; the kind is
/// `Err(path)` for a Zeek log flowaudit does not read (`files`, `x509`, ...).
/// A TSV log says by its `#path` (or, without one, its `#fields`), JSON
/// lines by a `_path` field or else the first object's field names.
pub fn sniff_kind(first: &[u8]) -> Option<(LogFormat, Result<LogKind, String>)> {
    let format = sniff(first)?;
    let text = String::from_utf8_lossy(first);
    let kind = match format {
        LogFormat::ZeekTsv => {
            let mut fields: Vec<&str> = Vec::new();
            let mut path = None;
            for l in text.lines().take_while(|l| l.starts_with('#')) {
                if let Some(p) = l.strip_prefix("#path") {
                    path = Some(p.trim());
                } else if let Some(f) = l.strip_prefix("#fields") {
                    fields = f.split_whitespace().collect();
                }
            }
            match path {
                Some(p) => LogKind::of_path(p).ok_or_else(|| p.to_string()),
                None => Ok(LogKind::of_fields(&|k| fields.contains(&k))),
            }
        }
        LogFormat::JsonLines => {
            let line = text.lines().next().unwrap_or_default();
            let path = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("_path")?.as_str().map(str::to_string));
            match path {
                Some(p) => LogKind::of_path(&p).ok_or(p),
                None => Ok(LogKind::of_fields(&|k| line.contains(&format!("\"{k}\":")))),
            }
        }
    };
    Some((format, kind))
}

/// [`sniff_kind`] of the first bytes of a stream that may be gzip'd (stdin
/// peeked in its buffer): a gzip stream is decompressed as far as they go.
pub fn sniff_start(first: &[u8]) -> Option<(LogFormat, Result<LogKind, String>)> {
    if !first.starts_with(&[0x1f, 0x8b]) {
        return sniff_kind(first);
    }
    let mut inner = Vec::with_capacity(SNIFF);
    // A cut stream ends in an error after what it could give: keep that.
    let _ = flate2::read::MultiGzDecoder::new(first)
        .take(SNIFF as u64)
        .read_to_end(&mut inner);
    sniff_kind(&inner)
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

/// The format and kind of the log at `source`, looking inside gzip, or why
/// a Zeek log is not one flowaudit reads (`a Zeek files log, ...`); `None`:
/// no log at all, or unreadable (the capture reader will say why).
pub fn sniff_source(source: &Source) -> Option<Result<(LogKind, LogFormat), String>> {
    let (mut rd, _) = open(source, "").ok()?;
    let mut first = Vec::with_capacity(SNIFF);
    rd.by_ref()
        .take(SNIFF as u64)
        .read_to_end(&mut first)
        .ok()?;
    let (format, kind) = sniff_kind(&first)?;
    Some(kind.map(|k| (k, format)).map_err(|p| not_read(&p)))
}

/// Why a Zeek log of another path is not read.
pub(super) fn not_read(path: &str) -> String {
    format!(
        "a Zeek {path} log: only conn.log (connections) and dns.log, ssl.log, http.log (names) are read"
    )
}

/// The header lines of a Zeek ASCII log.
#[derive(Default)]
struct Header {
    /// Between fields (`#separator`, a tab unless said).
    separator: String,
    /// Between the elements of a set or vector field (`#set_separator`).
    set_separator: String,
    /// An unset field (`#unset_field`, `-`).
    unset: String,
    /// An empty set or string (`#empty_field`, `(empty)`).
    empty: String,
    /// The field names, in row order (`#fields`).
    fields: Vec<String>,
}

/// `\x09` and the like in a `#separator` line.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(rest.get(..i).unwrap_or_default());
        match rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            Some(b) => {
                out.push(char::from(b));
                rest = rest.get(i + 4..).unwrap_or_default();
            }
            None => {
                out.push_str("\\x");
                rest = rest.get(i + 2..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// A row's fields by name, the same for a TSV row and a JSON object.
pub(super) trait Row {
    /// The field's text; `None` when absent, unset or empty.
    fn text(&self, name: &str) -> Option<String>;
    /// The elements of a set or vector field (`#set_separator`-separated in
    /// TSV, an array in JSON); empty when absent, unset or empty.
    fn list(&self, name: &str) -> Vec<String>;
    /// A JSON field's own object (flowaudit's `icmp`); TSV has none.
    fn object(&self, _name: &str) -> Option<&serde_json::Map<String, serde_json::Value>> {
        None
    }
}

/// One TSV row, its values in `#fields` order.
struct TsvRow<'a> {
    /// The header it is read by.
    header: &'a Header,
    /// The values, split at the separator.
    values: Vec<&'a str>,
}

impl TsvRow<'_> {
    /// The raw value, unless unset or empty.
    fn value(&self, name: &str) -> Option<&str> {
        let i = self.header.fields.iter().position(|f| f == name)?;
        let v = *self.values.get(i)?;
        (v != self.header.unset && v != self.header.empty).then_some(v)
    }
}

impl Row for TsvRow<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.value(name).map(str::to_string)
    }

    fn list(&self, name: &str) -> Vec<String> {
        let Some(v) = self.value(name) else {
            return Vec::new();
        };
        let sep = match self.header.set_separator.as_str() {
            "" => ",",
            s => s,
        };
        v.split(sep).map(str::to_string).collect()
    }
}

/// One JSON lines row.
struct JsonRow(serde_json::Map<String, serde_json::Value>);

/// A JSON scalar as text (a string as it is, a number or bool as written).
fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Row for JsonRow {
    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            serde_json::Value::Array(a) if !a.is_empty() => Some(
                a.iter()
                    .map(|v| json_text(v).unwrap_or_else(|| v.to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            v => json_text(v),
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(json_text).collect(),
            Some(v) => json_text(v).into_iter().collect(),
            None => Vec::new(),
        }
    }

    fn object(&self, name: &str) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.0.get(name)?.as_object()
    }
}

/// Decimal seconds (`1700000001.000123`) as a timestamp, to the nanosecond
/// without going through a float.
pub(super) fn parse_ts(s: &str) -> Option<Timestamp> {
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

/// What reading one log found, for its [`CaptureReport`].
pub(super) struct Table {
    /// The log's path as the user gave it (`-` for stdin).
    pub path: String,
    /// Whether it was gzip'd.
    pub gz: bool,
    /// How it is written.
    pub format: LogFormat,
    /// Which log it is.
    pub kind: LogKind,
    /// Rows read.
    pub rows: u64,
    /// Problems listed by line (the first [`LISTED`]).
    bad: Vec<String>,
    /// Rows skipped in all.
    bad_count: u64,
    /// The log ends inside a line or reading it failed.
    pub truncated: bool,
}

impl Table {
    /// Counts a row skipped at `line`, listing the first few.
    fn problem(&mut self, line: u64, why: &str) {
        self.bad_count += 1;
        if self.bad.len() < LISTED {
            self.bad
                .push(format!("{}: line {line} skipped: {why}", self.path));
        }
    }

    /// The warnings every log has (rows skipped, cut short), then `more`.
    pub fn warnings(&mut self, more: Vec<String>) -> Vec<String> {
        let path = &self.path;
        let mut w = std::mem::take(&mut self.bad);
        if self.bad_count > LISTED as u64 {
            w.push(format!("{path}: {} rows skipped in all", self.bad_count));
        }
        w.extend(more);
        if self.truncated {
            w.push(format!(
                "{path}: the log ends inside a line (cut short while written or copied): every row before is kept"
            ));
        }
        w
    }

    /// The report of the log: `gzip+zeek dns.log (TSV), 12 rows`, with
    /// `info` for what the caller knows (times, warnings).
    pub fn report(mut self, info: CaptureInfo, more_warnings: Vec<String>) -> CaptureReport {
        let name = self.kind.path();
        let kind = match self.format {
            LogFormat::ZeekTsv => format!("zeek {name}.log (TSV)"),
            LogFormat::JsonLines => format!("{name}.log (JSON lines)"),
        };
        let warnings = self.warnings(more_warnings);
        CaptureReport {
            info: CaptureInfo {
                path: self.path.clone(),
                format: format!(
                    "{}{kind}, {} rows",
                    if self.gz { "gzip+" } else { "" },
                    self.rows
                ),
                truncated: self.truncated,
                warnings,
                ..info
            },
            decode: Default::default(),
            duplicates: 0,
        }
    }
}

/// Reads the log at `source` row by row: `accept` says whether its kind is
/// one the caller reads (`Err` is why not, the read's error), `each` takes
/// one row and says why it could not (the row is then skipped and counted
/// by line). A log cut short (a damaged gzip stream, a last line without its
/// end) keeps every row before and says so.
pub(super) fn read_table(
    source: &Source,
    accept: &dyn Fn(LogKind) -> Result<(), String>,
    each: &mut dyn FnMut(&dyn Row) -> Result<(), String>,
) -> Result<Table, ReadError> {
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
    let Some((format, kind)) = sniff_kind(&head) else {
        return Err(err(
            "not a Zeek log (no #separator header, and not JSON lines with Zeek's id.orig_h fields)"
                .into(),
        ));
    };
    let kind = kind.map_err(|p| err(not_read(&p)))?;
    accept(kind).map_err(err)?;
    let mut rd = BufReader::new(std::io::Cursor::new(head).chain(raw));
    let mut t = Table {
        path: path.clone(),
        gz,
        format,
        kind,
        rows: 0,
        bad: Vec::new(),
        bad_count: 0,
        truncated: false,
    };
    let mut header = Header::default();
    let mut line = Vec::new();
    let mut no = 0u64;
    loop {
        line.clear();
        match rd.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                t.truncated = true;
                t.bad
                    .push(format!("{path}: reading stopped after line {no}: {e}"));
                break;
            }
        }
        no += 1;
        let ended = line.last() == Some(&b'\n');
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !ended {
            // The last line lacks its end: written while the log was copied.
            t.truncated = true;
        }
        if line.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            t.problem(no, "not UTF-8");
            continue;
        };
        let done = match format {
            LogFormat::ZeekTsv => {
                if let Some(h) = text.strip_prefix('#') {
                    header_line(&mut header, h, kind).map_err(err)?;
                    continue;
                }
                if header.fields.is_empty() {
                    Err("a row before the #fields line".to_string())
                } else {
                    let row = TsvRow {
                        header: &header,
                        values: text.split(header.separator.as_str()).collect(),
                    };
                    if row.values.len() == header.fields.len() {
                        each(&row)
                    } else {
                        Err(format!(
                            "{} fields where #fields names {}",
                            row.values.len(),
                            header.fields.len()
                        ))
                    }
                }
            }
            LogFormat::JsonLines => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(m)) => each(&JsonRow(m)),
                Ok(_) => Err("not a JSON object".into()),
                Err(e) => Err(format!("not JSON: {e}")),
            },
        };
        match done {
            Ok(()) => t.rows += 1,
            Err(why) => t.problem(no, &why),
        }
    }
    if format == LogFormat::ZeekTsv && header.fields.is_empty() {
        return Err(err("a Zeek log without a #fields line".into()));
    }
    Ok(t)
}

/// Takes one `#` header line (without the `#`) into `header`; a `#path`
/// other than the log's `kind` (logs of two paths concatenated) is an error.
fn header_line(header: &mut Header, h: &str, kind: LogKind) -> Result<(), String> {
    if let Some(sep) = h.strip_prefix("separator ") {
        header.separator = unescape(sep);
        return Ok(());
    }
    if header.separator.is_empty() {
        header.separator = "\t".to_string();
    }
    let sep = header.separator.clone();
    let mut parts = h.split(sep.as_str());
    let rest = |parts: std::str::Split<'_, &str>| parts.collect::<Vec<_>>().join(&sep);
    match parts.next() {
        Some("set_separator") => header.set_separator = unescape(&rest(parts)),
        Some("unset_field") => header.unset = rest(parts),
        Some("empty_field") => header.empty = rest(parts),
        Some("fields") => header.fields = parts.map(str::to_string).collect(),
        Some("path") => {
            let p = rest(parts);
            if p != kind.path() {
                return Err(match LogKind::of_path(&p) {
                    Some(_) => format!(
                        "a Zeek {p} log after the {} log's rows (one log per file)",
                        kind.path()
                    ),
                    None => not_read(&p),
                });
            }
        }
        _ => {}
    }
    Ok(())
}
