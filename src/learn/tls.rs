//! The server name (SNI) of a TLS ClientHello, from the first client segment.
//!
//! Hand-written rather than `tls-parser`: one extension of one message is
//! needed, from a single segment (a ClientHello split over segments is not
//! read), and the walk below is a handful of checked length fields.
//! Wire format: RFC 8446 4.1.2 (ClientHello), RFC 6066 3 (server_name).

use super::wire::{be16, be24};

/// The host name in the ClientHello's server_name extension, as raw bytes
/// (validate with [`super::wire::normalise_name`]).
pub fn client_hello_sni(p: &[u8]) -> Option<&[u8]> {
    // TLS record: type 22 (handshake), version 3.x, length.
    if *p.first()? != 22 || *p.get(1)? != 3 {
        return None;
    }
    let rec_len = usize::from(be16(p, 3)?);
    let rec = p.get(5..)?;
    let rec = rec.get(..rec_len).unwrap_or(rec);
    // Handshake: type 1 (ClientHello), 24-bit length.
    if *rec.first()? != 1 {
        return None;
    }
    let hs_len = be24(rec, 1)?;
    let hs = rec.get(4..)?;
    let hs = hs.get(..hs_len).unwrap_or(hs);
    // client_version (2) + random (32), then session_id, cipher_suites, compression_methods.
    let mut at = 34;
    at += 1 + usize::from(*hs.get(at)?);
    at += 2 + usize::from(be16(hs, at)?);
    at += 1 + usize::from(*hs.get(at)?);
    let ext_len = usize::from(be16(hs, at)?);
    let exts = hs.get(at + 2..)?;
    let exts = exts.get(..ext_len).unwrap_or(exts);
    let mut e = 0;
    while e + 4 <= exts.len() {
        let typ = be16(exts, e)?;
        let len = usize::from(be16(exts, e + 2)?);
        let body = exts.get(e + 4..e + 4 + len)?;
        if typ == 0 {
            // server_name_list: length, then entries of (type, length, name).
            let list_len = usize::from(be16(body, 0)?);
            let list = body.get(2..2 + list_len)?;
            let mut i = 0;
            while i + 3 <= list.len() {
                let name_type = *list.get(i)?;
                let nlen = usize::from(be16(list, i + 1)?);
                let name = list.get(i + 3..i + 3 + nlen)?;
                if name_type == 0 {
                    return Some(name);
                }
                i += 3 + nlen;
            }
            return None;
        }
        e += 4 + len;
    }
    None
}
