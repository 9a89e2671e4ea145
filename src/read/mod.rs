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
            108 => "LOOP",
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
