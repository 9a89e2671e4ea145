//! IEEE 802.11 data frames (`LINKTYPE_IEEE802_11`, 105) and the radiotap
//! header in front of them (`LINKTYPE_IEEE802_11_RADIOTAP`, 127), as Zeek's
//! `IEEE802_11` and `Radiotap` packet analyzers read them.
//!
//! Only data frames carry IP: management and control frames, data subtypes
//! without a body (null, CF-ACK/poll only) and encrypted (protected) frames
//! stop here with the reason named. The MAC header is 24 bytes, plus the
//! fourth address (6) when both To DS and From DS are set, plus QoS control
//! (2) in QoS subtypes; the body is LLC/SNAP with a zero OUI, then the
//! EtherType. A QoS frame whose A-MSDU bit is set holds several subframes
//! (a 14-byte header with the length, the LLC/SNAP body, padding to 4), each
//! its own packet, as Zeek forwards them one by one.
//!
//! Zeek's length checks are kept as they are: a frame exactly as long as its
//! MAC header is truncated (`>=`), and in a QoS frame the protected bit is
//! read after the QoS control byte is known to be there.

/// The first byte of a radiotap header is its version, then a pad byte, then
/// the header's length, little-endian (the bytes to skip to the 802.11 frame).
pub(crate) fn radiotap(d: &[u8]) -> Result<&[u8], &'static str> {
    if d.len() <= 3 {
        return Err("radiotap: truncated header");
    }
    let len = usize::from(u16::from_le_bytes([d[2], d[3]]));
    if len >= d.len() {
        return Err("radiotap: truncated header");
    }
    d.get(len..).ok_or("radiotap: truncated header")
}

/// Shortest MAC header of a data frame: frame control, duration, three addresses, sequence control.
const MAC_HEADER: usize = 24;
/// The fourth address of a frame between access points (To DS and From DS both set).
const ADDR4: usize = 6;
/// QoS control in QoS data subtypes.
const QOS_CONTROL: usize = 2;
/// An A-MSDU subframe header: destination, source, length.
const AMSDU_HEADER: usize = 14;

/// The body of a data frame: one LLC/SNAP payload, or A-MSDU subframes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body<'a> {
    /// One LLC/SNAP payload.
    Single(&'a [u8]),
    /// The subframes of an aggregate MSDU; walk them with [`Subframes`].
    Amsdu(Subframes<'a>),
}

/// The body of an 802.11 frame, or why it has none worth decoding.
pub(crate) fn frame(d: &[u8]) -> Result<Body<'_>, &'static str> {
    let mut len = MAC_HEADER;
    if len >= d.len() {
        return Err("ieee802_11: truncated header");
    }
    let fc = d[0];
    let flags = d[1];
    // Type is bits 2-3 (data = 2), subtype bits 4-7; Zeek tests bit 3 only,
    // so extension frames (type 3) go on as data frames too.
    if (fc >> 2) & 0x02 == 0 {
        return Err("ieee802_11: management or control frame");
    }
    // Subtypes with bit 2 set (null, QoS null, CF-ACK/poll only) carry no data.
    if (fc >> 4) & 0x04 != 0 {
        return Err("ieee802_11: data frame without a body");
    }
    if flags & 0x03 == 0x03 {
        len += ADDR4;
    }
    if len >= d.len() {
        return Err("ieee802_11: truncated header");
    }
    let mut amsdu = false;
    if (fc >> 4) & 0x08 != 0 {
        amsdu = d[len] & 0x80 != 0;
        if flags & 0x40 != 0 {
            return Err("ieee802_11: protected (encrypted) frame");
        }
        len += QOS_CONTROL;
    }
    let body = d.get(len..).filter(|b| !b.is_empty());
    let body = body.ok_or("ieee802_11: truncated header")?;
    Ok(if amsdu {
        Body::Amsdu(Subframes { rest: body })
    } else {
        Body::Single(body)
    })
}

/// The LLC/SNAP header of a body: `AA AA 03` and a zero OUI (encapsulated
/// Ethernet), then the EtherType. Returns the EtherType and what follows.
pub(crate) fn llc_snap(d: &[u8]) -> Result<(u16, &[u8]), &'static str> {
    if d.len() < 8 {
        return Err("ieee802_11: truncated LLC header");
    }
    // Anything else (no SNAP, another organisation, an encrypted body) is not
    // a protocol Zeek follows.
    if d[..6] != [0xAA, 0xAA, 0x03, 0, 0, 0] {
        return Err("ieee802_11: LLC frame not SNAP-encapsulated Ethernet");
    }
    Ok((u16::from_be_bytes([d[6], d[7]]), &d[8..]))
}

/// The subframes of an A-MSDU, each yielding its LLC/SNAP body; after an
/// error the walk ends (Zeek stops at the first bad subframe too, keeping
/// those before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Subframes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Subframes<'a> {
    type Item = Result<&'a [u8], &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let d = std::mem::take(&mut self.rest);
        if d.len() < AMSDU_HEADER {
            return Some(Err("ieee802_11: truncated A-MSDU subframe header"));
        }
        let len = usize::from(u16::from_be_bytes([d[12], d[13]]));
        let Some(body) = d.get(AMSDU_HEADER..AMSDU_HEADER + len) else {
            return Some(Err("ieee802_11: truncated A-MSDU subframe"));
        };
        let after = &d[AMSDU_HEADER + len..];
        // Padding to a multiple of 4 follows every subframe but the last; Zeek
        // skips `len % 4` bytes when there are that many.
        let pad = len % 4;
        self.rest = after.get(pad..).unwrap_or(after);
        Some(Ok(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A data frame's MAC header: frame control, flags, then zeros.
    fn header(fc: u8, flags: u8, len: usize) -> Vec<u8> {
        let mut h = vec![0u8; len];
        h[0] = fc;
        h[1] = flags;
        h
    }

    const SNAP_IPV4: [u8; 8] = [0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00];

    #[test]
    fn header_length_follows_the_ds_bits_and_qos() {
        // Data (0x08), QoS data (0x88); To DS and From DS both (0x03).
        for (fc, flags, len) in [
            (0x08, 0x00, 24),
            (0x08, 0x01, 24),
            (0x08, 0x02, 24),
            (0x08, 0x03, 30),
            (0x88, 0x01, 26),
            (0x88, 0x03, 32),
        ] {
            let mut f = header(fc, flags, len);
            f.extend_from_slice(&SNAP_IPV4);
            f.push(0x45);
            let Ok(Body::Single(body)) = frame(&f) else {
                panic!("{fc:#x} {flags:#x}: {:?}", frame(&f));
            };
            assert_eq!(body.len(), 9, "{fc:#x} {flags:#x}");
            assert_eq!(llc_snap(body), Ok((0x0800, &[0x45][..])));
        }
    }

    #[test]
    fn frames_without_ip_name_why() {
        let beacon = header(0x80, 0, 40);
        assert_eq!(
            frame(&beacon),
            Err("ieee802_11: management or control frame")
        );
        let null = header(0x48, 0x01, 30);
        assert_eq!(frame(&null), Err("ieee802_11: data frame without a body"));
        let protected = header(0x88, 0x41, 40);
        assert_eq!(
            frame(&protected),
            Err("ieee802_11: protected (encrypted) frame")
        );
        // Exactly the header: truncated, as Zeek's `>=`.
        assert_eq!(
            frame(&header(0x08, 0, 24)),
            Err("ieee802_11: truncated header")
        );
        assert_eq!(
            frame(&header(0x88, 0, 26)),
            Err("ieee802_11: truncated header")
        );
        let mut llc = header(0x08, 0, 24);
        llc.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]);
        let Ok(Body::Single(b)) = frame(&llc) else {
            panic!()
        };
        assert!(llc_snap(b).is_err());
    }

    #[test]
    fn amsdu_subframes_are_split_with_padding() {
        let mut f = header(0x88, 0x01, 26);
        f[24] = 0x80; // A-MSDU present
        for body in [&[1u8, 2, 3, 4, 5][..], &[6, 7, 8, 9, 10, 11, 12, 13]] {
            f.extend_from_slice(&[0; 12]);
            f.extend_from_slice(&(body.len() as u16).to_be_bytes());
            f.extend_from_slice(body);
            f.extend(std::iter::repeat_n(0xEE, body.len() % 4));
        }
        let Ok(Body::Amsdu(subs)) = frame(&f) else {
            panic!("{:?}", frame(&f))
        };
        let got: Vec<_> = subs.collect();
        assert_eq!(
            got,
            vec![
                Ok(&[1u8, 2, 3, 4, 5][..]),
                Ok(&[6, 7, 8, 9, 10, 11, 12, 13][..])
            ]
        );
        f.truncate(f.len() - 3);
        let Ok(Body::Amsdu(subs)) = frame(&f) else {
            panic!()
        };
        let got: Vec<_> = subs.collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Err("ieee802_11: truncated A-MSDU subframe"));
    }

    #[test]
    fn radiotap_skips_its_own_length() {
        let mut f = vec![0, 0, 8, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(radiotap(&f), Ok(&[0x08, 0x00][..]));
        assert!(radiotap(&f[..8]).is_err(), "nothing after the header");
        assert!(radiotap(&[0, 0, 8]).is_err());
    }

    proptest! {
        /// Any bytes: no panic, and every subframe lies inside the frame.
        #[test]
        fn total_on_any_bytes(d in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = radiotap(&d);
            if let Ok(Body::Amsdu(subs)) = frame(&d) {
                for s in subs.take(100).flatten() {
                    prop_assert!(s.len() <= d.len());
                    let _ = llc_snap(s);
                }
            } else if let Ok(Body::Single(b)) = frame(&d) {
                let _ = llc_snap(b);
            }
        }
    }
}
