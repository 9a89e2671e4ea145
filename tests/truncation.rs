//! Cutting real captures short: after each byte of the first 4 KiB and at every
//! record boundary, reading must keep every complete record before the cut,
//! warn (naming file and offset) when a record is cut, and never panic.
//! Record boundaries come from a walk over the file written here, independent
//! of the reader under test.

mod common;

use common::shared_captures;
use flowaudit::pipeline::{self, Options};
use flowaudit::read::Source;

/// Byte offsets where each packet record ends, and whether each block is a packet.
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let mut ends = Vec::new();
    if magic == 0x0a0d0d0a {
        // pcapng, little-endian sections only in the files used here.
        let mut off = 0;
        while off + 12 <= bytes.len() {
            let kind = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
            off += len;
            if matches!(kind, 2 | 3 | 6) {
                ends.push(off);
            }
        }
    } else {
        assert_eq!(magic, 0xa1b2c3d4, "test expects a little-endian usec pcap");
        let mut off = 24;
        while off + 16 <= bytes.len() {
            let caplen = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
            off += 16 + caplen;
            ends.push(off);
        }
    }
    ends
}

fn check_cuts(name: &str) {
    let bytes = std::fs::read(shared_captures().join(name)).expect("read capture");
    let ends = record_ends(&bytes);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cuts: Vec<usize> = (1..=4096.min(bytes.len())).collect();
    cuts.extend(ends.iter().copied());
    cuts.extend(ends.iter().map(|e| e - 1));
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        let path = dir.path().join(format!("cut-{cut}"));
        std::fs::write(&path, &bytes[..cut]).expect("write cut");
        let complete = ends.iter().filter(|&&e| e <= cut).count() as u64;
        let at_boundary =
            cut == bytes.len() || ends.contains(&cut) || cut == first_record_start(&bytes);
        let results = pipeline::run(
            &[Source::Path(path.clone())],
            &Options::default(),
            &mut |_| {},
        );
        match &results[0] {
            Ok(rep) => {
                assert_eq!(rep.info.packets, complete, "{name} cut at {cut}: packets");
                if !at_boundary && cut > first_record_start(&bytes) {
                    assert!(
                        rep.info.truncated,
                        "{name} cut at {cut}: not flagged truncated"
                    );
                    let w = rep.info.warnings.join("\n");
                    assert!(
                        w.contains(&path.display().to_string()) && w.contains("offset"),
                        "{name} cut at {cut}: warning must name file and offset: {w}"
                    );
                }
            }
            Err(e) => {
                // Only a cut inside the file header may be refused outright.
                assert!(
                    cut < first_record_start(&bytes),
                    "{name} cut at {cut}: error instead of partial result: {e}"
                );
                assert!(e.to_string().contains(&path.display().to_string()));
            }
        }
    }
}

/// Where the first packet record starts: after the pcap file header, or after
/// the pcapng section header and interface description blocks.
fn first_record_start(bytes: &[u8]) -> usize {
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    if magic != 0x0a0d0d0a {
        return 24;
    }
    let mut off = 0;
    loop {
        let kind = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
        if matches!(kind, 2 | 3 | 6) {
            return off;
        }
        off += u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
    }
}

#[test]
fn every_cut_of_a_pcap_keeps_what_was_read() {
    check_cuts("zeek/pop3.pcap");
}

#[test]
fn every_cut_of_a_pcapng_keeps_what_was_read() {
    check_cuts("zeek/missing_ldap_logs.pcapng");
}
