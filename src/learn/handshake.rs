//! TLS handshakes towards the catalogue's endpoints, followed from the
//! ClientHello until encryption starts, for the ways they fail: an offer of
//! nothing newer than TLS 1.1, a fatal alert in clear text, a TLS 1.2
//! server certificate from an issuer that is not the Microsoft cloud's (an
//! inspecting proxy), and a reset (or close) before any ServerHello (a
//! firewall blocking by server name).
//!
//! A connection is followed only when its ClientHello names a catalogue
//! hostname ([`NameWatch::is_endpoint`]); it is dropped at the first sign the
//! handshake went on (the client's next handshake record, a
//! change_cipher_spec, application data, TLS 1.3's encrypted flight), so
//! only handshakes in progress are held: at most [`MAX_HANDSHAKES`], those
//! older than [`STALE`] making room for new ones. Segments on ports no
//! followed handshake uses are passed over with a compare
//! ([`Handshakes::may_follow`]).

use super::failure::{FailureKind, Failures};
use super::held::{ConnKey, Held, conn_key as key};
use super::tls::{self, Message, content};
use crate::catalogue::{NameWatch, Proto};
use crate::time::Timestamp;
use std::net::IpAddr;

/// Handshakes in progress followed at most.
pub const MAX_HANDSHAKES: usize = 1 << 16;
/// A handshake with nothing from the server this long is no longer followed
/// when room is needed.
pub const STALE: i64 = 120_000_000_000;
/// The highest version that is not enough: Entra Connect 2.x and the
/// Microsoft cloud need TLS 1.2.
const LEGACY_MAX: u16 = 0x0302;

/// Where a followed handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// ClientHello sent, nothing from the server yet.
    Hello,
    /// ServerHello of TLS 1.2 or older seen; the certificate may follow.
    ServerHello,
    /// The certificate was judged; the client's answer is awaited (its
    /// key exchange, or an alert rejecting the certificate).
    Certificate,
}

/// One handshake in progress.
#[derive(Clone, Debug)]
struct Followed {
    /// The server name of the ClientHello (a catalogue hostname).
    name: String,
    /// When the ClientHello was sent.
    ts: Timestamp,
    stage: Stage,
}

/// The handshakes in progress.
#[derive(Clone, Debug, Default)]
pub struct Handshakes {
    open: Held<Followed>,
}

/// One TCP segment as the follower needs it.
pub struct Segment<'a> {
    /// Source address and port.
    pub src: (IpAddr, u16),
    /// Destination address and port.
    pub dst: (IpAddr, u16),
    /// TCP flags.
    pub flags: u8,
    /// The payload.
    pub payload: &'a [u8],
    /// Packet time.
    pub ts: Timestamp,
}

impl<'a> Segment<'a> {
    /// The segment a decoded TCP packet carries.
    pub fn of(p: &crate::decode::Packet<'a>) -> Self {
        Segment {
            src: (p.src, p.sport),
            dst: (p.dst, p.dport),
            flags: p.tcp.map_or(0, |t| t.flags),
            payload: p.payload,
            ts: p.ts,
        }
    }
}

impl Handshakes {
    /// True when a segment between these ports may be of a followed
    /// handshake (false for nearly every segment, at the cost of a compare).
    #[inline]
    pub fn may_follow(&self, sport: u16, dport: u16) -> bool {
        self.open.may_hold(sport, dport)
    }

    /// A ClientHello for `name`, which `watch` covers: an offer of nothing
    /// newer than TLS 1.1 is a failure at once, and the handshake is
    /// followed.
    pub fn client_hello(
        &mut self,
        s: &Segment<'_>,
        hello: &tls::ClientHello<'_>,
        name: String,
        failures: &mut Failures,
    ) {
        let key = key(s.src, s.dst);
        if hello.max_version <= LEGACY_MAX {
            let detail = format!(
                "{name}: offered at most {}",
                tls::version_name(hello.max_version)
            );
            record(
                failures,
                FailureKind::TlsLegacyVersion,
                key,
                detail,
                &name,
                s.ts,
            );
        }
        if self.open.contains(&key) {
            // A second ClientHello (after a HelloRetryRequest) continues it.
            return;
        }
        if self.open.len() >= MAX_HANDSHAKES {
            let now = s.ts.0;
            self.open.retain(|_, f| now.saturating_sub(f.ts.0) < STALE);
        }
        if self.open.len() < MAX_HANDSHAKES {
            self.open.insert(
                key,
                Followed {
                    name,
                    ts: s.ts,
                    stage: Stage::Hello,
                },
            );
        }
    }

    /// A later segment that may belong to a followed connection (callers
    /// check [`Handshakes::may_follow`] first).
    pub fn segment(&mut self, s: &Segment<'_>, watch: &NameWatch, failures: &mut Failures) {
        use crate::decode::tcp_flags::{FIN, RST};
        let Some((key, from_client)) = self.open.find(s.src, s.dst) else {
            return;
        };
        let Some(f) = self.open.get_mut(&key) else {
            return;
        };
        if s.flags & (RST | FIN) != 0 {
            let f = self.open.remove(&key);
            if let Some(f) = f.filter(|f| !from_client && f.stage == Stage::Hello) {
                let how = if s.flags & RST != 0 {
                    "reset"
                } else {
                    "closed"
                };
                let detail = format!("{}: {how} by the server side", f.name);
                let kind = FailureKind::TlsResetAfterHello;
                record(failures, kind, key, detail, &f.name, s.ts);
            }
            return;
        }
        if s.payload.is_empty() {
            return;
        }
        let mut done = false;
        let mut alert = None;
        let mut issuer_verdict = None;
        let stage = &mut f.stage;
        let saw_tls = matches!(s.payload, [20..=23, 3, ..]);
        tls::messages(s.payload, &mut |m| {
            match m {
                Message::Alert {
                    level: 2,
                    description,
                } => alert = Some(description),
                Message::Alert { .. } => {}
                Message::ServerHello { version } if !from_client => {
                    if version >= 0x0304 {
                        // The rest of a TLS 1.3 handshake is encrypted.
                        done = true;
                    } else {
                        *stage = Stage::ServerHello;
                    }
                }
                Message::Certificate { issuer } if !from_client => {
                    if let Some(i) = issuer {
                        let org = i.organization.unwrap_or_default();
                        if watch.trusts_issuer(org) == Some(false) {
                            issuer_verdict = Some(issuer_text(&i));
                        }
                    }
                    *stage = Stage::Certificate;
                }
                Message::Other(t)
                    if t == content::CHANGE_CIPHER_SPEC || t == content::APPLICATION_DATA =>
                {
                    done = true;
                }
                _ => {}
            }
        });
        // The client's next flight once the server has spoken (its key
        // exchange): the handshake went on.
        if from_client && *stage != Stage::Hello && saw_tls && alert.is_none() {
            done = true;
        }
        // Anything but TLS from the server before its hello: not TLS after all.
        if !from_client && !saw_tls && *stage == Stage::Hello {
            done = true;
        }
        let name = f.name.clone();
        if let Some(text) = issuer_verdict {
            let detail = format!("{name}: certificate issued by {text}");
            record(
                failures,
                FailureKind::TlsIntercepted,
                key,
                detail,
                &name,
                s.ts,
            );
        }
        if let Some(d) = alert {
            let what =
                tls::alert_name(d).map_or_else(|| format!("alert {d}"), |n| format!("{n} ({d})"));
            let side = if from_client { "client" } else { "server side" };
            let detail = format!("{name}: {what} from the {side}");
            record(failures, FailureKind::TlsAlert, key, detail, &name, s.ts);
            done = true;
        }
        if done {
            self.open.remove(&key);
        }
    }
}

/// `"Zscaler Inc." (CN "Zscaler Intermediate Root CA")`, printable and bounded.
fn issuer_text(i: &tls::Issuer<'_>) -> String {
    let mut s = String::new();
    match i.organization {
        Some(o) => {
            s.push('"');
            super::wire::push_printable(&mut s, o);
            s.push('"');
        }
        None => s.push_str("an issuer without an organization"),
    }
    if let Some(cn) = i.common_name {
        s.push_str(" (CN \"");
        super::wire::push_printable(&mut s, cn);
        s.push_str("\")");
    }
    s
}

/// Counts one TLS failure of the connection `key`.
fn record(
    failures: &mut Failures,
    kind: FailureKind,
    (client, _, server, port): ConnKey,
    detail: String,
    name: &str,
    ts: Timestamp,
) {
    failures.record(
        kind,
        (client, server),
        (Proto::Tcp, port),
        detail,
        Some(name.to_string()),
        ts,
        None,
    );
}
