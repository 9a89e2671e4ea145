//! Classic pcap files (libpcap format, all four magics in both byte orders).
//!
//! File header (24 bytes, in the byte order the magic reveals):
//!
//! ```text
//! 0  magic          a1b2c3d4 usec | a1b23c4d nsec | a1b2cd34 Kuznetzov "modified"
//! 4  version        major u16, minor u16 (2.4; not checked, as libpcap-based tools accept more)
//! 8  thiszone       i32, always 0 in practice and ignored by libpcap
//! 12 sigfigs        u32, ignored
//! 16 snaplen        u32, the capture's snapshot length (records may exceed it; accepted)
//! 20 linktype       u32: LINKTYPE_ in the low 16 bits, FCS length/reserved bits above
//! ```
//!
//! Record header (16 bytes; 24 in the modified format, which appends ifindex u32,
//! protocol u16, pkt_type u8 and a pad byte):
//!
//! ```text
//! 0  ts_sec   u32 seconds since the epoch (unsigned, as Wireshark reads it: good to 2106)
//! 4  ts_frac  u32 micro- or nanoseconds (out-of-range values are carried into seconds)
//! 8  caplen   u32 bytes of packet data that follow
//! 12 len      u32 length of the packet on the wire
//! ```
//!
//! The fixed headers are read directly rather than through pcap-parser's
//! `parse_pcap_frame*`, which has no big-endian variant of the modified format
//! and would need the caplen sanity check done first anyway.

use super::input::{Input, MAX_RECORD_LEN};
use super::{Endian, LinkType, Record, Sink};
use crate::time::Timestamp;

/// Which flavour of classic pcap a magic number announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Kind {
    /// Byte order of every header field.
    endian: Endian,
    /// Timestamp fractions are nanoseconds (else microseconds).
    nsec: bool,
    /// Kuznetzov's patched libpcap format with 24-byte record headers.
    modified: bool,
}

/// Microsecond magic.
const MAGIC_USEC: u32 = 0xa1b2_c3d4;
/// Nanosecond magic.
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
/// Kuznetzov "modified" pcap magic (microseconds).
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
/// Length of the file header.
const FILE_HEADER_LEN: usize = 24;
/// Mask for the link type proper; libpcap's `LT_LINKTYPE()` keeps the low 16
/// bits and uses the upper ones for the FCS length and reserved flags.
const LINKTYPE_MASK: u32 = 0x0000_ffff;

impl Kind {
    /// Recognises the four classic pcap magics, in either byte order.
    pub(super) fn from_magic(m: [u8; 4]) -> Option<Kind> {
        let known = |w| matches!(w, MAGIC_USEC | MAGIC_NSEC | MAGIC_MODIFIED);
        let (endian, word) = if known(u32::from_le_bytes(m)) {
            (Endian::Le, u32::from_le_bytes(m))
        } else if known(u32::from_be_bytes(m)) {
            (Endian::Be, u32::from_be_bytes(m))
        } else {
            return None;
        };
        Some(Kind {
            endian,
            nsec: word == MAGIC_NSEC,
            modified: word == MAGIC_MODIFIED,
        })
    }

    /// `pcap (LE, usec)`, `pcap (BE, nsec)`, `pcap-modified (LE, usec)`.
    fn name(self) -> String {
        format!(
            "{} ({}, {})",
            if self.modified {
                "pcap-modified"
            } else {
                "pcap"
            },
            self.endian.name(),
            if self.nsec { "nsec" } else { "usec" }
        )
    }

    /// Length of each record header.
    fn record_header_len(self) -> usize {
        if self.modified { 24 } else { 16 }
    }
}

/// The first record whose timestamp fraction was out of range, for the single
/// warning about them.
struct BadFraction {
    /// Its packet number.
    number: u64,
    /// Byte offset of its header.
    offset: u64,
    /// The fraction as written.
    frac: u32,
    /// How many records had such a fraction.
    count: u64,
}

/// What every record of one file is read with.
struct Walk {
    /// Byte order of the record headers.
    endian: Endian,
    /// The file's link type.
    link: LinkType,
    /// Record header length (16, or 24 for the modified format).
    hdr_len: usize,
    /// First invalid timestamp fraction.
    frac_limit: u32,
    /// Nanoseconds per fraction unit.
    frac_to_ns: i64,
}

impl Walk {
    /// The record's time; notes an out-of-range fraction for the one warning.
    fn timestamp(
        &self,
        secs: u32,
        frac: u32,
        number: u64,
        offset: u64,
        bad_frac: &mut Option<BadFraction>,
    ) -> Timestamp {
        if frac >= self.frac_limit {
            match bad_frac {
                Some(b) => b.count += 1,
                None => {
                    *bad_frac = Some(BadFraction {
                        number,
                        offset,
                        frac,
                        count: 1,
                    })
                }
            }
        }
        // Adding the fraction in nanoseconds carries any excess into the seconds,
        // the normalisation a well-formed writer would have done.
        Timestamp::from_parts(i64::from(secs), i64::from(frac) * self.frac_to_ns)
    }

    /// Delivers the complete, sane records at the start of `buf` (whose first
    /// byte is at stream offset `base`) and returns how many bytes they took.
    /// Stops, leaving it to the general path, at a record that is cut by the
    /// buffer's end or claims more than [`MAX_RECORD_LEN`].
    ///
    /// The general path would do the same per record, with a `fill` call and
    /// its bounds checks each time; this is the loop that runs millions of times.
    fn buffered<F: FnMut(&Record<'_>) + ?Sized>(
        &self,
        buf: &[u8],
        base: u64,
        sink: &mut Sink<'_, F>,
        bad_frac: &mut Option<BadFraction>,
    ) -> usize {
        let e = self.endian;
        let mut pos = 0;
        loop {
            let Some(h) = buf.get(pos..).and_then(|r| r.first_chunk::<16>()) else {
                return pos;
            };
            if sink.done() {
                return pos;
            }
            let caplen = e.u32(h, 8) as usize;
            if caplen > MAX_RECORD_LEN {
                return pos;
            }
            let start = pos + self.hdr_len;
            let Some(data) = buf.get(start..start + caplen) else {
                return pos;
            };
            let offset = base + pos as u64;
            let number = sink.next_number();
            let ts = self.timestamp(e.u32(h, 0), e.u32(h, 4), number, offset, bad_frac);
            sink.record(ts, self.link, data, e.u32(h, 12), offset, true);
            pos = start + caplen;
        }
    }
}

/// Reads a classic pcap stream positioned at its magic. `Err` (a reason) only if
/// the file header itself cannot be read; problems after it end up as warnings.
pub(super) fn read<F: FnMut(&Record<'_>) + ?Sized>(
    input: &mut Input,
    kind: Kind,
    sink: &mut Sink<'_, F>,
) -> Result<String, String> {
    if !input.fill(FILE_HEADER_LEN) {
        let got = input.avail().len();
        return Err(match input.error() {
            Some(e) => format!("read error in the pcap file header after {got} bytes: {e}"),
            None => format!("pcap file header truncated ({got} of {FILE_HEADER_LEN} bytes)"),
        });
    }
    let e = kind.endian;
    let link = LinkType(e.u32(input.avail(), 20) & LINKTYPE_MASK);
    sink.link_type(link);
    input.consume(FILE_HEADER_LEN);

    let hdr_len = kind.record_header_len();
    let (frac_limit, frac_to_ns) = if kind.nsec {
        (1_000_000_000, 1)
    } else {
        (1_000_000, 1000)
    };
    let mut bad_frac: Option<BadFraction> = None;
    let walk = Walk {
        endian: e,
        link,
        hdr_len,
        frac_limit,
        frac_to_ns,
    };
    loop {
        // Records wholly in the buffer go through the cheap walk; the one that
        // straddles its end (or is corrupt) takes the general path below.
        let walked = walk.buffered(input.avail(), input.offset(), sink, &mut bad_frac);
        input.consume(walked);
        if sink.done() {
            break;
        }
        let number = sink.next_number();
        if !input.fill(hdr_len) {
            if !input.avail().is_empty() || input.error().is_some() {
                sink.cut(input, format_args!("record {number}"), hdr_len);
            }
            break;
        }
        let h = input.avail();
        let secs = e.u32(h, 0);
        let frac = e.u32(h, 4);
        let caplen = e.u32(h, 8);
        let orig_len = e.u32(h, 12);
        let offset = input.offset();
        if caplen as usize > MAX_RECORD_LEN {
            sink.stop(format_args!(
                "corrupt: record {number} at byte offset {offset} claims caplen {caplen} \
                 (limit {MAX_RECORD_LEN}); stopped reading"
            ));
            break;
        }
        let need = hdr_len + caplen as usize;
        if !input.fill(need) {
            sink.cut(input, format_args!("record {number}"), need);
            break;
        }
        let ts = walk.timestamp(secs, frac, number, offset, &mut bad_frac);
        let data = input.avail().get(hdr_len..need).unwrap_or(&[]);
        sink.record(ts, link, data, orig_len, offset, true);
        input.consume(need);
    }
    if let Some(b) = bad_frac {
        let unit = if kind.nsec { "nsec" } else { "usec" };
        sink.warn(format_args!(
            "record {} at byte offset {}: timestamp fraction {} {unit} out of range \
             (>= {frac_limit}), carried into seconds; {} record(s) affected",
            b.number, b.offset, b.frac, b.count
        ));
    }
    Ok(kind.name())
}
