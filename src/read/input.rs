//! Byte input for the capture parsers: opening a [`Source`] (with transparent
//! gzip), a refillable window over the stream that tracks absolute offsets, and
//! the expansion of command-line arguments into sources.

use super::{ReadError, Source};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// Most bytes asked for in one `read()` from the underlying stream.
///
/// Measured on the benchmark machine (Linux 6.18, AMD EPYC, page cache warm,
/// 2.4 GB file, `read()` loops into one buffer): 64 KiB to 512 KiB calls all
/// cost about 0.3 s of kernel time, as `cat`, *when the destination is placed
/// right*; what made some loops 3-4x slower (1.2-2.1 s) was not the call size
/// but the destination's address: 16 bytes past the file offset modulo 4 KiB,
/// exactly where a fresh 256 KiB `Vec` (glibc mmap chunk) puts it. See
/// [`PAGE`]. 128 KiB keeps the window two calls long.
pub(crate) const READ_CHUNK: usize = 128 * 1024;

/// Initial size of the window's buffer: two read calls, so that the unread
/// tail of a record straddling the end is moved to the front only every other
/// read at most.
const BUF_LEN: usize = 2 * READ_CHUNK;

/// Reads land at a buffer address equal to their file offset modulo this, so
/// the kernel copies page to page at the same alignment. Measured as above,
/// 2.4 GB with 128 KiB calls: address - offset = 0, 32, 64, 256 or 4064
/// (mod 4096): 0.5-0.7 s wall; 16: 2.1-2.2 s, with any call or buffer size.
const PAGE: usize = 4096;

/// Largest record or block the readers accept. Anything a header claims beyond
/// this is treated as corruption, so a garbage length never makes us allocate
/// gigabytes.
pub(crate) const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;

/// A forward-only window over a byte stream.
///
/// The parsers ask for "at least n bytes from the current position" and get a
/// borrowed slice, so records are handed out without copying; only when a record
/// straddles the end of the buffer are the unread bytes moved to its front.
pub(crate) struct Input {
    /// Where the bytes come from (file, stdin, or a gzip decoder over either).
    rd: Box<dyn Read>,
    /// Backing storage (`PAGE` bytes more than asked for, for the alignment);
    /// grows beyond that only for records that need it.
    buf: Vec<u8>,
    /// Index in `buf` of the first unconsumed byte.
    start: usize,
    /// Index in `buf` one past the last valid byte.
    end: usize,
    /// Absolute stream offset of `buf[start]`.
    offset: u64,
    /// The stream has ended (cleanly or with `err`).
    eof: bool,
    /// The I/O error that ended the stream early, if any.
    err: Option<io::Error>,
}

impl Input {
    /// Wraps a reader; nothing is read until the first [`Input::fill`].
    pub(crate) fn new(rd: Box<dyn Read>) -> Self {
        Self::with_capacity(rd, BUF_LEN)
    }

    /// Like [`Input::new`] with a buffer of `cap` bytes to start with.
    fn with_capacity(rd: Box<dyn Read>, cap: usize) -> Self {
        let mut input = Input {
            rd,
            buf: vec![0; cap.saturating_add(PAGE)],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            err: None,
        };
        input.start = input.aligned_index();
        input.end = input.start;
        input
    }

    /// Where in `buf` the byte at stream offset `offset` goes so that its
    /// address and its offset agree modulo [`PAGE`] (always below `PAGE`).
    fn aligned_index(&self) -> usize {
        // Only the address's value is used, to pick an index; nothing is
        // dereferenced. PAGE divides 2^64, so wrapping keeps the residue.
        let addr = self.buf.as_ptr() as usize;
        (self.offset as usize).wrapping_sub(addr) % PAGE
    }

    /// Absolute offset (in the decompressed stream) of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The unconsumed bytes currently buffered.
    pub(crate) fn avail(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// The I/O error that ended the stream, if it did not end cleanly.
    pub(crate) fn error(&self) -> Option<&io::Error> {
        self.err.as_ref()
    }

    /// Marks `n` buffered bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Makes at least `n` bytes available; false when the stream ends first
    /// (whatever was read stays available, and [`Input::error`] tells why).
    ///
    /// Callers cap `n` at [`MAX_RECORD_LEN`] plus a header before calling, and the
    /// buffer grows at most to twice what actually arrived, so a lying header on a
    /// short stream costs little memory.
    pub(crate) fn fill(&mut self, n: usize) -> bool {
        while self.end - self.start < n {
            if self.eof {
                return false;
            }
            if self.end == self.buf.len() {
                self.make_room(n);
            }
            let stop = self.end.saturating_add(READ_CHUNK).min(self.buf.len());
            let Some(space) = self.buf.get_mut(self.end..stop) else {
                return false;
            };
            match self.rd.read(space) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k.min(space.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    self.err = Some(e);
                }
            }
        }
        true
    }

    /// Frees space at the end of the buffer: first by moving the unread bytes to
    /// the front (to the aligned index, see [`PAGE`]), then (for records larger
    /// than the buffer) by doubling it.
    fn make_room(&mut self, n: usize) {
        let have = self.end - self.start;
        let at = self.aligned_index();
        if self.start > at {
            self.buf.copy_within(self.start..self.end, at);
            self.start = at;
            self.end = at + have;
        }
        if self.end == self.buf.len() && self.buf.len() - self.start < n {
            let want = n.saturating_add(self.start).max(BUF_LEN + PAGE);
            let grown = self.buf.len().saturating_mul(2).min(want);
            self.buf.resize(grown, 0);
        }
    }
}

/// Opens `src` as a raw (still possibly compressed) byte stream.
pub(crate) fn open(src: &Source) -> Result<Box<dyn Read>, ReadError> {
    match src {
        Source::Path(p) => match File::open(p) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) => Err(ReadError {
                path: src.to_string(),
                reason: format!("cannot open: {e}"),
            }),
        },
        Source::Stdin => Ok(Box::new(io::stdin())),
    }
}

/// A reader that adds the bytes it hands out to a shared counter (see
/// [`super::read_capture_counting`]); one atomic add per read call, which
/// are [`READ_CHUNK`] long.
pub(crate) struct Counting {
    /// The raw stream.
    inner: Box<dyn Read>,
    /// Bytes read so far, for whoever watches (a progress bar on another thread).
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Counting {
    /// Counts what `inner` gives into `count`.
    pub(crate) fn new(
        inner: Box<dyn Read>,
        count: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        Counting { inner, count }
    }
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Wraps a raw stream into an [`Input`], decompressing it on the fly if it
/// starts with the gzip magic (`1f 8b`); the flag says whether it did.
///
/// gzip is recognised by content, not by file name, so `-` and oddly named
/// files work too. Concatenated gzip members are read as one stream, as `zcat`
/// does. `Err` is a reason, for when not even the magic could be read.
pub(crate) fn decompress(raw: Box<dyn Read>) -> Result<(Input, bool), String> {
    // A small window: it only peeks at the magic, then passes reads through.
    let mut raw = Input::with_capacity(raw, 16);
    raw.fill(2);
    if let Some(e) = raw.error() {
        return Err(format!("cannot read: {e}"));
    }
    if raw.avail().starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(READ_CHUNK, raw));
        Ok((Input::new(Box::new(gz)), true))
    } else {
        Ok((Input::new(Box::new(raw)), false))
    }
}

impl Read for Input {
    /// Lets an [`Input`] that has already peeked at the magic serve as the raw
    /// stream below a decoder or a second window, without losing the peeked bytes.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if self.eof {
                return match self.err.take() {
                    Some(e) => Err(e),
                    None => Ok(0),
                };
            }
            let cap = out.len().min(READ_CHUNK);
            return self.rd.read(out.get_mut(..cap).unwrap_or_default());
        }
        let avail = self.avail();
        let k = avail.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..k), avail.get(..k)) {
            dst.copy_from_slice(src);
        }
        self.consume(k);
        Ok(k)
    }
}

/// The command line's inputs, expanded: what to read, and what was left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Captures to read, in order.
    pub sources: Vec<Source>,
    /// Connection logs (Zeek's conn.log, flowaudit's JSON lines) to read,
    /// in order: only from [`expand_inputs_with_logs`].
    pub logs: Vec<Source>,
    /// Zeek's dns.log, ssl.log and http.log, read for names: named, found
    /// in a directory, or beside a conn.log named (see
    /// [`expand_inputs_with_logs`]); only from [`expand_inputs_with_logs`].
    pub name_logs: Vec<Source>,
    /// Files found inside directories that are not captures.
    pub skipped: Vec<Skipped>,
}

/// A file found inside a directory and left out because it is not a capture
/// (a `conn.log` beside the captures, a README): one bad neighbour must not
/// fail the whole run. Files named on the command line are never skipped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The file, as found below the directory given.
    pub path: String,
    /// Why it is not a capture (`empty file`, `not a pcap or pcapng file (magic ...)`).
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    /// `dir/conn.log: skipped, not a pcap or pcapng file (magic 23 73 65 70)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: skipped, {}", self.path, self.reason)
    }
}

/// Expands command-line inputs into sources: files as given, directories
/// recursively (regular files only, hidden entries skipped, sorted by path),
/// and `-` as standard input.
///
/// Inside directories, a file whose first bytes are not a capture's (after
/// gzip decompression) is skipped and listed in [`Inputs::skipped`]; one that
/// cannot be opened is kept, so that reading it reports why. A file named on
/// the command line is always kept: if it is not a capture, reading it is
/// the error. Directories that hold no capture at all are an error.
pub fn expand_inputs(args: &[OsString]) -> Result<Inputs, ReadError> {
    expand(args, false)
}

/// [`expand_inputs`] for the commands that also read logs (`audit`,
/// `roles`): a Zeek conn.log or flowaudit's JSON lines, named or found in a
/// directory, goes to [`Inputs::logs`]; a Zeek dns.log, ssl.log or http.log
/// to [`Inputs::name_logs`], and so do those beside a conn.log named on the
/// command line (`dns.log` beside `conn.log`, `ssl.10:00:00-11:00:00.log.gz`
/// beside `conn.10:00:00-11:00:00.log.gz`: [`beside`]); another Zeek log
/// (files.log, ...) inside a directory is skipped, and named, it is an error.
pub fn expand_inputs_with_logs(args: &[OsString]) -> Result<Inputs, ReadError> {
    expand(args, true)
}

/// The kinds of name log read beside a conn.log.
const NAME_KINDS: [crate::logs::LogKind; 3] = [
    crate::logs::LogKind::Dns,
    crate::logs::LogKind::Ssl,
    crate::logs::LogKind::Http,
];

/// The name logs beside the conn.log at `conn`, in the same directory, that
/// exist as regular files and are the logs their names say: the file name
/// with its `conn` part (the whole stem, or a dot-separated part of it:
/// `conn.log`, `conn.10:00:00-11:00:00.log.gz`, `site1.conn.log`) read as
/// `dns`, `ssl` and `http`, with or without `.gz` (rotation may compress
/// one and not the other).
pub fn beside(conn: &Path) -> Vec<PathBuf> {
    let Some(name) = conn.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    // `conn` as a whole dot-separated part of the name, the first one.
    let at = name.match_indices("conn").map(|(i, _)| i).find(|&i| {
        let before = name
            .get(..i)
            .is_none_or(|b| b.is_empty() || b.ends_with('.'));
        let after = name.get(i + 4..).is_some_and(|a| a.starts_with('.'));
        before && after
    });
    let Some(at) = at else {
        return Vec::new();
    };
    let (prefix, suffix) = (
        name.get(..at).unwrap_or_default(),
        name.get(at + 4..).unwrap_or_default(),
    );
    let core = suffix.strip_suffix(".gz").unwrap_or(suffix);
    let dir = conn.parent().unwrap_or(Path::new(""));
    let mut found = Vec::new();
    for kind in NAME_KINDS {
        for ext in ["", ".gz"] {
            let p = dir.join(format!("{prefix}{}{core}{ext}", kind.path()));
            let is_it = std::fs::metadata(&p).is_ok_and(|m| m.is_file())
                && matches!(
                    crate::logs::sniff_source(&Source::Path(p.clone())),
                    Some(Ok((k, _))) if k == kind
                );
            if is_it {
                found.push(p);
            }
        }
    }
    found
}

fn expand(args: &[OsString], logs: bool) -> Result<Inputs, ReadError> {
    use crate::logs::LogKind;
    let mut out = Inputs::default();
    // A log and its kind, or why a Zeek log is not one to read; `None`: no
    // log at all. Elsewhere a log is a file to skip, and says why.
    let log_of = |p: &Path| -> Option<Result<LogKind, String>> {
        if !std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let found = crate::logs::sniff_source(&Source::Path(p.to_path_buf()))?;
        Some(match found {
            Ok((LogKind::Conn, _)) if !logs => {
                Err("a connection log: only `audit` and `roles` read logs".to_string())
            }
            Ok((k, _)) if !logs => Err(format!(
                "a Zeek {} log: only `audit` and `roles` read logs",
                k.path()
            )),
            r => r.map(|(k, _)| k),
        })
    };
    let push = |out: &mut Inputs, kind: LogKind, s: Source| {
        let to = match kind {
            LogKind::Conn => &mut out.logs,
            _ => &mut out.name_logs,
        };
        // Named and found beside a conn.log too: read once.
        let same = |a: &Source| match (a, &s) {
            (Source::Path(a), Source::Path(b)) => {
                a == b
                    || matches!(
                        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                        (Ok(x), Ok(y)) if x == y
                    )
            }
            (Source::Stdin, Source::Stdin) => true,
            _ => false,
        };
        if !to.iter().any(same) {
            to.push(s);
        }
    };
    let mut dirs = Vec::new();
    for arg in args {
        if arg == "-" {
            // A log on stdin is told by its first bytes, peeked in stdin's
            // own buffer: whichever reader follows reads them again.
            let kind = if logs {
                let mut stdin = io::stdin().lock();
                io::BufRead::fill_buf(&mut stdin)
                    .ok()
                    .and_then(crate::logs::sniff_start)
                    .map(|(_, k)| k.unwrap_or(LogKind::Conn))
            } else {
                None
            };
            match kind {
                Some(k) => push(&mut out, k, Source::Stdin),
                None => out.sources.push(Source::Stdin),
            }
            continue;
        }
        let p = PathBuf::from(arg);
        // A path that cannot be stat'ed is passed on as given: read_capture then
        // reports it with the OS reason, next to the other inputs' results.
        if std::fs::metadata(&p).is_ok_and(|m| m.is_dir()) {
            let mut found = Vec::new();
            walk_dir(&p, &mut found)?;
            found.sort();
            for path in found {
                match log_of(&path) {
                    Some(Ok(kind)) => {
                        push(&mut out, kind, Source::Path(path));
                        continue;
                    }
                    Some(Err(reason)) => {
                        out.skipped.push(Skipped {
                            path: path.display().to_string(),
                            reason,
                        });
                        continue;
                    }
                    None => {}
                }
                match sniff_file(&path) {
                    Some(super::Magic::Other(reason)) => out.skipped.push(Skipped {
                        path: path.display().to_string(),
                        reason,
                    }),
                    _ => out.sources.push(Source::Path(path)),
                }
            }
            dirs.push(p.display().to_string());
        } else {
            match log_of(&p).filter(|_| logs) {
                Some(Ok(LogKind::Conn)) => {
                    // Its dns.log, ssl.log and http.log, when present.
                    for n in beside(&p) {
                        push(&mut out, LogKind::Dns, Source::Path(n));
                    }
                    push(&mut out, LogKind::Conn, Source::Path(p));
                }
                Some(Ok(kind)) => push(&mut out, kind, Source::Path(p)),
                Some(Err(reason)) => {
                    return Err(ReadError {
                        path: p.display().to_string(),
                        reason,
                    });
                }
                None => out.sources.push(Source::Path(p)),
            }
        }
    }
    if out.sources.is_empty() && out.logs.is_empty() && !dirs.is_empty() {
        let skipped = match out.skipped.len() {
            0 => String::new(),
            1 => " (1 file that is not a capture skipped)".into(),
            n => format!(" ({n} files that are not captures skipped)"),
        };
        return Err(ReadError {
            path: dirs.join(", "),
            reason: format!("no capture files found{skipped}"),
        });
    }
    Ok(out)
}

/// What a file's first bytes say, looking inside gzip; `None` when it cannot
/// be opened or read (the reader will say why) or its gzip data is corrupt
/// before the first bytes (a damaged compressed capture, for all we know).
fn sniff_file(path: &Path) -> Option<super::Magic> {
    let mut file = File::open(path).ok()?;
    let first = read_up_to_4(&mut file)?;
    match super::sniff(&first) {
        super::Magic::Gzip => {
            let rest = io::Cursor::new(first).chain(file);
            let mut gz = flate2::read::MultiGzDecoder::new(rest);
            let inner = read_up_to_4(&mut gz)?;
            Some(match super::sniff(&inner) {
                super::Magic::Other(reason) => {
                    super::Magic::Other(format!("{reason} after gzip decompression"))
                }
                // gzip inside gzip: the reader decompresses once only.
                super::Magic::Gzip => {
                    super::Magic::Other("not a pcap or pcapng file (gzip inside gzip)".into())
                }
                m => m,
            })
        }
        m => Some(m),
    }
}

/// The first (up to) four bytes of a stream; `None` on a read error.
fn read_up_to_4(rd: &mut dyn Read) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(4);
    rd.take(4).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Collects the regular files below `dir`. Symlinked files count; symlinked
/// directories are not entered, which rules out cycles.
fn walk_dir(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let err = |e: io::Error| ReadError {
        path: dir.display().to_string(),
        reason: format!("cannot list directory: {e}"),
    };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk_dir(&path, found)?;
        } else if ft.is_file() || (ft.is_symlink() && path.metadata().is_ok_and(|m| m.is_file())) {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of awkward sizes pass through the window: every byte comes out
    /// in order, and each read lands at a buffer address that matches its
    /// stream offset modulo the page (the placement the kernel copies fastest).
    #[test]
    fn reads_land_page_aligned_with_their_offsets() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut input = Input::new(Box::new(io::Cursor::new(data.clone())));
        let (mut pos, mut i) = (0usize, 0usize);
        let mut moved = 0;
        loop {
            let want = 16 + (i * 7919) % 3000;
            i += 1;
            let before = input.buf.as_ptr() as usize + input.start;
            if !input.fill(want) {
                assert_eq!(input.avail(), &data[pos..]);
                break;
            }
            moved += usize::from(input.buf.as_ptr() as usize + input.start != before);
            let addr = input.buf.as_ptr() as usize + input.start;
            assert_eq!(addr % PAGE, input.offset() as usize % PAGE, "record {i}");
            assert_eq!(&input.avail()[..want], &data[pos..pos + want]);
            input.consume(want);
            pos += want;
        }
        assert!(moved > 10, "the window refilled only {moved} times");
        assert_eq!(
            input.buf.len(),
            BUF_LEN + PAGE,
            "no growth for small records"
        );
    }
}
