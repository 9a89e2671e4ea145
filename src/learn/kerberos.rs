//! Kerberos KRB-ERROR messages: the error code, the two clocks and the
//! principals, nothing else.
//!
//! Hand-written rather than an ASN.1 crate (`rasn`, `der-parser`): one
//! message type is read, with the few fields a diagnosis needs, and a DER
//! walk over nested context tags is a handful of checked length reads. Every
//! length is checked against the bytes there are; nesting is fixed by the
//! message's grammar, so the walk has no recursion to bound.
//! Wire format: RFC 4120 5.9.1 (KRB-ERROR), 5.2.2 (PrincipalName), 5.2.3
//! (KerberosTime); over TCP a 4-byte length comes first (7.2.2).

use super::wire::{Tlv, be16, push_printable, tlv};
use crate::time::Timestamp;

/// `[APPLICATION 30]`, constructed: a KRB-ERROR.
const KRB_ERROR_TAG: u8 = 0x7e;
/// Components of a principal name kept at most (`ldap/dc1.corp/corp` has 3).
pub const MAX_COMPONENTS: usize = 4;

/// Error codes a diagnosis names (RFC 4120 7.5.9, and MS-KILE for their meaning on AD).
pub mod code {
    /// The client's principal is not in the KDC's database.
    pub const C_PRINCIPAL_UNKNOWN: i32 = 6;
    /// No account holds the service principal name asked for.
    pub const S_PRINCIPAL_UNKNOWN: i32 = 7;
    /// Pre-authentication required: the normal first answer to an AS-REQ.
    pub const PREAUTH_REQUIRED: i32 = 25;
    /// The clocks of the client and the KDC differ by more than the allowed skew.
    pub const AP_ERR_SKEW: i32 = 37;
    /// The reply does not fit in a UDP datagram: the client should retry over TCP.
    pub const ERR_RESPONSE_TOO_BIG: i32 = 52;

    /// The name RFC 4120 gives a code, for the codes above; `None` for others.
    pub fn name(code: i32) -> Option<&'static str> {
        Some(match code {
            C_PRINCIPAL_UNKNOWN => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
            S_PRINCIPAL_UNKNOWN => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
            PREAUTH_REQUIRED => "KDC_ERR_PREAUTH_REQUIRED",
            AP_ERR_SKEW => "KRB_AP_ERR_SKEW",
            ERR_RESPONSE_TOO_BIG => "KRB_ERR_RESPONSE_TOO_BIG",
            _ => return None,
        })
    }
}

/// A principal name: its components (`ldap`, `dc1.corp.example`) as sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Principal<'a> {
    /// The first [`MAX_COMPONENTS`] components; only `..len` are meaningful.
    parts: [&'a [u8]; MAX_COMPONENTS],
    /// How many of `parts` are set.
    len: usize,
}

impl<'a> Principal<'a> {
    /// The components, in order.
    pub fn parts(&self) -> &[&'a [u8]] {
        self.parts.get(..self.len).unwrap_or(&[])
    }

    /// `ldap/dc1.corp.example@CORP.EXAMPLE`: components joined by `/`, then
    /// the realm; bytes that are not printable ASCII become `?` (the text
    /// still goes through each report's escaper).
    pub fn display(&self, realm: Option<&[u8]>) -> String {
        let mut s = String::new();
        for (i, p) in self.parts().iter().enumerate() {
            if i > 0 {
                s.push('/');
            }
            push_printable(&mut s, p);
        }
        if let Some(r) = realm.filter(|r| !r.is_empty()) {
            s.push('@');
            push_printable(&mut s, r);
        }
        s
    }
}

/// The fields of one KRB-ERROR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KrbError<'a> {
    /// `error-code`.
    pub code: i32,
    /// `stime` + `susec`: the KDC's clock when it answered.
    pub stime: Option<Timestamp>,
    /// `ctime` + `cusec`: the client's clock as its request gave it, when the KDC echoes it.
    pub ctime: Option<Timestamp>,
    /// `crealm`, when present.
    pub crealm: Option<&'a [u8]>,
    /// `cname`, when present.
    pub cname: Option<Principal<'a>>,
    /// `realm`: the service's realm.
    pub realm: Option<&'a [u8]>,
    /// `sname`: the service asked for.
    pub sname: Option<Principal<'a>>,
}

/// The contents of the one element inside an explicit context tag.
fn inner(value: &[u8]) -> Option<Tlv<'_>> {
    tlv(value).map(|(t, _)| t)
}

/// A DER INTEGER that fits an i32 (two's complement, at most 4 bytes).
fn int32(t: &Tlv<'_>) -> Option<i32> {
    if t.tag != 0x02 || t.value.is_empty() || t.value.len() > 4 {
        return None;
    }
    let neg = t.value.first().is_some_and(|&b| b & 0x80 != 0);
    let mut v: i64 = if neg { -1 } else { 0 };
    for &b in t.value {
        v = (v << 8) | i64::from(b);
    }
    i32::try_from(v).ok()
}

/// A GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 4120 5.2.3: no fraction, UTC).
fn kerberos_time(t: &Tlv<'_>) -> Option<Timestamp> {
    let v = t.value;
    if t.tag != 0x18 || v.len() != 15 || v.get(14) != Some(&b'Z') {
        return None;
    }
    let num = |at: usize, n: usize| -> Option<i64> {
        let mut x = 0i64;
        for &c in v.get(at..at + n)? {
            if !c.is_ascii_digit() {
                return None;
            }
            x = x * 10 + i64::from(c - b'0');
        }
        Some(x)
    };
    let (y, mo, d) = (num(0, 4)?, num(4, 2)?, num(6, 2)?);
    let (h, mi, s) = (num(8, 2)?, num(10, 2)?, num(12, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    Some(Timestamp::from_parts(secs, 0))
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian
/// calendar (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A PrincipalName: `SEQUENCE { [0] name-type, [1] SEQUENCE OF KerberosString }`.
fn principal<'a>(t: &Tlv<'a>) -> Option<Principal<'a>> {
    if t.tag != 0x30 {
        return None;
    }
    let mut rest = t.value;
    let mut p = Principal::default();
    while !rest.is_empty() {
        let (field, next) = tlv(rest)?;
        rest = next;
        if field.tag != 0xa1 {
            continue;
        }
        let seq = inner(field.value)?;
        if seq.tag != 0x30 {
            return None;
        }
        let mut names = seq.value;
        while !names.is_empty() {
            let (s, next) = tlv(names)?;
            names = next;
            if let Some(slot) = p.parts.get_mut(p.len) {
                *slot = s.value;
                p.len += 1;
            }
        }
    }
    Some(p)
}

/// A KRB-ERROR at the start of `msg` (a UDP payload, or a TCP record's
/// body: see [`tcp_record`]); `None` for any other message or bytes that
/// do not parse. Fields after a malformed one are left unset.
pub fn krb_error(msg: &[u8]) -> Option<KrbError<'_>> {
    let (app, _) = tlv(msg)?;
    if app.tag != KRB_ERROR_TAG {
        return None;
    }
    let seq = inner(app.value)?;
    if seq.tag != 0x30 {
        return None;
    }
    let mut e = KrbError::default();
    let mut code = None;
    let (mut ctime, mut cusec, mut stime, mut susec) = (None, 0i64, None, 0i64);
    let mut rest = seq.value;
    while !rest.is_empty() {
        let Some((field, next)) = tlv(rest) else {
            break;
        };
        rest = next;
        let Some(v) = inner(field.value) else {
            break;
        };
        match field.tag {
            // msg-type must say KRB-ERROR, or this is not one.
            0xa1 if int32(&v) != Some(30) => return None,
            0xa2 => ctime = kerberos_time(&v),
            0xa3 => cusec = int32(&v).map_or(0, i64::from),
            0xa4 => stime = kerberos_time(&v),
            0xa5 => susec = int32(&v).map_or(0, i64::from),
            0xa6 => code = int32(&v),
            0xa7 if v.tag == 0x1b => e.crealm = Some(v.value),
            0xa8 => e.cname = principal(&v),
            0xa9 if v.tag == 0x1b => e.realm = Some(v.value),
            0xaa => e.sname = principal(&v),
            _ => {}
        }
    }
    e.code = code?;
    let with_usec = |t: Timestamp, us: i64| {
        let us = us.clamp(0, 999_999);
        Timestamp(t.0.saturating_add(us * 1000))
    };
    e.ctime = ctime.map(|t| with_usec(t, cusec));
    e.stime = stime.map(|t| with_usec(t, susec));
    Some(e)
}

/// A Kerberos message over TCP: the body after the 4-byte record length,
/// cut to what the segment holds.
pub fn tcp_record(payload: &[u8]) -> Option<&[u8]> {
    let hi = be16(payload, 0)?;
    let lo = be16(payload, 2)?;
    // The high bit is reserved (RFC 4120 7.2.2); a set bit is not a length.
    if hi & 0x8000 != 0 {
        return None;
    }
    let len = usize::from(hi) << 16 | usize::from(lo);
    let body = payload.get(4..)?;
    Some(body.get(..len).unwrap_or(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::payload::{KrbErrorSpec, krb_error as build};

    fn spec() -> KrbErrorSpec<'static> {
        KrbErrorSpec {
            code: code::AP_ERR_SKEW,
            stime: Timestamp::from_parts(1_700_000_400, 0),
            susec: 250_000,
            ctime: Some(Timestamp::from_parts(1_700_000_000, 0)),
            crealm: Some("CORP.EXAMPLE"),
            cname: Some(&["MSOL_0123abcd"]),
            realm: "CORP.EXAMPLE",
            sname: &["krbtgt", "CORP.EXAMPLE"],
        }
    }

    #[test]
    fn reads_every_field_a_diagnosis_uses() {
        let bytes = build(&spec());
        let e = krb_error(&bytes).unwrap_or_else(|| panic!("not read"));
        assert_eq!(e.code, code::AP_ERR_SKEW);
        assert_eq!(
            e.stime,
            Some(Timestamp(1_700_000_400 * 1_000_000_000 + 250_000_000))
        );
        assert_eq!(e.ctime, Some(Timestamp::from_parts(1_700_000_000, 0)));
        let cname = e.cname.unwrap_or_else(|| panic!("no cname"));
        assert_eq!(cname.display(e.crealm), "MSOL_0123abcd@CORP.EXAMPLE");
        let sname = e.sname.unwrap_or_else(|| panic!("no sname"));
        assert_eq!(sname.display(e.realm), "krbtgt/CORP.EXAMPLE@CORP.EXAMPLE");
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let s = KrbErrorSpec {
            ctime: None,
            crealm: None,
            cname: None,
            code: code::S_PRINCIPAL_UNKNOWN,
            ..spec()
        };
        let bytes = build(&s);
        let e = krb_error(&bytes).unwrap_or_else(|| panic!("not read"));
        assert_eq!(e.code, code::S_PRINCIPAL_UNKNOWN);
        assert_eq!((e.ctime, e.cname, e.crealm), (None, None, None));
    }

    #[test]
    fn over_tcp_the_record_length_comes_first() {
        let body = build(&spec());
        let mut rec = (body.len() as u32).to_be_bytes().to_vec();
        rec.extend_from_slice(&body);
        assert_eq!(tcp_record(&rec), Some(&body[..]));
        assert_eq!(
            krb_error(tcp_record(&rec).unwrap_or_default()).map(|e| e.code),
            Some(37)
        );
        rec[0] = 0x80;
        assert_eq!(tcp_record(&rec), None, "the reserved bit");
    }

    #[test]
    fn other_messages_and_cut_bytes_are_not_errors() {
        let bytes = build(&spec());
        for n in 0..bytes.len() {
            // A cut message either fails or, cut in the optional tail, still
            // carries the code: never a wrong one.
            if let Some(e) = krb_error(&bytes[..n]) {
                assert_eq!(e.code, code::AP_ERR_SKEW, "cut at {n}");
            }
        }
        let mut as_rep = bytes.clone();
        as_rep[0] = 0x6b;
        assert_eq!(krb_error(&as_rep), None);
    }

    #[test]
    fn generalized_time_is_utc_seconds() {
        let t = Tlv {
            tag: 0x18,
            value: b"20261204091500Z",
        };
        assert_eq!(
            kerberos_time(&t),
            Some(Timestamp::from_parts(1_796_375_700, 0))
        );
        let leap = Tlv {
            tag: 0x18,
            value: b"20240229000000Z",
        };
        assert_eq!(
            kerberos_time(&leap),
            Some(Timestamp::from_parts(1_709_164_800, 0))
        );
        let bad = Tlv {
            tag: 0x18,
            value: b"2026120409150aZ",
        };
        assert_eq!(kerberos_time(&bad), None);
    }

    #[test]
    fn negative_and_long_integers() {
        let t = |v: &'static [u8]| Tlv { tag: 2, value: v };
        assert_eq!(int32(&t(&[0xff])), Some(-1));
        assert_eq!(int32(&t(&[0x00, 0x80])), Some(128));
        assert_eq!(int32(&t(&[1, 2, 3, 4, 5])), None);
        assert_eq!(int32(&t(&[])), None);
    }

    proptest::proptest! {
        /// Total and bounded on arbitrary bytes, over UDP and TCP framing.
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = krb_error(&b);
            if let Some(m) = tcp_record(&b) {
                let _ = krb_error(m);
            }
            // And a valid message with arbitrary bytes spliced in.
            let mut m = build(&spec());
            let at = b.first().map_or(0, |&x| usize::from(x) % m.len());
            m.splice(at..at, b.iter().copied());
            if let Some(e) = krb_error(&m) {
                let _ = e.cname.map(|p| p.display(e.crealm));
            }
        }
    }
}
