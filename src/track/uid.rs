//! Deterministic connection uids.
//!
//! Zeek draws uids from a random source; flowaudit derives them from what
//! identifies the connection (the 5-tuple, the first packet's time, and how
//! many earlier connections of the same 5-tuple were replaced by port reuse
//! while the tracker held them), so the same capture always gives the same
//! uids, whatever the thread count. The hash is FNV-1a followed by a
//! splitmix64 finaliser: fixed by this code, not by a library version or
//! platform.

use super::key::{ConnKey, proto_code};
use crate::time::Timestamp;
use compact_str::CompactString;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The digits of a uid, in value order.
pub(super) const BASE62: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 17 base62 digits of `v` (below 62^17), most significant first: the
/// low 10 from v mod 62^10 and the high 7 from v / 62^10, both of which fit in
/// a u64, so one 128-bit division instead of seventeen (every connection gets a uid).
fn base62_17(v: u128) -> [u8; 17] {
    const P10: u64 = 62u64.pow(10);
    let (mut high, mut low) = ((v / u128::from(P10)) as u64, (v % u128::from(P10)) as u64);
    let mut out = [b'0'; 17];
    let (top, bottom) = out.split_at_mut(7);
    for slot in bottom.iter_mut().rev() {
        *slot = BASE62[(low % 62) as usize];
        low /= 62;
    }
    for slot in top.iter_mut().rev() {
        *slot = BASE62[(high % 62) as usize];
        high /= 62;
    }
    out
}

/// The uid for a connection: `C` followed by 17 base62 digits of a 96-bit hash
/// (Zeek's uids are `C` + up to 17 base62 digits of 96 random bits too).
pub(crate) fn make_uid(key: &ConnKey, first: Timestamp, reuse: u32) -> CompactString {
    let proto = proto_code(key.proto);
    let mut h = FNV_OFFSET;
    h = fnv1a(h, &proto.to_be_bytes());
    h = fnv1a(h, &key.a.addr.0);
    h = fnv1a(h, &key.a.port.to_be_bytes());
    h = fnv1a(h, &key.b.addr.0);
    h = fnv1a(h, &key.b.port.to_be_bytes());
    h = fnv1a(h, &first.0.to_be_bytes());
    h = fnv1a(h, &reuse.to_be_bytes());
    let hi = splitmix64(h);
    let lo = splitmix64(hi ^ 0x5851_f42d_4c95_7f2d) >> 32;
    let mut uid = [b'C'; 18];
    if let Some(digits) = uid.get_mut(1..) {
        digits.copy_from_slice(&base62_17((u128::from(hi) << 32) | u128::from(lo)));
    }
    // Base62 digits and `C` are ASCII, so this never falls back.
    CompactString::from_utf8(uid).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Transport;
    use crate::track::key::{Addr, EndpointId};
    use std::net::IpAddr;

    fn key(port: u16) -> ConnKey {
        let a = EndpointId {
            addr: Addr::from_ip(IpAddr::from([10, 0, 0, 1])),
            port,
        };
        let b = EndpointId {
            addr: Addr::from_ip(IpAddr::from([10, 0, 0, 2])),
            port: 80,
        };
        ConnKey::new(Transport::Tcp, a, b, false)
    }

    #[test]
    fn base62_matches_digit_by_digit_division() {
        for v in [
            0u128,
            1,
            61,
            62,
            62u128.pow(10) - 1,
            62u128.pow(10),
            (1 << 96) - 1,
            0x1234_5678_9abc_def0_1234_5678,
        ] {
            let mut want = [b'0'; 17];
            let mut x = v;
            for slot in want.iter_mut().rev() {
                *slot = BASE62[(x % 62) as usize];
                x /= 62;
            }
            assert_eq!(base62_17(v), want, "{v}");
        }
    }

    #[test]
    fn uid_is_stable_and_distinguishes_inputs() {
        let u = make_uid(&key(1234), Timestamp(5), 0);
        assert_eq!(u, make_uid(&key(1234), Timestamp(5), 0));
        assert_eq!(u.len(), 18);
        assert!(u.starts_with('C') && u[1..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(u, make_uid(&key(1235), Timestamp(5), 0));
        assert_ne!(u, make_uid(&key(1234), Timestamp(6), 0));
        assert_ne!(u, make_uid(&key(1234), Timestamp(5), 1));
    }
}
