//! Streaming pcap and pcapng writers over any [`std::io::Write`].
//!
//! Both write exactly what they are told, in the byte order they are told, so a
//! test can produce every header variant a reader must accept. Nothing is
//! buffered here: wrap a file in a [`std::io::BufWriter`] for speed.

use crate::read::LinkType;
use crate::time::Timestamp;
use std::io::{self, Write};

/// Snapshot length used when a caller does not care (tcpdump's default).
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Header settings of a classic pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapOptions {
    /// Write every field big-endian (magic `a1 b2 c3 d4` on disk) instead of little-endian.
    pub big_endian: bool,
    /// Nanosecond timestamps (magic `0xa1b23c4d`) instead of microseconds (`0xa1b2c3d4`).
    pub nanos: bool,
    /// Link type of every record.
    pub link: LinkType,
    /// Snapshot length in the header; longer packets are cut to it (0: no cut).
    pub snaplen: u32,
}

impl Default for PcapOptions {
    /// Little-endian, microseconds, Ethernet, snaplen 262144: what tcpdump writes.
    fn default() -> Self {
        PcapOptions {
            big_endian: false,
            nanos: false,
            link: LinkType::ETHERNET,
            snaplen: DEFAULT_SNAPLEN,
        }
    }
}

/// Writes `v` in the chosen byte order.
fn u16b(big: bool, v: u16) -> [u8; 2] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// Writes `v` in the chosen byte order.
fn u32b(big: bool, v: u32) -> [u8; 4] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// How many captured bytes a snaplen lets through (0 means unlimited).
fn cut(data: &[u8], snaplen: u32) -> &[u8] {
    if snaplen == 0 {
        return data;
    }
    data.get(..snaplen as usize).unwrap_or(data)
}

/// A classic pcap writer: the file header is written by [`PcapWriter::new`].
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    /// Destination of the bytes.
    w: W,
    /// Header settings, also deciding record byte order and time unit.
    opts: PcapOptions,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte file header and returns the writer.
    pub fn new(mut w: W, opts: PcapOptions) -> io::Result<Self> {
        let b = opts.big_endian;
        let magic: u32 = if opts.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&u32b(b, magic));
        h[4..6].copy_from_slice(&u16b(b, 2));
        h[6..8].copy_from_slice(&u16b(b, 4));
        // thiszone (8..12) and sigfigs (12..16) stay 0, as every modern tool writes.
        h[16..20].copy_from_slice(&u32b(b, opts.snaplen));
        h[20..24].copy_from_slice(&u32b(b, opts.link.0));
        w.write_all(&h)?;
        Ok(PcapWriter { w, opts })
    }

    /// Writes one record; `orig_len` defaults to `data.len()`, data longer than snaplen is cut.
    ///
    /// Timestamps before 1970 or after 2106 wrap in the 32-bit seconds field, as
    /// they would in a real file.
    pub fn write_packet(
        &mut self,
        ts: Timestamp,
        data: &[u8],
        orig_len: Option<u32>,
    ) -> io::Result<()> {
        let b = self.opts.big_endian;
        let secs = ts.0.div_euclid(1_000_000_000) as u32;
        let ns = ts.0.rem_euclid(1_000_000_000) as u32;
        let frac = if self.opts.nanos { ns } else { ns / 1000 };
        let cap = cut(data, self.opts.snaplen);
        let orig = orig_len.unwrap_or(data.len() as u32);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&u32b(b, secs));
        h[4..8].copy_from_slice(&u32b(b, frac));
        h[8..12].copy_from_slice(&u32b(b, cap.len() as u32));
        h[12..16].copy_from_slice(&u32b(b, orig));
        self.w.write_all(&h)?;
        self.w.write_all(cap)
    }

    /// The header settings this writer uses.
    pub fn options(&self) -> PcapOptions {
        self.opts
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Timestamp resolution of a pcapng interface (`if_tsresol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsResol {
    /// Units of 10^-n seconds (6: microseconds, the pcapng default; 9: nanoseconds).
    Decimal(u8),
    /// Units of 2^-n seconds (written with the high bit set).
    Binary(u8),
}

impl TsResol {
    /// The `if_tsresol` option byte.
    pub fn code(self) -> u8 {
        match self {
            TsResol::Decimal(n) => n & 0x7f,
            TsResol::Binary(n) => 0x80 | (n & 0x7f),
        }
    }

    /// Converts nanoseconds since the epoch into this resolution's units, rounding down.
    ///
    /// Negative times wrap into the unsigned 64-bit field; exponents too large to
    /// represent saturate.
    pub fn units(self, ts: Timestamp) -> u64 {
        let ns = ts.0 as i128;
        let v: i128 = match self {
            TsResol::Decimal(n) => {
                let n = u32::from(n & 0x7f);
                if n <= 9 {
                    ns.div_euclid(10i128.pow(9 - n))
                } else {
                    ns.saturating_mul(10i128.saturating_pow(n - 9))
                }
            }
            TsResol::Binary(n) => {
                let n = u32::from(n & 0x7f).min(100);
                ns.saturating_mul(1i128 << n).div_euclid(1_000_000_000)
            }
        };
        v as u64
    }
}

/// Block type of the Section Header Block (also its byte-order-independent magic).
const SHB: u32 = 0x0A0D_0D0A;
/// Byte-order magic inside the SHB.
const BOM: u32 = 0x1A2B_3C4D;
/// Interface Description Block.
const IDB: u32 = 1;
/// Obsolete Packet Block.
const OPB: u32 = 2;
/// Simple Packet Block.
const SPB: u32 = 3;
/// Enhanced Packet Block.
const EPB: u32 = 6;
/// Custom Block that may be copied to new files.
const CB_COPY: u32 = 0x0000_0BAD;
/// Custom Block that must not be copied.
const CB_NOCOPY: u32 = 0x4000_0BAD;

/// Zero bytes to pad a block body to a multiple of 4.
const PAD: [u8; 4] = [0; 4];

/// Bytes needed to pad `n` to a multiple of 4.
fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// A pcapng writer: sections, interfaces and packet blocks, in either byte order.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    /// Destination of the bytes.
    w: W,
    /// Byte order of the current section.
    big: bool,
    /// Resolution and snaplen of each interface of the current section, by id.
    ifaces: Vec<(TsResol, u32)>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes a Section Header Block (length unknown, no options) and returns the writer.
    pub fn new(w: W, big_endian: bool) -> io::Result<Self> {
        let mut s = PcapNgWriter {
            w,
            big: big_endian,
            ifaces: Vec::new(),
        };
        s.add_section(big_endian)?;
        Ok(s)
    }

    /// Starts a new section in the given byte order; interface ids restart at 0.
    pub fn add_section(&mut self, big_endian: bool) -> io::Result<()> {
        self.big = big_endian;
        self.ifaces.clear();
        let b = self.big;
        let mut body = [0u8; 16];
        body[0..4].copy_from_slice(&u32b(b, BOM));
        body[4..6].copy_from_slice(&u16b(b, 1));
        body[6..8].copy_from_slice(&u16b(b, 0));
        // Section length -1: "not specified", the only honest value for a stream.
        body[8..16].copy_from_slice(&[0xff; 8]);
        self.block(SHB, &[&body])
    }

    /// Writes an Interface Description Block and returns its interface id.
    ///
    /// The IDB's link type field has 16 bits; larger values are truncated.
    ///
    /// The `if_tsresol` option is written only when it differs from the default
    /// `Decimal(6)`, as capture tools do.
    pub fn add_interface(
        &mut self,
        link: LinkType,
        tsresol: TsResol,
        snaplen: u32,
    ) -> io::Result<u32> {
        let b = self.big;
        let mut fixed = [0u8; 8];
        fixed[0..2].copy_from_slice(&u16b(b, link.0 as u16));
        fixed[4..8].copy_from_slice(&u32b(b, snaplen));
        let mut opts = [0u8; 12];
        opts[0..2].copy_from_slice(&u16b(b, 9));
        opts[2..4].copy_from_slice(&u16b(b, 1));
        opts[4] = tsresol.code();
        // opts[5..8] pad the 1-byte value; opts[8..12] is opt_endofopt.
        if tsresol == TsResol::Decimal(6) {
            self.block(IDB, &[&fixed])?;
        } else {
            self.block(IDB, &[&fixed, &opts])?;
        }
        self.ifaces.push((tsresol, snaplen));
        Ok(self.ifaces.len() as u32 - 1)
    }

    /// Resolution and snaplen of interface `if_id`, or the defaults for an unknown id.
    fn iface(&self, if_id: u32) -> (TsResol, u32) {
        self.ifaces
            .get(if_id as usize)
            .copied()
            .unwrap_or((TsResol::Decimal(6), 0))
    }

    /// Writes an Enhanced Packet Block; data is cut to the interface's snaplen.
    ///
    /// `orig_len` defaults to `data.len()`. An `if_id` that was never added is
    /// written as given (with microsecond units), so tests can build dangling references.
    pub fn write_epb(
        &mut self,
        if_id: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: Option<u32>,
    ) -> io::Result<()> {
        let b = self.big;
        let (res, snap) = self.iface(if_id);
        let cap = cut(data, snap);
        let units = res.units(ts);
        let mut fixed = [0u8; 20];
        fixed[0..4].copy_from_slice(&u32b(b, if_id));
        fixed[4..8].copy_from_slice(&u32b(b, (units >> 32) as u32));
        fixed[8..12].copy_from_slice(&u32b(b, units as u32));
        fixed[12..16].copy_from_slice(&u32b(b, cap.len() as u32));
        fixed[16..20].copy_from_slice(&u32b(b, orig_len.unwrap_or(data.len() as u32)));
        self.block(EPB, &[&fixed, cap])
    }

    /// Writes a Simple Packet Block (interface 0, no timestamp); data is cut to interface 0's snaplen.
    pub fn write_spb(&mut self, data: &[u8], orig_len: Option<u32>) -> io::Result<()> {
        let (_, snap) = self.iface(0);
        let cap = cut(data, snap);
        let orig = u32b(self.big, orig_len.unwrap_or(data.len() as u32));
        self.block(SPB, &[&orig, cap])
    }

    /// Writes an obsolete Packet Block (type 2) with a zero drops count.
    pub fn write_obsolete_pb(
        &mut self,
        if_id: u16,
        ts: Timestamp,
        data: &[u8],
        orig_len: Option<u32>,
    ) -> io::Result<()> {
        let b = self.big;
        let (res, snap) = self.iface(u32::from(if_id));
        let cap = cut(data, snap);
        let units = res.units(ts);
        let mut fixed = [0u8; 20];
        fixed[0..2].copy_from_slice(&u16b(b, if_id));
        fixed[4..8].copy_from_slice(&u32b(b, (units >> 32) as u32));
        fixed[8..12].copy_from_slice(&u32b(b, units as u32));
        fixed[12..16].copy_from_slice(&u32b(b, cap.len() as u32));
        fixed[16..20].copy_from_slice(&u32b(b, orig_len.unwrap_or(data.len() as u32)));
        self.block(OPB, &[&fixed, cap])
    }

    /// Writes a Custom Block (`0x00000BAD` when `copyable`, else `0x40000BAD`) for enterprise `pen`.
    pub fn write_custom(&mut self, pen: u32, data: &[u8], copyable: bool) -> io::Result<()> {
        let t = if copyable { CB_COPY } else { CB_NOCOPY };
        let pen = u32b(self.big, pen);
        self.block(t, &[&pen, data])
    }

    /// Writes a block of any type with the given body (padded to 4 bytes), for unknown-block tests.
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.block(block_type, &[body])
    }

    /// Writes type, total length, the body parts, padding and the trailing length.
    fn block(&mut self, block_type: u32, parts: &[&[u8]]) -> io::Result<()> {
        let b = self.big;
        let body: usize = parts.iter().map(|p| p.len()).sum();
        let total = (12 + body + pad4(body)) as u32;
        let mut head = [0u8; 8];
        head[0..4].copy_from_slice(&u32b(b, block_type));
        head[4..8].copy_from_slice(&u32b(b, total));
        self.w.write_all(&head)?;
        for p in parts {
            self.w.write_all(p)?;
        }
        self.w.write_all(&PAD[..pad4(body)])?;
        self.w.write_all(&u32b(b, total))
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
    use pcap_parser::pcapng::Block;
    use pcap_parser::{PcapBlockOwned, PcapNGSlice};

    /// 2009-02-13T23:31:30.123456789Z, a timestamp with all nine digits distinct from zero.
    const TS: Timestamp = Timestamp(1_234_567_890_123_456_789);

    #[test]
    fn pcap_headers_and_records_all_variants() {
        for big in [false, true] {
            for nanos in [false, true] {
                let opts = PcapOptions {
                    big_endian: big,
                    nanos,
                    link: LinkType::RAW,
                    snaplen: 100,
                };
                let mut w = PcapWriter::new(Vec::new(), opts).unwrap();
                w.write_packet(TS, &[0x45; 40], None).unwrap();
                w.write_packet(Timestamp(TS.0 + 1_000), &[7; 150], Some(1500))
                    .unwrap();
                let bytes = w.into_inner().unwrap();

                let (mut rem, hdr) = parse_pcap_header(&bytes).unwrap();
                assert_eq!(hdr.is_bigendian(), big);
                assert_eq!(hdr.is_nanosecond_precision(), nanos);
                assert_eq!((hdr.version_major, hdr.version_minor), (2, 4));
                assert_eq!(hdr.snaplen, 100);
                assert_eq!(hdr.network.0, 101);
                let mut recs = Vec::new();
                while !rem.is_empty() {
                    let (r, rec) = if big {
                        parse_pcap_frame_be(rem)
                    } else {
                        parse_pcap_frame(rem)
                    }
                    .unwrap();
                    recs.push((
                        rec.ts_sec,
                        rec.ts_usec,
                        rec.caplen,
                        rec.origlen,
                        rec.data.len(),
                    ));
                    rem = r;
                }
                let f0 = if nanos { 123_456_789 } else { 123_456 };
                let f1 = if nanos { 123_457_789 } else { 123_457 };
                assert_eq!(
                    recs,
                    vec![
                        (1_234_567_890, f0, 40, 40, 40),
                        (1_234_567_890, f1, 100, 1500, 100)
                    ]
                );
            }
        }
    }

    #[test]
    fn pcap_magic_bytes_on_disk() {
        let on_disk = |big, nanos| {
            let o = PcapOptions {
                big_endian: big,
                nanos,
                ..PcapOptions::default()
            };
            PcapWriter::new(Vec::new(), o)
                .unwrap()
                .into_inner()
                .unwrap()[..4]
                .to_vec()
        };
        // Magic numbers from the pcap file format draft (draft-ietf-opsawg-pcap).
        assert_eq!(on_disk(false, false), [0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(on_disk(true, false), [0xa1, 0xb2, 0xc3, 0xd4]);
        assert_eq!(on_disk(false, true), [0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(on_disk(true, true), [0xa1, 0xb2, 0x3c, 0x4d]);
    }

    /// One EPB as pcap-parser decodes it: (if_id, seconds, fraction, resolution, caplen, origlen).
    type NgPacket = (u32, u32, u32, u64, u32, u32);

    /// Parses a pcapng byte string with pcap-parser and returns (if_tsresol codes, packets as
    /// (if_id, seconds, fraction, resolution, caplen, origlen)).
    fn parse_ng(bytes: &[u8]) -> (Vec<u8>, Vec<NgPacket>) {
        let mut res = Vec::new();
        let mut ifs: Vec<(u8, u64)> = Vec::new();
        let mut pkts = Vec::new();
        for b in PcapNGSlice::from_slice(bytes).unwrap() {
            match b.unwrap() {
                PcapBlockOwned::NG(Block::SectionHeader(_)) => ifs.clear(),
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    res.push(idb.if_tsresol);
                    // pcap-parser 0.17's ts_resolution() rejects binary codes (it compares the
                    // byte with the high bit still set), so apply the spec's rule here.
                    let r = idb.if_tsresol;
                    let units = if r & 0x80 == 0 {
                        10u64.pow(u32::from(r))
                    } else {
                        1u64 << (r & 0x7f)
                    };
                    ifs.push((r, units));
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    let r = ifs[epb.if_id as usize].1;
                    let (s, f) = epb.decode_ts(0, r);
                    pkts.push((epb.if_id, s, f, r, epb.caplen, epb.origlen));
                }
                _ => {}
            }
        }
        (res, pkts)
    }

    #[test]
    fn pcapng_every_tsresol_both_byte_orders() {
        let cases = [
            (TsResol::Decimal(6), 6u8, 123_456u32),
            (TsResol::Decimal(9), 9, 123_456_789),
            (TsResol::Decimal(3), 3, 123),
            (TsResol::Decimal(0), 0, 0),
            // 0.123456789 s in 2^-20 units: floor(0.123456789 * 1048576) = 129453.
            (TsResol::Binary(20), 0x80 | 20, 129_453),
            // floor(0.123456789 * 2^30) = 132560717 (python: 123456789 * 2**30 // 10**9).
            (TsResol::Binary(30), 0x80 | 30, 132_560_717),
        ];
        for big in [false, true] {
            let mut w = PcapNgWriter::new(Vec::new(), big).unwrap();
            for (r, _, _) in cases {
                w.add_interface(LinkType::ETHERNET, r, 0).unwrap();
            }
            for i in 0..cases.len() as u32 {
                w.write_epb(i, TS, &[1, 2, 3], None).unwrap();
            }
            let bytes = w.into_inner().unwrap();
            let (codes, pkts) = parse_ng(&bytes);
            assert_eq!(codes, cases.iter().map(|c| c.1).collect::<Vec<_>>());
            for (i, (_, _, frac)) in cases.iter().enumerate() {
                assert_eq!(pkts[i].0, i as u32);
                assert_eq!(pkts[i].1, 1_234_567_890, "seconds for case {i} big={big}");
                assert_eq!(pkts[i].2, *frac, "fraction for case {i} big={big}");
                assert_eq!((pkts[i].4, pkts[i].5), (3, 3));
            }
        }
    }

    #[test]
    fn pcapng_sections_switch_byte_order_and_reset_interfaces() {
        let mut w = PcapNgWriter::new(Vec::new(), false).unwrap();
        assert_eq!(
            w.add_interface(LinkType::ETHERNET, TsResol::Decimal(6), 64)
                .unwrap(),
            0
        );
        assert_eq!(
            w.add_interface(LinkType::RAW, TsResol::Decimal(9), 0)
                .unwrap(),
            1
        );
        w.write_epb(0, TS, &[9; 100], None).unwrap();
        w.add_section(true).unwrap();
        assert_eq!(
            w.add_interface(LinkType::LINUX_SLL, TsResol::Decimal(9), 0)
                .unwrap(),
            0
        );
        w.write_epb(0, TS, &[9; 5], Some(60)).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut kinds = Vec::new();
        for b in PcapNGSlice::from_slice(&bytes).unwrap() {
            match b.unwrap() {
                PcapBlockOwned::NG(Block::SectionHeader(shb)) => kinds.push(format!(
                    "shb be={} len={}",
                    shb.big_endian(),
                    shb.section_len
                )),
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    kinds.push(format!("idb {} snap={}", idb.linktype.0, idb.snaplen))
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    kinds.push(format!("epb {} {}/{}", epb.if_id, epb.caplen, epb.origlen))
                }
                _ => panic!("unexpected block"),
            }
        }
        assert_eq!(
            kinds,
            [
                "shb be=false len=-1",
                "idb 1 snap=64",
                "idb 101 snap=0",
                "epb 0 64/100",
                "shb be=true len=-1",
                "idb 113 snap=0",
                "epb 0 5/60"
            ]
        );
        let (_, pkts) = parse_ng(&bytes);
        assert_eq!((pkts[1].1, pkts[1].2), (1_234_567_890, 123_456_789));
    }

    /// The pcapng block inside pcap-parser's wrapper.
    fn ng(b: PcapBlockOwned<'_>) -> Block<'_> {
        match b {
            PcapBlockOwned::NG(b) => b,
            _ => panic!("not a pcapng block"),
        }
    }

    #[test]
    fn pcapng_spb_custom_unknown_and_obsolete_blocks() {
        for big in [false, true] {
            let mut w = PcapNgWriter::new(Vec::new(), big).unwrap();
            w.add_interface(LinkType::ETHERNET, TsResol::Decimal(6), 4)
                .unwrap();
            w.write_spb(&[1, 2, 3, 4, 5, 6], None).unwrap();
            w.write_custom(32473, b"hello", true).unwrap();
            w.write_custom(32473, b"x", false).unwrap();
            w.write_block(0x0000_0777, &[0xAB; 7]).unwrap();
            w.write_obsolete_pb(0, TS, &[1, 2, 3], Some(9)).unwrap();
            let bytes = w.into_inner().unwrap();
            let blocks: Vec<Block> = PcapNGSlice::from_slice(&bytes)
                .unwrap()
                .map(|b| ng(b.unwrap()))
                .collect();
            assert_eq!(blocks.len(), 7);
            match &blocks[2] {
                Block::SimplePacket(spb) => {
                    assert_eq!(spb.origlen, 6);
                    // Cut to the interface snaplen of 4: the block holds 4 data bytes, no padding needed.
                    assert_eq!(spb.data, &[1, 2, 3, 4]);
                }
                other => panic!("expected SPB, got {other:?}"),
            }
            match &blocks[3] {
                Block::Custom(cb) => {
                    assert_eq!(cb.pen, 32473);
                    assert!(!cb.do_not_copy());
                    assert_eq!(&cb.data[..5], b"hello");
                }
                other => panic!("expected custom block, got {other:?}"),
            }
            match &blocks[4] {
                Block::Custom(cb) => assert!(cb.do_not_copy()),
                other => panic!("expected DCB custom block, got {other:?}"),
            }
            match &blocks[5] {
                Block::Unknown(u) => {
                    assert_eq!(u.block_len1, 12 + 8);
                    assert_eq!(&u.data[..7], &[0xAB; 7]);
                }
                other => panic!("expected unknown block, got {other:?}"),
            }
            // pcap-parser does not decode the obsolete Packet Block; check its fields against the
            // layout in the pcapng specification (appendix "Packet Block (obsolete)").
            match &blocks[6] {
                Block::Unknown(u) => {
                    assert_eq!(u.block_len1, 12 + 20 + 4);
                    let rd = |o: usize| {
                        let a = [u.data[o], u.data[o + 1], u.data[o + 2], u.data[o + 3]];
                        if big {
                            u32::from_be_bytes(a)
                        } else {
                            u32::from_le_bytes(a)
                        }
                    };
                    let units = (u64::from(rd(4)) << 32) | u64::from(rd(8));
                    assert_eq!(units, 1_234_567_890_123_456);
                    assert_eq!((rd(12), rd(16)), (3, 9));
                    assert_eq!(&u.data[20..23], &[1, 2, 3]);
                }
                other => panic!("expected obsolete packet block, got {other:?}"),
            }
        }
    }

    /// A writer that only counts bytes, standing in for a multi-gigabyte file.
    struct Counter(u64);

    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn streams_to_any_writer_with_spec_sizes() {
        let lens = (0..10_000u64).map(|i| (i * 37) % 1500);
        let mut w = PcapWriter::new(Counter(0), PcapOptions::default()).unwrap();
        let mut ng = PcapNgWriter::new(Counter(0), false).unwrap();
        ng.add_interface(LinkType::ETHERNET, TsResol::Decimal(9), 0)
            .unwrap();
        let buf = vec![0u8; 1500];
        for (i, l) in lens.clone().enumerate() {
            w.write_packet(Timestamp(i as i64), &buf[..l as usize], None)
                .unwrap();
            ng.write_epb(0, Timestamp(i as i64), &buf[..l as usize], None)
                .unwrap();
        }
        // pcap: 24-byte file header, 16-byte record headers. pcapng: SHB 28, IDB 20 + 12 for
        // the if_tsresol option, EPB 32 + data padded to 4.
        let pcap_size: u64 = 24 + lens.clone().map(|l| 16 + l).sum::<u64>();
        let ng_size: u64 = 28 + 32 + lens.map(|l| 32 + l.div_ceil(4) * 4).sum::<u64>();
        assert_eq!(w.into_inner().unwrap().0, pcap_size);
        assert_eq!(ng.into_inner().unwrap().0, ng_size);
    }

    #[test]
    fn negative_and_huge_timestamps_do_not_panic() {
        for r in [
            TsResol::Decimal(19),
            TsResol::Decimal(127),
            TsResol::Binary(127),
            TsResol::Binary(0),
        ] {
            let _ = r.units(Timestamp(i64::MIN));
            let _ = r.units(Timestamp(i64::MAX));
        }
        // One nanosecond before the epoch is the last microsecond of 1969.
        assert_eq!(TsResol::Decimal(6).units(Timestamp(-1)), (-1i64) as u64);
        let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
        w.write_packet(Timestamp(-1), &[], None).unwrap();
        let bytes = w.into_inner().unwrap();
        let (_, rec) = parse_pcap_frame(&bytes[24..]).unwrap();
        assert_eq!((rec.ts_sec, rec.ts_usec), (u32::MAX, 999_999));
    }
}
