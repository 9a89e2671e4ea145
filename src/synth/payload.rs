//! Application payloads for scripted sessions: DNS responses, TLS
//! ClientHellos, HTTP requests and DCE-RPC endpoint-mapper responses, built
//! byte by byte from their specifications so tests of the parsers in
//! [`crate::learn`] have an independent ground truth.

use crate::time::Timestamp;
use std::net::{IpAddr, Ipv4Addr};

/// What a DNS answer record holds.
#[derive(Clone, Debug)]
pub enum Rdata<'a> {
    /// An A or AAAA record.
    Addr(IpAddr),
    /// A CNAME record pointing at this name.
    Cname(&'a str),
}

/// A name in DNS wire format (labels, no compression).
fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// A DNS response (RFC 1035 4.1) to an A query for `qname` with `answers`
/// (owner, data), TTL 300, no compression except that an owner equal to
/// `qname` is written as a pointer to the question (as servers do).
pub fn dns_response(id: u16, qname: &str, answers: &[(&str, Rdata<'_>)]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x8180u16.to_be_bytes()); // QR, RD, RA, rcode 0
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    dns_name(&mut m, qname);
    m.extend_from_slice(&[0, 1, 0, 1]);
    for (owner, data) in answers {
        if owner.eq_ignore_ascii_case(qname) {
            m.extend_from_slice(&[0xc0, 12]);
        } else {
            dns_name(&mut m, owner);
        }
        let (rtype, rdata) = match data {
            Rdata::Addr(IpAddr::V4(a)) => (1u16, a.octets().to_vec()),
            Rdata::Addr(IpAddr::V6(a)) => (28, a.octets().to_vec()),
            Rdata::Cname(t) => {
                let mut v = Vec::new();
                dns_name(&mut v, t);
                (5, v)
            }
        };
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
    }
    m
}

/// `msg` with the 2-byte length prefix of DNS over TCP (RFC 1035 4.2.2).
pub fn dns_over_tcp(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

/// A TLS 1.2-style ClientHello record with a server_name extension for `sni`
/// (RFC 8446 4.1.2, RFC 6066 3), preceded by a supported_groups extension so
/// the parser has to walk past another extension.
pub fn client_hello(sni: &str) -> Vec<u8> {
    client_hello_versions(sni, 0x0303, &[])
}

/// A ClientHello with `legacy_version` and, unless `versions` is empty, a
/// supported_versions extension listing them (RFC 8446 4.2.1) after the
/// server_name: a client offering only TLS 1.0 and 1.1 sends `0x0302` and
/// `[0x0302, 0x0301]`, or `0x0301` and no extension.
pub fn client_hello_versions(sni: &str, legacy_version: u16, versions: &[u16]) -> Vec<u8> {
    let mut body = legacy_version.to_be_bytes().to_vec();
    body.extend((0..32).map(|i| i as u8)); // random
    body.push(32); // session id
    body.extend([0x5a; 32]);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]); // two cipher suites
    body.extend_from_slice(&[1, 0]); // null compression
    let mut exts = Vec::new();
    exts.extend_from_slice(&[0x00, 0x0a, 0, 4, 0, 2, 0, 0x1d]); // supported_groups: x25519
    let name = sni.as_bytes();
    let list_len = 3 + name.len();
    exts.extend_from_slice(&[0, 0]);
    exts.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    exts.extend_from_slice(&(list_len as u16).to_be_bytes());
    exts.push(0);
    exts.extend_from_slice(&(name.len() as u16).to_be_bytes());
    exts.extend_from_slice(name);
    if !versions.is_empty() {
        exts.extend_from_slice(&[0, 43]);
        exts.extend_from_slice(&((1 + 2 * versions.len()) as u16).to_be_bytes());
        exts.push((2 * versions.len()) as u8);
        for v in versions {
            exts.extend_from_slice(&v.to_be_bytes());
        }
    }
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    record(22, 0x0301, &handshake(1, &body))
}

/// A TLS record (RFC 8446 5.1).
fn record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut rec = vec![content_type];
    rec.extend_from_slice(&version.to_be_bytes());
    rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
    rec.extend_from_slice(body);
    rec
}

/// A handshake message: type, 24-bit length, body.
fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![typ];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(body);
    hs
}

/// What a synthetic server certificate says.
#[derive(Clone, Copy, Debug)]
pub struct CertSpec<'a> {
    /// The issuer's organization (`O=`).
    pub issuer_org: &'a str,
    /// The issuer's common name (`CN=`).
    pub issuer_cn: &'a str,
    /// The subject's common name and only DNS name.
    pub subject_cn: &'a str,
}

/// An X.509 v3 certificate (RFC 5280 4.1) with `spec`'s names, a 2048-bit
/// RSA key and signature of filler bytes: well-formed for a dissector,
/// verifiable by nobody.
pub fn certificate(spec: &CertSpec<'_>) -> Vec<u8> {
    let oid = |b: &[u8]| der(0x06, b);
    let sha256_rsa = der(
        0x30,
        &[
            oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]),
            vec![5, 0],
        ]
        .concat(),
    );
    let attr = |o: u8, tag: u8, v: &str| {
        der(
            0x31,
            &der(0x30, &[oid(&[0x55, 4, o]), der(tag, v.as_bytes())].concat()),
        )
    };
    let issuer = der(
        0x30,
        &[
            attr(6, 0x13, "US"),
            attr(10, 0x13, spec.issuer_org),
            attr(3, 0x13, spec.issuer_cn),
        ]
        .concat(),
    );
    let subject = der(0x30, &attr(3, 0x0c, spec.subject_cn));
    let validity = der(
        0x30,
        &[der(0x17, b"260101000000Z"), der(0x17, b"270101000000Z")].concat(),
    );
    let mut modulus = vec![0, 0xc3];
    modulus.extend((0..255).map(|i| (i * 7 + 1) as u8));
    let rsa_key = der(0x30, &[der(0x02, &modulus), der(0x02, &[1, 0, 1])].concat());
    let spki = der(
        0x30,
        &[
            der(
                0x30,
                &[
                    oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1]),
                    vec![5, 0],
                ]
                .concat(),
            ),
            der(0x03, &[&[0u8][..], &rsa_key].concat()),
        ]
        .concat(),
    );
    // subjectAltName: dNSName = subject_cn.
    let san = der(
        0x30,
        &[
            oid(&[0x55, 29, 17]),
            der(0x04, &der(0x30, &der(0x82, spec.subject_cn.as_bytes()))),
        ]
        .concat(),
    );
    let extensions = der(0xa3, &der(0x30, &san));
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[0x33, 0x00, 0x1f, 0x42, 0x7a, 0x10, 0x9e, 0x01]),
            sha256_rsa.clone(),
            issuer,
            validity,
            subject,
            spki,
            extensions,
        ]
        .concat(),
    );
    let mut sig = vec![0];
    sig.extend((0..256).map(|i| (i * 13 + 5) as u8));
    der(0x30, &[tbs, sha256_rsa, der(0x03, &sig)].concat())
}

/// A server's first flight in answer to a ClientHello, as one TCP payload.
/// For `version` 0x0303 and below: one handshake record with the
/// ServerHello, a Certificate message with the leaf of `spec` and an
/// intermediate issued to `spec.issuer_cn`, and ServerHelloDone (RFC 5246
/// 7.3). For 0x0304: the ServerHello (supported_versions naming TLS 1.3),
/// a change_cipher_spec and an encrypted record, as TLS 1.3 servers send.
pub fn server_hello_certificate(version: u16, spec: &CertSpec<'_>) -> Vec<u8> {
    let mut hello = (version.min(0x0303)).to_be_bytes().to_vec();
    hello.extend((0..32).map(|i| (i * 3) as u8)); // random
    hello.push(32);
    hello.extend([0x5a; 32]);
    hello.extend_from_slice(&[0xc0, 0x2f, 0]); // cipher suite, null compression
    let exts: Vec<u8> = if version >= 0x0304 {
        let mut e = vec![0, 43, 0, 2];
        e.extend_from_slice(&version.to_be_bytes());
        e
    } else {
        vec![0xff, 0x01, 0, 1, 0] // renegotiation_info
    };
    hello.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    hello.extend_from_slice(&exts);
    let hello = handshake(2, &hello);
    if version >= 0x0304 {
        let filler: Vec<u8> = (0..900).map(|i| (i * 31 + 7) as u8).collect();
        return [
            record(22, 0x0303, &hello),
            record(20, 0x0303, &[1]),
            record(23, 0x0303, &filler),
        ]
        .concat();
    }
    let leaf = certificate(spec);
    let intermediate = certificate(&CertSpec {
        issuer_org: spec.issuer_org,
        issuer_cn: "Root CA",
        subject_cn: spec.issuer_cn,
    });
    let mut list = Vec::new();
    for c in [&leaf, &intermediate] {
        list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(c);
    }
    let mut cert_msg = (list.len() as u32).to_be_bytes()[1..].to_vec();
    cert_msg.extend_from_slice(&list);
    let body = [hello, handshake(11, &cert_msg), handshake(14, &[])].concat();
    record(22, version.max(0x0301), &body)
}

/// An unencrypted alert record (RFC 5246 7.2): `level` 1 warning, 2 fatal.
pub fn server_alert(level: u8, description: u8) -> Vec<u8> {
    record(21, 0x0303, &[level, description])
}

/// An HTTP/1.1 request with a Host header (none when `host` is empty).
pub fn http_request(method: &str, target: &str, host: &str) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\n");
    if !host.is_empty() {
        s.push_str(&format!("Host: {host}\r\n"));
    }
    s.push_str("User-Agent: flowaudit-synth\r\nAccept: */*\r\n\r\n");
    s.into_bytes()
}

/// An explicit-proxy `CONNECT host:port` request (RFC 9110 9.3.6).
pub fn http_connect(host: &str, port: u16) -> Vec<u8> {
    http_request(
        "CONNECT",
        &format!("{host}:{port}"),
        &format!("{host}:{port}"),
    )
}

/// UUID of an interface in DCE wire order (little-endian first three fields).
fn uuid_le(fields: (u32, u16, u16, [u8; 8])) -> Vec<u8> {
    let mut v = fields.0.to_le_bytes().to_vec();
    v.extend_from_slice(&fields.1.to_le_bytes());
    v.extend_from_slice(&fields.2.to_le_bytes());
    v.extend_from_slice(&fields.3);
    v
}

/// One `ncacn_ip_tcp` protocol tower (C706 appendix L, [MS-RPCE] 2.2.1.2):
/// interface, NDR transfer syntax, RPC connection-oriented, TCP port, IPv4 address.
fn tower(port: u16, addr: Ipv4Addr) -> Vec<u8> {
    // The interface: DRSUAPI e3514235-4b06-11d1-ab04-00c04fc2dcd2 v4.0.
    let iface = uuid_le((
        0xe3514235,
        0x4b06,
        0x11d1,
        [0xab, 0x04, 0, 0xc0, 0x4f, 0xc2, 0xdc, 0xd2],
    ));
    // NDR 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.
    let ndr = uuid_le((
        0x8a885d04,
        0x1ceb,
        0x11c9,
        [0x9f, 0xe8, 0x08, 0, 0x2b, 0x10, 0x48, 0x60],
    ));
    let mut t = 5u16.to_le_bytes().to_vec();
    for (uuid, ver) in [(iface, 4u16), (ndr, 2)] {
        t.extend_from_slice(&19u16.to_le_bytes());
        t.push(0x0d);
        t.extend_from_slice(&uuid);
        t.extend_from_slice(&ver.to_le_bytes());
        t.extend_from_slice(&[2, 0, 0, 0]);
    }
    t.extend_from_slice(&[1, 0, 0x0b, 2, 0, 0, 0]); // RPC connection-oriented, minor 0
    t.extend_from_slice(&[1, 0, 0x07, 2, 0]);
    t.extend_from_slice(&port.to_be_bytes());
    t.extend_from_slice(&[1, 0, 0x09, 4, 0]);
    t.extend_from_slice(&addr.octets());
    t
}

/// A DCE-RPC response PDU to `ept_map` (opnum 3) carrying one tower per
/// (port, address), NDR-encoded as a conformant varying array of tower
/// pointers (C706 12.6, appendix O).
pub fn epm_map_response(call_id: u32, towers: &[(u16, Ipv4Addr)]) -> Vec<u8> {
    let n = towers.len() as u32;
    let mut stub = vec![0u8; 20]; // context handle
    stub.extend_from_slice(&n.to_le_bytes()); // num_towers
    stub.extend_from_slice(&n.to_le_bytes()); // max count
    stub.extend_from_slice(&0u32.to_le_bytes()); // offset
    stub.extend_from_slice(&n.to_le_bytes()); // actual count
    for i in 0..n {
        stub.extend_from_slice(&(0x0002_0000 + 4 * i + 4).to_le_bytes()); // referent ids
    }
    for &(port, addr) in towers {
        let t = tower(port, addr);
        stub.extend_from_slice(&(t.len() as u32).to_le_bytes());
        stub.extend_from_slice(&(t.len() as u32).to_le_bytes());
        stub.extend_from_slice(&t);
        while !stub.len().is_multiple_of(4) {
            stub.push(0);
        }
    }
    stub.extend_from_slice(&0u32.to_le_bytes()); // status
    let frag_len = (24 + stub.len()) as u16;
    let mut p = vec![5, 0, 2, 3, 0x10, 0, 0, 0];
    p.extend_from_slice(&frag_len.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&call_id.to_le_bytes());
    p.extend_from_slice(&(stub.len() as u32).to_le_bytes()); // alloc hint
    p.extend_from_slice(&[0, 0, 0, 0]); // context id, cancel count, reserved
    p.extend_from_slice(&stub);
    p
}

/// `p` padded with zeros to `n` bytes (never cut), so a crafted payload can
/// keep the size of the deterministic one it replaces.
pub fn padded(mut p: Vec<u8>, n: usize) -> Vec<u8> {
    if p.len() < n {
        p.resize(n, 0);
    }
    p
}

/// A DNS query (RFC 1035 4.1): one question for `qname` of type `qtype`
/// (1 A, 28 AAAA, 33 SRV), recursion desired.
pub fn dns_query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(&mut m, qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// A DNS response without answers to a query for `qname` of type `qtype`,
/// with response code `rcode` (2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED).
pub fn dns_failure(id: u16, qname: &str, qtype: u16, rcode: u8) -> Vec<u8> {
    let mut m = dns_query(id, qname, qtype);
    let flags = 0x8180u16 | u16::from(rcode & 0x0f);
    if let Some(f) = m.get_mut(2..4) {
        f.copy_from_slice(&flags.to_be_bytes());
    }
    m
}

/// The fields of a KRB-ERROR to build (RFC 4120 5.9.1).
#[derive(Clone, Copy, Debug)]
pub struct KrbErrorSpec<'a> {
    /// `error-code`.
    pub code: i32,
    /// `stime` (whole seconds are written; the rest goes into `susec`).
    pub stime: Timestamp,
    /// `susec`.
    pub susec: i32,
    /// `ctime`, written when set (whole seconds, `cusec` 0).
    pub ctime: Option<Timestamp>,
    /// `crealm`, written when set.
    pub crealm: Option<&'a str>,
    /// `cname` components, written when set.
    pub cname: Option<&'a [&'a str]>,
    /// `realm`.
    pub realm: &'a str,
    /// `sname` components.
    pub sname: &'a [&'a str],
}

/// One DER element: tag, definite length (short or long form), contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = contents.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        v.push(0x80 | (4 - skip) as u8);
        v.extend_from_slice(&bytes[skip..]);
    }
    v.extend_from_slice(contents);
    v
}

/// A DER INTEGER in the fewest two's-complement bytes.
fn der_int(x: i32) -> Vec<u8> {
    let b = x.to_be_bytes();
    let mut at = 0;
    while at < 3 {
        let (cur, next) = (b[at], b[at + 1]);
        if (cur == 0 && next & 0x80 == 0) || (cur == 0xff && next & 0x80 != 0) {
            at += 1;
        } else {
            break;
        }
    }
    der(0x02, &b[at..])
}

/// A KerberosTime: GeneralizedTime `YYYYMMDDHHMMSSZ` in UTC.
fn der_time(t: Timestamp) -> Vec<u8> {
    let secs = t.0.div_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    der(0x18, s.as_bytes())
}

/// A PrincipalName of type NT-PRINCIPAL (1) or NT-SRV-INST (2, several components).
fn der_principal(parts: &[&str]) -> Vec<u8> {
    let strings: Vec<u8> = parts.iter().flat_map(|p| der(0x1b, p.as_bytes())).collect();
    let name_type = if parts.len() > 1 { 2 } else { 1 };
    let mut seq = der(0xa0, &der_int(name_type));
    seq.extend(der(0xa1, &der(0x30, &strings)));
    der(0x30, &seq)
}

/// A KRB-ERROR message as a KDC sends it (the UDP payload; over TCP, put
/// the 4-byte length first).
pub fn krb_error(s: &KrbErrorSpec<'_>) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(der(0xa0, &der_int(5)));
    f.extend(der(0xa1, &der_int(30)));
    if let Some(c) = s.ctime {
        f.extend(der(0xa2, &der_time(c)));
        f.extend(der(0xa3, &der_int(0)));
    }
    f.extend(der(0xa4, &der_time(s.stime)));
    f.extend(der(0xa5, &der_int(s.susec)));
    f.extend(der(0xa6, &der_int(s.code)));
    if let Some(r) = s.crealm {
        f.extend(der(0xa7, &der(0x1b, r.as_bytes())));
    }
    if let Some(c) = s.cname {
        f.extend(der(0xa8, &der_principal(c)));
    }
    f.extend(der(0xa9, &der(0x1b, s.realm.as_bytes())));
    f.extend(der(0xaa, &der_principal(s.sname)));
    der(0x7e, &der(0x30, &f))
}
