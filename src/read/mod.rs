//! Reading capture files: pcap and pcapng (plain or gzip-compressed, from files,
//! directories or stdin) into a stream of [`Record`]s.
//!
//! Reading never panics and never throws away what it already read: a cut or
//! corrupt file ends the stream early with a warning in [`CaptureInfo`], and only
//! a file that is not a capture at all is an error.

use crate::time::Timestamp;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// A link-layer header type (`LINKTYPE_*` number from the pcap/pcapng header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet (DLT_EN10MB).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP on OpenBSD (legacy DLT_RAW value).
    pub const RAW_OPENBSD: LinkType = LinkType(14);
    /// Raw IP on most systems (legacy DLT_RAW value).
    pub const RAW_LEGACY: LinkType = LinkType(12);
    /// PPP without HDLC framing.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// IEEE 802.11 frames without a radio header.
    pub const IEEE802_11: LinkType = LinkType(105);
    /// IEEE 802.11 frames after a radiotap header.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The `LINKTYPE_` name without prefix, or `None` when flowaudit has no name for it.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "EN10MB",
            9 => "PPP",
            12 | 14 | 101 => "RAW",
            105 => "IEEE802_11",
            108 => "LOOP",
            127 => "IEEE802_11_RADIO",
            113 => "LINUX_SLL",
            160 => "USER13",
            228 => "IPV4",
            229 => "IPV6",
            239 => "NFLOG",
            271 => "VSOCK",
            276 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Display for LinkType {
    /// `EN10MB(1)`, as the capture manifest and capinfos name link types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "LINKTYPE_{}", self.0),
        }
    }
}

impl Serialize for LinkType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One captured frame, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// When the frame was captured.
    pub ts: Timestamp,
    /// Link type of the interface that captured it.
    pub link: LinkType,
    /// The captured bytes (`caplen` of them; may be fewer than `orig_len`).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// 1-based number of this packet in its file, as Wireshark's `frame.number`.
    pub number: u64,
    /// Byte offset of the record (or block) header in the (decompressed) file.
    pub offset: u64,
}

/// Where a capture comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A file on disk.
    Path(PathBuf),
    /// Standard input (`-` on the command line).
    Stdin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(p) => write!(f, "{}", p.display()),
            Source::Stdin => f.write_str("-"),
        }
    }
}

/// What reading one capture found: the capinfos-like summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureInfo {
    /// The path as given (`-` for stdin).
    pub path: String,
    /// Container format, e.g. `pcap (LE, usec)` or `pcapng (1 section, LE)`; `gzip+` prefix when compressed.
    pub format: String,
    /// Link types of the capture's interfaces, in order of first appearance.
    pub link_types: Vec<LinkType>,
    /// Packet records read.
    pub packets: u64,
    /// Captured bytes of those packets (sum of caplen), as capinfos' "data size".
    pub bytes: u64,
    /// Earliest packet timestamp (seconds, as Zeek's `ts`), if any packet.
    pub first_ts: Option<f64>,
    /// Latest packet timestamp, if any packet.
    pub last_ts: Option<f64>,
    /// Earliest packet time at full (nanosecond) precision.
    #[serde(skip)]
    pub first_time: Option<Timestamp>,
    /// Latest packet time at full precision.
    #[serde(skip)]
    pub last_time: Option<Timestamp>,
    /// True when the file ended inside a record or a record header was corrupt.
    pub truncated: bool,
    /// Human-readable warnings, each naming the file and byte offset.
    pub warnings: Vec<String>,
}

/// An error that stopped reading before any packet could be trusted.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ReadError {
    /// The capture that failed (`-` for stdin).
    pub path: String,
    /// Why, including the byte offset where that makes sense.
    pub reason: String,
}

mod input;
#[cfg(feature = "live")]
pub mod live;
pub mod merge;
mod pcap;
mod pcapng;

pub use input::{Inputs, Skipped, beside, expand_inputs, expand_inputs_with_logs};

/// What a file's first bytes say it is, before any attempt to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Magic {
    /// A pcap (any byte order or variant) or pcapng capture.
    Capture,
    /// gzip-compressed data: a compressed capture, or anything else compressed.
    Gzip,
    /// Not a capture; the reason names what the bytes were (`empty file`, the magic).
    Other(String),
}

/// Classifies a file by its first (up to four) bytes, as [`read_capture`]
/// recognises formats: by content, never by name.
pub fn sniff(first: &[u8]) -> Magic {
    if first.starts_with(&[0x1f, 0x8b]) {
        return Magic::Gzip;
    }
    match first.first_chunk::<4>() {
        Some(&m) if pcap::Kind::from_magic(m).is_some() || m == pcapng::SHB_TYPE => Magic::Capture,
        Some([a, b, c, d]) => Magic::Other(format!(
            "not a pcap or pcapng file (magic {a:02x} {b:02x} {c:02x} {d:02x})"
        )),
        None if first.is_empty() => Magic::Other("empty file".into()),
        None => Magic::Other(format!("too short to be a capture ({} bytes)", first.len())),
    }
}

use input::Input;

/// Reads one capture, calling `on_record` for every packet record in file order.
///
/// Returns `Ok` also for truncated or corrupt-tail files (`info.truncated` set,
/// `info.warnings` naming file, byte offset and record number); `Err` only when
/// nothing could be read as a capture: unreadable, empty, or not pcap/pcapng.
pub fn read_capture<F: FnMut(&Record<'_>) + ?Sized>(
    src: &Source,
    on_record: &mut F,
) -> Result<CaptureInfo, ReadError> {
    let raw = input::open(src)?;
    read_stream(&src.to_string(), raw, on_record)
}

/// [`read_capture`], also adding to `raw_bytes` every byte read from the
/// file or stdin as it is read, before any decompression: how far through
/// its input the reader is, which is what a progress bar can set against a
/// file's size (a gzip file's records are at offsets of the decompressed
/// stream, which says nothing about how much of the file is left).
pub fn read_capture_counting<F: FnMut(&Record<'_>) + ?Sized>(
    src: &Source,
    raw_bytes: &std::sync::Arc<std::sync::atomic::AtomicU64>,
    on_record: &mut F,
) -> Result<CaptureInfo, ReadError> {
    let raw = input::Counting::new(input::open(src)?, std::sync::Arc::clone(raw_bytes));
    read_stream(&src.to_string(), Box::new(raw), on_record)
}

/// [`read_capture`] on an already opened byte stream (plain or gzip), named
/// `path` in messages; lets tests and tools read captures built in memory.
// Generic over `on_record` so that the record walk can inline it.
pub fn read_stream<F: FnMut(&Record<'_>) + ?Sized>(
    path: &str,
    raw: Box<dyn std::io::Read>,
    on_record: &mut F,
) -> Result<CaptureInfo, ReadError> {
    read_stream_upto(path, raw, u64::MAX, on_record)
}

/// The time of the first timestamped record of `src`, read without going
/// further (`None` when the capture has none): what [`merge`] orders inputs
/// by before it reads them.
pub fn first_time(src: &Source) -> Result<Option<Timestamp>, ReadError> {
    let raw = input::open(src)?;
    let mut first = None;
    read_stream_upto(&src.to_string(), raw, 1, &mut |r: &Record<'_>| {
        first = first.or(Some(r.ts));
    })?;
    Ok(first)
}

/// [`read_stream`], stopping once `limit` timestamped records were delivered.
fn read_stream_upto<F: FnMut(&Record<'_>) + ?Sized>(
    path: &str,
    raw: Box<dyn std::io::Read>,
    limit: u64,
    on_record: &mut F,
) -> Result<CaptureInfo, ReadError> {
    let err = |reason: String| ReadError {
        path: path.to_string(),
        reason,
    };
    let (mut input, gzip) = input::decompress(raw).map_err(err)?;
    let mut sink = Sink::new(path.to_string(), on_record);
    sink.limit = limit;
    input.fill(4);
    let magic = input.avail().first_chunk::<4>().copied();
    let Some(magic) = magic else {
        let got = input.avail().len();
        let what = if gzip {
            " (after gzip decompression)"
        } else {
            ""
        };
        return Err(err(match input.error() {
            Some(e) if gzip => format!("gzip decompression failed at byte offset {got}: {e}"),
            Some(e) => format!("cannot read: {e}"),
            None if got == 0 => format!("empty file{what}"),
            None => format!("too short to be a capture ({got} bytes{what})"),
        }));
    };
    let format = if let Some(kind) = pcap::Kind::from_magic(magic) {
        pcap::read(&mut input, kind, &mut sink).map_err(err)?
    } else if magic == pcapng::SHB_TYPE {
        pcapng::read(&mut input, &mut sink).map_err(err)?
    } else {
        let [a, b, c, d] = magic;
        return Err(err(format!(
            "not a pcap or pcapng file (magic {a:02x} {b:02x} {c:02x} {d:02x})"
        )));
    };
    let mut info = sink.finish();
    info.format = if gzip {
        format!("gzip+{format}")
    } else {
        format
    };
    Ok(info)
}

/// Most warnings one capture keeps; a file broken in a thousand ways should not
/// grow memory with every record.
const MAX_WARNINGS: usize = 32;

/// Collects what the format parsers find and hands records to the caller.
struct Sink<'f, F: FnMut(&Record<'_>) + ?Sized> {
    /// The summary being built.
    info: CaptureInfo,
    /// The caller's per-record callback.
    on_record: &'f mut F,
    /// Earliest timestamp seen (records without a timestamp excluded).
    first: Option<Timestamp>,
    /// Latest timestamp seen.
    last: Option<Timestamp>,
    /// Timestamped records to deliver before the readers stop early.
    limit: u64,
    /// Timestamped records delivered so far.
    timed: u64,
}

impl<'f, F: FnMut(&Record<'_>) + ?Sized> Sink<'f, F> {
    /// Starts an empty summary for `path`.
    fn new(path: String, on_record: &'f mut F) -> Self {
        Sink {
            info: CaptureInfo {
                path,
                ..CaptureInfo::default()
            },
            on_record,
            first: None,
            last: None,
            limit: u64::MAX,
            timed: 0,
        }
    }

    /// The caller asked for no more records (see [`first_time`]).
    fn done(&self) -> bool {
        self.timed >= self.limit
    }

    /// Number the next record will get (1-based).
    fn next_number(&self) -> u64 {
        self.info.packets + 1
    }

    /// Counts and delivers one record. `has_ts` is false for pcapng Simple Packet
    /// Blocks, which carry no time and so do not move first/last timestamps (as
    /// capinfos ignores them too).
    fn record(
        &mut self,
        ts: Timestamp,
        link: LinkType,
        data: &[u8],
        orig_len: u32,
        offset: u64,
        has_ts: bool,
    ) {
        self.info.packets += 1;
        self.info.bytes += data.len() as u64;
        if has_ts {
            self.timed += 1;
            self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
            self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        }
        let rec = Record {
            ts,
            link,
            data,
            orig_len,
            number: self.info.packets,
            offset,
        };
        (self.on_record)(&rec);
    }

    /// Notes a link type, keeping the order of first appearance.
    fn link_type(&mut self, lt: LinkType) {
        if !self.info.link_types.contains(&lt) {
            self.info.link_types.push(lt);
        }
    }

    /// Adds a warning, prefixed with the file name.
    fn warn(&mut self, msg: impl fmt::Display) {
        if self.info.warnings.len() < MAX_WARNINGS {
            self.info
                .warnings
                .push(format!("{}: {msg}", self.info.path));
        } else if self.info.warnings.len() == MAX_WARNINGS {
            self.info
                .warnings
                .push(format!("{}: further warnings suppressed", self.info.path));
        }
    }

    /// Ends reading early: the file is cut or corrupt from here on.
    fn stop(&mut self, msg: impl fmt::Display) {
        self.info.truncated = true;
        self.warn(msg);
    }

    /// Reports why `need` bytes at `offset` could not be had: a read error, or a
    /// plain cut. `what` names the record or block.
    fn cut(&mut self, input: &Input, what: impl fmt::Display, need: usize) {
        let left = input.avail().len();
        let offset = input.offset();
        match input.error() {
            Some(e) => self.stop(format_args!(
                "read error: {what} at byte offset {offset} needs {need} bytes, only {left} could be read: {e}"
            )),
            None => self.stop(format_args!(
                "truncated: {what} at byte offset {offset} needs {need} bytes, only {left} left"
            )),
        }
    }

    /// The finished summary.
    fn finish(mut self) -> CaptureInfo {
        self.info.first_time = self.first;
        self.info.last_time = self.last;
        // Rounded as the text formats show them (a connection's `ts` keeps
        // Zeek's truncation; these are the summary's own fields).
        self.info.first_ts = self.first.map(Timestamp::as_rounded_micros_f64);
        self.info.last_ts = self.last.map(Timestamp::as_rounded_micros_f64);
        self.info
    }
}

/// Byte order of a capture (or of one pcapng section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    /// Little-endian.
    Le,
    /// Big-endian.
    Be,
}

impl Endian {
    /// `LE` or `BE`, as the format strings name it.
    fn name(self) -> &'static str {
        match self {
            Endian::Le => "LE",
            Endian::Be => "BE",
        }
    }

    /// The 32-bit word at `at` in `b`; 0 if `b` is too short (callers check
    /// lengths first, so this only keeps the code panic-free).
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let w = b
            .get(at..)
            .and_then(|s| s.first_chunk::<4>())
            .copied()
            .unwrap_or([0; 4]);
        match self {
            Endian::Le => u32::from_le_bytes(w),
            Endian::Be => u32::from_be_bytes(w),
        }
    }

    /// The 16-bit word at `at` in `b`; 0 if `b` is too short.
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let w = b
            .get(at..)
            .and_then(|s| s.first_chunk::<2>())
            .copied()
            .unwrap_or([0; 2]);
        match self {
            Endian::Le => u16::from_le_bytes(w),
            Endian::Be => u16::from_be_bytes(w),
        }
    }
}

#[cfg(test)]
mod tests;
