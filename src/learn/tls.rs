//! TLS handshakes in clear text, one segment at a time: the client's
//! ClientHello (server name, the highest version offered), and what the
//! server answers before encryption starts (ServerHello version, the leaf
//! certificate's issuer in TLS 1.2 and older, alerts).
//!
//! Hand-written rather than `tls-parser` and `x509-parser`: a few fields of
//! three messages are needed, from single segments without reassembly, and
//! each is a handful of checked length fields. A message cut by the end of
//! the segment is read as far as it goes: the fields used come first
//! (ServerHello's version and extensions, the certificate's issuer within
//! its first hundred-odd bytes), so the usual first segment of a server's
//! flight holds them. A record that starts in an earlier segment is not read.
//! Wire formats: RFC 8446 4.1.2-4.1.3 (hellos), 4.2.1 (supported_versions),
//! 6 (alerts); RFC 5246 7.4.2 (Certificate); RFC 6066 3 (server_name);
//! RFC 5280 4.1 (the certificate's issuer).

use super::wire::{be16, be24, der_header, tlv};

/// Records read at most per segment, and handshake messages per record.
const MAX_RECORDS: usize = 32;

/// TLS record content types (RFC 8446 5.1).
pub mod content {
    /// `change_cipher_spec`.
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// `alert`.
    pub const ALERT: u8 = 21;
    /// `handshake`.
    pub const HANDSHAKE: u8 = 22;
    /// `application_data`.
    pub const APPLICATION_DATA: u8 = 23;
}

/// What a ClientHello says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// The host name of the server_name extension, as raw bytes (validate
    /// with [`super::wire::normalise_name`]).
    pub sni: Option<&'a [u8]>,
    /// The highest version offered: the largest of supported_versions
    /// (GREASE values left out) when the extension is there, else
    /// `legacy_version` (0x0301 TLS 1.0 ... 0x0304 TLS 1.3).
    pub max_version: u16,
}

/// The host name in a ClientHello's server_name extension.
pub fn client_hello_sni(p: &[u8]) -> Option<&[u8]> {
    client_hello(p)?.sni
}

/// True for the GREASE values of RFC 8701 (0x0a0a, 0x1a1a, ... 0xfafa).
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The ClientHello at the start of a client's first segment.
pub fn client_hello(p: &[u8]) -> Option<ClientHello<'_>> {
    // TLS record: type 22 (handshake), version 3.x, length.
    if *p.first()? != content::HANDSHAKE || *p.get(1)? != 3 {
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
    let legacy = be16(hs, 0)?;
    let mut hello = ClientHello {
        sni: None,
        max_version: legacy,
    };
    // client_version (2) + random (32), then session_id, cipher_suites, compression_methods.
    let mut at = 34;
    at += 1 + usize::from(*hs.get(at)?);
    at += 2 + usize::from(be16(hs, at)?);
    at += 1 + usize::from(*hs.get(at)?);
    let Some(ext_len) = be16(hs, at) else {
        // No extensions (SSL 3.0 style): legacy_version is all there is.
        return Some(hello);
    };
    let exts = hs.get(at + 2..)?;
    let exts = exts.get(..usize::from(ext_len)).unwrap_or(exts);
    let mut e = 0;
    while e + 4 <= exts.len() {
        let typ = be16(exts, e)?;
        let len = usize::from(be16(exts, e + 2)?);
        let Some(body) = exts.get(e + 4..e + 4 + len) else {
            break;
        };
        match typ {
            0 => hello.sni = server_name(body),
            43 => {
                // supported_versions: a 1-byte length, then versions.
                let list = body.get(1..1 + usize::from(*body.first()?))?;
                let best = list
                    .chunks_exact(2)
                    .map(|v| u16::from_be_bytes([v[0], v[1]]))
                    .filter(|&v| !grease(v))
                    .max();
                if let Some(v) = best {
                    hello.max_version = v;
                }
            }
            _ => {}
        }
        e += 4 + len;
    }
    Some(hello)
}

/// The host name of a server_name extension body: a list of (type,
/// length, name) entries, the first of type 0 (host_name).
fn server_name(body: &[u8]) -> Option<&[u8]> {
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
    None
}

/// The issuer of a certificate, as far as a diagnosis needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Issuer<'a> {
    /// The issuer's organization (`O=`), raw bytes of the string.
    pub organization: Option<&'a [u8]>,
    /// The issuer's common name (`CN=`), raw bytes of the string.
    pub common_name: Option<&'a [u8]>,
}

/// One thing a server (or a client, for alerts) said in clear text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A ServerHello and the version it chose (supported_versions when
    /// there, else `legacy_version`: 0x0304 means the rest is encrypted).
    ServerHello {
        /// The negotiated version.
        version: u16,
    },
    /// A Certificate message: the issuer of the first (the leaf)
    /// certificate, `None` when it could not be read from this segment.
    Certificate {
        /// The leaf's issuer.
        issuer: Option<Issuer<'a>>,
    },
    /// An unencrypted alert (a 2-byte record).
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert description (40 handshake_failure, 70 protocol_version...).
        description: u8,
    },
    /// A record of another type or an encrypted one (content type):
    /// `change_cipher_spec`, `application_data`, an encrypted alert.
    Other(u8),
}

/// Calls `f` with every message of the records that start at the
/// beginning of `p` and follow one another; stops at anything that is not a
/// TLS record header.
pub fn messages<'a>(p: &'a [u8], f: &mut impl FnMut(Message<'a>)) {
    let mut rest = p;
    for _ in 0..MAX_RECORDS {
        let (Some(&typ), Some(&3), Some(len)) = (rest.first(), rest.get(1), be16(rest, 3)) else {
            return;
        };
        if !(content::CHANGE_CIPHER_SPEC..=content::APPLICATION_DATA).contains(&typ) {
            return;
        }
        let len = usize::from(len);
        let body = rest.get(5..).unwrap_or_default();
        let body = body.get(..len).unwrap_or(body);
        match typ {
            content::ALERT if len == 2 => {
                if let (Some(&level), Some(&description)) = (body.first(), body.get(1)) {
                    f(Message::Alert { level, description });
                }
            }
            content::HANDSHAKE => handshake(body, f),
            _ => f(Message::Other(typ)),
        }
        match rest.get(5 + len..) {
            Some(r) if !r.is_empty() => rest = r,
            _ => return,
        }
    }
}

/// The handshake messages of one record's body.
fn handshake<'a>(mut body: &'a [u8], f: &mut impl FnMut(Message<'a>)) {
    for _ in 0..MAX_RECORDS {
        let (Some(&typ), Some(len)) = (body.first(), be24(body, 1)) else {
            return;
        };
        let msg = body.get(4..).unwrap_or_default();
        let msg = msg.get(..len).unwrap_or(msg);
        match typ {
            2 => {
                if let Some(version) = server_hello_version(msg) {
                    f(Message::ServerHello { version });
                }
            }
            11 => f(Message::Certificate {
                issuer: leaf_issuer(msg),
            }),
            _ => {}
        }
        match body.get(4 + len..) {
            Some(r) if !r.is_empty() => body = r,
            _ => return,
        }
    }
}

/// A ServerHello's negotiated version.
fn server_hello_version(hs: &[u8]) -> Option<u16> {
    let legacy = be16(hs, 0)?;
    // version (2) + random (32), session_id, cipher_suite (2), compression (1).
    let mut at = 34;
    at += 1 + usize::from(*hs.get(at)?);
    at += 3;
    let Some(ext_len) = be16(hs, at) else {
        return Some(legacy);
    };
    let exts = hs.get(at + 2..).unwrap_or_default();
    let exts = exts.get(..usize::from(ext_len)).unwrap_or(exts);
    let mut e = 0;
    while e + 4 <= exts.len() {
        let typ = be16(exts, e)?;
        let len = usize::from(be16(exts, e + 2)?);
        if typ == 43 && len == 2 {
            return be16(exts, e + 4);
        }
        e += 4 + len;
    }
    Some(legacy)
}

/// The issuer of the first certificate of a Certificate message (TLS 1.2:
/// a 3-byte list length, then 3-byte-length DER certificates).
fn leaf_issuer(msg: &[u8]) -> Option<Issuer<'_>> {
    let cert_len = be24(msg, 3)?;
    let cert = msg.get(6..)?;
    let cert = cert.get(..cert_len).unwrap_or(cert);
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
    // OPTIONAL, serialNumber, signature, issuer, ... } ...}: only the two
    // outer headers are read, their contents may run past the segment.
    let (tag, _, hl) = der_header(cert)?;
    if tag != 0x30 {
        return None;
    }
    let tbs = cert.get(hl..)?;
    let (tag, _, hl) = der_header(tbs)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = tbs.get(hl..)?;
    let (first, after) = tlv(rest)?;
    if first.tag == 0xa0 {
        rest = after;
    }
    let (serial, rest) = tlv(rest)?;
    let (sig, rest) = tlv(rest)?;
    let (name, _) = tlv(rest)?;
    if serial.tag != 0x02 || sig.tag != 0x30 || name.tag != 0x30 {
        return None;
    }
    Some(distinguished_name(name.value))
}

/// The O and CN of a Name (RFC 5280 4.1.2.4: a SEQUENCE of SETs of
/// (OID, string) pairs), the first of each.
fn distinguished_name(mut rdns: &[u8]) -> Issuer<'_> {
    const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
    const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
    let mut issuer = Issuer::default();
    for _ in 0..MAX_RECORDS {
        let Some((set, rest)) = tlv(rdns) else { break };
        rdns = rest;
        let mut attrs = set.value;
        while let Some((attr, rest)) = tlv(attrs) {
            attrs = rest;
            let Some((oid, rest)) = tlv(attr.value) else {
                continue;
            };
            let Some((value, _)) = tlv(rest) else {
                continue;
            };
            // Any string type: UTF8String, PrintableString, T61String, IA5String, BMPString.
            if oid.tag != 0x06 || !matches!(value.tag, 0x0c | 0x13 | 0x14 | 0x16 | 0x1e) {
                continue;
            }
            let slot = match oid.value {
                OID_O => &mut issuer.organization,
                OID_CN => &mut issuer.common_name,
                _ => continue,
            };
            slot.get_or_insert(value.value);
        }
    }
    issuer
}

/// `TLS 1.2`, `SSL 3.0`, or the number for anything else.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v => format!("version 0x{v:04x}"),
    }
}

/// The name of an alert description (RFC 8446 6, RFC 5246 7.2).
pub fn alert_name(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::payload::{
        CertSpec, client_hello, client_hello_versions, server_alert, server_hello_certificate,
    };

    fn all(p: &[u8]) -> Vec<Message<'_>> {
        let mut v = Vec::new();
        messages(p, &mut |m| v.push(m));
        v
    }

    #[test]
    fn client_hello_gives_the_name_and_the_best_version() {
        let h = client_hello("login.microsoftonline.com");
        let c = client_hello_sni(&h).map(<[u8]>::to_vec);
        assert_eq!(c.as_deref(), Some(&b"login.microsoftonline.com"[..]));
        assert_eq!(super::client_hello(&h).map(|c| c.max_version), Some(0x0303));
        // supported_versions wins over legacy_version, GREASE aside.
        let h = client_hello_versions("a.example", 0x0303, &[0x3a3a, 0x0304, 0x0303]);
        assert_eq!(super::client_hello(&h).map(|c| c.max_version), Some(0x0304));
        let h = client_hello_versions("a.example", 0x0301, &[]);
        assert_eq!(super::client_hello(&h).map(|c| c.max_version), Some(0x0301));
        let h = client_hello_versions("a.example", 0x0303, &[0x0302, 0x0301]);
        assert_eq!(super::client_hello(&h).map(|c| c.max_version), Some(0x0302));
    }

    #[test]
    fn grease_is_every_0x_a_a_pair() {
        assert!(grease(0x0a0a) && grease(0xfafa) && grease(0x5a5a));
        assert!(!grease(0x0304) && !grease(0x0a1a));
    }

    #[test]
    fn server_flight_gives_version_issuer_and_nothing_else() {
        let spec = CertSpec {
            issuer_org: "Zscaler Inc.",
            issuer_cn: "Zscaler Intermediate Root CA",
            subject_cn: "login.microsoftonline.com",
        };
        let flight = server_hello_certificate(0x0303, &spec);
        let m = all(&flight);
        assert_eq!(m.first(), Some(&Message::ServerHello { version: 0x0303 }));
        let issuer = m.iter().find_map(|m| match m {
            Message::Certificate { issuer } => *issuer,
            _ => None,
        });
        let issuer = issuer.expect("issuer read");
        assert_eq!(issuer.organization, Some(&b"Zscaler Inc."[..]));
        assert_eq!(
            issuer.common_name,
            Some(&b"Zscaler Intermediate Root CA"[..])
        );
        // Cut right after the issuer: still read. Cut inside it: not.
        let at = flight
            .windows(12)
            .position(|w| w == b"Zscaler Inte")
            .expect("CN in the bytes");
        let cut_after = &flight[..at + "Zscaler Intermediate Root CA".len() + 1];
        assert!(all(cut_after).iter().any(
            |m| matches!(m, Message::Certificate { issuer: Some(i) } if i.organization.is_some())
        ));
        let cut_inside = &flight[..at + 3];
        assert!(
            all(cut_inside)
                .iter()
                .all(|m| !matches!(m, Message::Certificate { issuer: Some(_) }))
        );
    }

    #[test]
    fn tls13_server_hello_names_tls13() {
        let spec = CertSpec {
            issuer_org: "Microsoft Corporation",
            issuer_cn: "Microsoft Azure RSA TLS Issuing CA 03",
            subject_cn: "x",
        };
        let flight = server_hello_certificate(0x0304, &spec);
        assert_eq!(
            all(&flight).first(),
            Some(&Message::ServerHello { version: 0x0304 })
        );
    }

    #[test]
    fn alerts_are_read_only_when_in_clear() {
        assert_eq!(
            all(&server_alert(2, 70)),
            vec![Message::Alert {
                level: 2,
                description: 70
            }]
        );
        // An encrypted alert is longer than two bytes.
        assert_eq!(all(&[21, 3, 3, 0, 3, 1, 2, 3]), vec![Message::Other(21)]);
        assert_eq!(alert_name(40), Some("handshake_failure"));
        assert_eq!(version_name(0x0302), "TLS 1.1");
    }

    #[test]
    fn not_tls_is_nothing() {
        assert!(all(b"GET / HTTP/1.1\r\n").is_empty());
        assert!(all(&[]).is_empty());
        assert!(client_hello_sni(b"\x16\x03").is_none());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = super::client_hello(&b);
            let mut n = 0;
            messages(&b, &mut |m| {
                n += 1;
                if let Message::Certificate { issuer: Some(i) } = m {
                    for s in [i.organization, i.common_name].into_iter().flatten() {
                        assert!(s.len() <= b.len());
                    }
                }
            });
            assert!(n <= MAX_RECORDS * MAX_RECORDS);
        }

        #[test]
        fn records_after_tls_prefix_are_bounded(b in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let mut p = vec![22, 3, 3];
            p.extend_from_slice(&b);
            let mut n = 0;
            messages(&p, &mut |_| n += 1);
            assert!(n <= MAX_RECORDS * MAX_RECORDS);
        }
    }
}
