//! pcapng files: any number of sections, each in its own byte order, each with
//! its own interfaces (ids restart at 0 per section).
//!
//! Every block has the same frame, in the section's byte order:
//!
//! ```text
//! 0      block type    u32 (SHB 0x0a0d0d0a reads the same in both orders)
//! 4      total length  u32, multiple of 4, >= 12, includes this frame
//! 8      body          type-specific, padded to 32 bits
//! len-4  total length  u32, repeated (a mismatch means corruption)
//! ```
//!
//! Packet bodies used here:
//!
//! ```text
//! EPB (6):  if_id u32, ts_high u32, ts_low u32, caplen u32, orig_len u32, data, options
//! PB  (2):  if_id u16, drops u16, ts_high u32, ts_low u32, caplen u32, orig_len u32, data, options
//!           (the obsolete Packet Block)
//! SPB (3):  orig_len u32, data (caplen = min(orig_len, snaplen of interface 0, room in block));
//!           no interface id and no timestamp
//! ```
//!
//! The timestamp is a 64-bit count of `if_tsresol` units (10^-n, or 2^-n when the
//! high bit is set; default 10^-6) since the epoch plus `if_tsoffset` seconds.
//!
//! The section and interface headers (rare, with options) are parsed with
//! pcap-parser; the packet blocks (the hot path) are read directly, because
//! pcap-parser's EPB parser collects options into a `Vec` per packet. Two of its
//! IDB conveniences are not used: its `if_tsoffset` is always decoded as
//! little-endian and its `build_ts_resolution` rejects every power-of-two
//! resolution, so both are decoded here from the raw options.

use super::input::{Input, MAX_RECORD_LEN};
use super::{Endian, LinkType, Record, Sink};
use crate::time::Timestamp;
use pcap_parser::pcapng::{
    OptionCode, parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock,
};
use std::fmt;

/// The section header block's type, as it appears on disk in either byte order.
pub(super) const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Section header block type.
const SHB: u32 = 0x0a0d_0d0a;
/// Interface description block type.
const IDB: u32 = 1;
/// Obsolete packet block type.
const PB: u32 = 2;
/// Simple packet block type.
const SPB: u32 = 3;
/// Enhanced packet block type.
const EPB: u32 = 6;
/// Byte-order magic in the section header, as written by the section's writer.
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Sections whose byte order the format string spells out one by one.
const MAX_LISTED_SECTIONS: usize = 8;

/// How an interface's timestamp units become nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    /// Resolution of 1 ns or coarser by a power of ten: multiply by this.
    Mul(u64),
    /// Any other resolution: this many units per second.
    PerSec(u128),
}

impl TsScale {
    /// Decodes `if_tsresol`: bit 7 clear means 10^-n seconds, set means 2^-n.
    /// `None` for a decimal exponent too large to represent (> 38).
    fn from_tsresol(r: u8) -> Option<TsScale> {
        let n = u32::from(r & 0x7f);
        if r & 0x80 != 0 {
            Some(TsScale::PerSec(1u128 << n))
        } else if n <= 9 {
            Some(TsScale::Mul(10u64.pow(9 - n)))
        } else {
            10u128.checked_pow(n).map(TsScale::PerSec)
        }
    }

    /// Nanoseconds for `units` ticks (finer resolutions are rounded down).
    fn nanos(self, units: u64) -> i128 {
        match self {
            TsScale::Mul(k) => i128::from(units) * i128::from(k),
            // units < 2^64 and 1e9 < 2^30, so the product fits a u128.
            TsScale::PerSec(per_sec) => {
                (u128::from(units) * 1_000_000_000 / per_sec.max(1)) as i128
            }
        }
    }
}

/// What the packet blocks of a section need to know about one interface.
#[derive(Clone, Copy, Debug)]
struct Interface {
    /// Link type of the interface.
    link: LinkType,
    /// Snapshot length (0 = unlimited); bounds Simple Packet Block data.
    snaplen: u32,
    /// Timestamp resolution.
    scale: TsScale,
    /// `if_tsoffset` in nanoseconds.
    offset_ns: i128,
}

impl Interface {
    /// The timestamp of a packet stamped `units` on this interface, saturating at
    /// the ends of the `i64` nanosecond range (year 1677 / 2262).
    fn ts(&self, units: u64) -> Timestamp {
        let ns = self.scale.nanos(units).saturating_add(self.offset_ns);
        Timestamp(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

/// How a block is named in warnings; formatted only when a warning is written,
/// so naming costs nothing per packet.
#[derive(Clone, Copy)]
struct What {
    /// The block type.
    btype: u32,
    /// The packet number the block would get if it is a packet block.
    number: u64,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.btype {
            SHB => f.write_str("section header block"),
            IDB => f.write_str("interface description block"),
            EPB | PB | SPB => write!(f, "record {}", self.number),
            t => write!(f, "block of type {t:#010x}"),
        }
    }
}

/// Reads a pcapng stream positioned at its first section header. `Err` (a reason)
/// only if that first header cannot be read; later problems become warnings.
pub(super) fn read<F: FnMut(&Record<'_>) + ?Sized>(
    input: &mut Input,
    sink: &mut Sink<'_, F>,
) -> Result<String, String> {
    let mut endian = Endian::Le;
    let mut sections: Vec<Endian> = Vec::new();
    let mut interfaces: Vec<Interface> = Vec::new();

    loop {
        if sink.done() {
            break;
        }
        let first = sections.is_empty();
        let offset = input.offset();
        let number = sink.next_number();

        // In the first block every problem means "not a readable capture"; later
        // ones end the stream with a warning and keep what was read.
        macro_rules! corrupt {
            ($($arg:tt)*) => {{
                let msg = format!($($arg)*);
                if first {
                    return Err(msg);
                }
                sink.stop(format_args!("corrupt: {msg}; stopped reading"));
                break;
            }};
        }
        macro_rules! short {
            ($what:expr, $need:expr) => {{
                let (what, need) = ($what, $need);
                if first {
                    let left = input.avail().len();
                    return Err(match input.error() {
                        Some(e) => format!("read error in the {what} at byte offset {offset}: {e}"),
                        None => format!(
                            "truncated: {what} at byte offset {offset} needs {need} bytes, only {left} left"
                        ),
                    });
                }
                sink.cut(input, what, need);
                break;
            }};
        }

        if !input.fill(8) {
            if input.avail().is_empty() && input.error().is_none() {
                break;
            }
            short!("block header", 8);
        }
        if input.avail().starts_with(&SHB_TYPE) {
            if !input.fill(12) {
                short!("section header block", 12);
            }
            endian = match Endian::Le.u32(input.avail(), 8) {
                BYTE_ORDER_MAGIC => Endian::Le,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => Endian::Be,
                m => corrupt!(
                    "section header block at byte offset {offset} has byte-order magic {m:#010x}"
                ),
            };
        }
        let e = endian;
        let btype = e.u32(input.avail(), 0);
        let len = e.u32(input.avail(), 4) as usize;
        let what = What { btype, number };
        if len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD_LEN {
            corrupt!("{what} at byte offset {offset} has invalid block length {len}");
        }
        if !input.fill(len) {
            short!(what, len);
        }
        let block = input.avail().get(..len).unwrap_or(&[]);
        let len2 = e.u32(block, len - 4);
        if len2 as usize != len {
            corrupt!(
                "{what} at byte offset {offset}: trailing block length {len2} differs from leading length {len}"
            );
        }

        match btype {
            SHB => {
                let shb = match parse_sectionheaderblock(block) {
                    Ok((_, shb)) => shb,
                    Err(err) => corrupt!("{what} at byte offset {offset} unreadable: {err:?}"),
                };
                if shb.major_version != 1 {
                    corrupt!(
                        "{what} at byte offset {offset} has unsupported pcapng version {}.{}",
                        shb.major_version,
                        shb.minor_version
                    );
                }
                sections.push(e);
                interfaces.clear();
            }
            IDB => {
                let parsed = match e {
                    Endian::Le => parse_interfacedescriptionblock_le(block),
                    Endian::Be => parse_interfacedescriptionblock_be(block),
                };
                let idb = match parsed {
                    Ok((_, idb)) => idb,
                    Err(err) => corrupt!("{what} at byte offset {offset} unreadable: {err:?}"),
                };
                let mut scale = TsScale::Mul(1000);
                let mut offset_secs: i64 = 0;
                for opt in &idb.options {
                    if opt.code == OptionCode::IfTsresol && opt.len >= 1 {
                        let r = opt.value().first().copied().unwrap_or(6);
                        match TsScale::from_tsresol(r) {
                            Some(s) => scale = s,
                            None => sink.warn(format_args!(
                                "interface {} at byte offset {offset}: unusable if_tsresol {r:#04x}, assuming microseconds",
                                interfaces.len()
                            )),
                        }
                    } else if opt.code == OptionCode::IfTsoffset
                        && opt.len >= 8
                        && let Some(b) = opt.value().first_chunk::<8>()
                    {
                        offset_secs = match e {
                            Endian::Le => i64::from_le_bytes(*b),
                            Endian::Be => i64::from_be_bytes(*b),
                        };
                    }
                }
                let link = LinkType(u32::from(e.u16(block, 8)));
                sink.link_type(link);
                interfaces.push(Interface {
                    link,
                    snaplen: idb.snaplen,
                    scale,
                    offset_ns: i128::from(offset_secs) * 1_000_000_000,
                });
            }
            EPB | PB => {
                if len < 32 {
                    corrupt!("{what} at byte offset {offset} is only {len} bytes long");
                }
                let if_id = if btype == EPB {
                    e.u32(block, 8)
                } else {
                    u32::from(e.u16(block, 8))
                };
                let units = (u64::from(e.u32(block, 12)) << 32) | u64::from(e.u32(block, 16));
                let caplen = e.u32(block, 20) as usize;
                let orig_len = e.u32(block, 24);
                if caplen > len - 32 {
                    corrupt!(
                        "{what} at byte offset {offset} claims caplen {caplen} in a {len}-byte block"
                    );
                }
                let Some(iface) = interfaces.get(if_id as usize) else {
                    corrupt!(
                        "{what} at byte offset {offset} names interface {if_id}, but its section has {}",
                        interfaces.len()
                    );
                };
                let data = block.get(28..28 + caplen).unwrap_or(&[]);
                sink.record(iface.ts(units), iface.link, data, orig_len, offset, true);
            }
            SPB => {
                if len < 16 {
                    corrupt!("{what} at byte offset {offset} is only {len} bytes long");
                }
                let Some(iface) = interfaces.first() else {
                    corrupt!(
                        "{what} at byte offset {offset} is a simple packet block, but its section has no interface"
                    );
                };
                let orig_len = e.u32(block, 8);
                let mut caplen = (orig_len as usize).min(len - 16);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                let data = block.get(12..12 + caplen).unwrap_or(&[]);
                // No timestamp in an SPB: 0, as libpcap (and so Zeek) reports it.
                sink.record(Timestamp(0), iface.link, data, orig_len, offset, false);
            }
            // NRB, ISB, custom, decryption secrets, ...: nothing a packet reader needs.
            _ => {}
        }
        input.consume(len);
    }
    Ok(format_name(&sections))
}

/// `pcapng (1 section, LE)`, `pcapng (3 sections, LE+BE+LE)`.
fn format_name(sections: &[Endian]) -> String {
    let n = sections.len();
    let plural = if n == 1 { "" } else { "s" };
    let orders = if sections.windows(2).all(|w| w.first() == w.get(1)) {
        sections.first().map_or("LE", |e| e.name()).to_string()
    } else if n <= MAX_LISTED_SECTIONS {
        sections
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join("+")
    } else {
        "mixed LE/BE".to_string()
    };
    format!("pcapng ({n} section{plural}, {orders})")
}
