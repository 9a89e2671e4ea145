//! Kerberos replies lost as IP fragments: a KDC's UDP reply too big for one
//! frame leaves in fragments, a firewall that drops fragments (a common
//! policy) keeps them from the client, and the client sends the very same
//! request again. A capture taken on the KDC's side of that firewall shows
//! exactly this: the reply reassembled from its fragments, then the
//! request again. (Behind the firewall, where no fragment arrives, the
//! capture shows requests without replies: the tracker's `no-reply`.)
//!
//! Per client and KDC, only the last UDP request is remembered (its length
//! and a hash of its bytes) and whether a fragmented reply followed; at most
//! [`MAX_CLIENTS`] pairs.

use super::failure::{FailureKind, Failures};
use crate::catalogue::Proto;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

/// (client, KDC) pairs followed at most.
pub const MAX_CLIENTS: usize = 1 << 16;
/// A request sent again within this long of its fragmented reply is a
/// retry of it (Kerberos clients retry within a few seconds).
pub const RETRY_WINDOW: i64 = 30_000_000_000;

/// The last request of one client to one KDC.
#[derive(Clone, Copy, Debug)]
struct Last {
    /// Length and FNV-1a hash of the request's bytes.
    fingerprint: (usize, u64),
    /// A reply in IP fragments came: when, in how many, how big.
    fragmented: Option<(Timestamp, u16, u32)>,
}

/// Requests and their fragmented replies, per client and KDC.
#[derive(Clone, Debug, Default)]
pub struct KdcRetries {
    last: HashMap<(IpAddr, IpAddr), Last>,
}

/// FNV-1a over the bytes: enough to tell a retransmission from a new request.
fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl KdcRetries {
    /// A UDP request from `client` to `kdc` port 88: a retry of a request
    /// whose reply came in fragments is a failure.
    pub fn request(
        &mut self,
        (client, kdc): (IpAddr, IpAddr),
        payload: &[u8],
        ts: Timestamp,
        failures: &mut Failures,
    ) {
        let key = (client.to_canonical(), kdc.to_canonical());
        let fingerprint = (payload.len(), fnv(payload));
        if let Some(last) = self.last.get(&key)
            && last.fingerprint == fingerprint
            && let Some((at, frags, bytes)) = last.fragmented
            && ts.0.saturating_sub(at.0) <= RETRY_WINDOW
        {
            let detail = format!(
                "the KDC's {bytes}-byte reply came in {frags} IP fragments and the client sent the same request again"
            );
            if let Some(f) = failures.record(
                FailureKind::KerberosFragmentsLost,
                key,
                (Proto::Udp, 88),
                detail,
                None,
                at,
                None,
            ) {
                f.last = f.last.max(ts);
            }
        }
        if self.last.len() < MAX_CLIENTS || self.last.contains_key(&key) {
            self.last.insert(
                key,
                Last {
                    fingerprint,
                    fragmented: None,
                },
            );
        }
    }

    /// A UDP datagram from `kdc` port 88 to `client` that came in
    /// `fragments` IP fragments.
    pub fn fragmented_reply(
        &mut self,
        (client, kdc): (IpAddr, IpAddr),
        fragments: u16,
        bytes: u32,
        ts: Timestamp,
    ) {
        if let Some(last) = self
            .last
            .get_mut(&(client.to_canonical(), kdc.to_canonical()))
        {
            last.fragmented = Some((ts, fragments, bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::NameWatch;

    fn ends() -> (IpAddr, IpAddr) {
        ("10.0.1.20".parse().unwrap(), "10.0.0.4".parse().unwrap())
    }

    fn run(steps: &[(&str, i64)]) -> Vec<crate::learn::failure::Failure> {
        let (mut r, mut f) = (KdcRetries::default(), Failures::default());
        for &(what, secs) in steps {
            let ts = Timestamp(secs * 1_000_000_000);
            match what {
                "frag" => r.fragmented_reply(ends(), 3, 3900, ts),
                req => r.request(ends(), req.as_bytes(), ts, &mut f),
            }
        }
        f.finish(&NameWatch::default())
    }

    #[test]
    fn the_same_request_after_a_fragmented_reply_is_a_loss() {
        let f = run(&[
            ("as-req", 0),
            ("frag", 0),
            ("as-req", 1),
            ("frag", 1),
            ("as-req", 3),
        ]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].kind, f[0].count, f[0].port),
            (FailureKind::KerberosFragmentsLost, 2, 88)
        );
        assert!(
            f[0].detail
                .contains("3900-byte reply came in 3 IP fragments"),
            "{}",
            f[0].detail
        );
    }

    #[test]
    fn other_requests_late_retries_and_whole_replies_are_not() {
        for steps in [
            &[("as-req", 0), ("frag", 0), ("tgs-req", 1)][..],
            &[("as-req", 0), ("frag", 0), ("as-req", 60)],
            &[("as-req", 0), ("as-req", 1)],
            &[("frag", 0), ("as-req", 1)],
        ] {
            assert_eq!(run(steps), Vec::new(), "{steps:?}");
        }
    }
}
