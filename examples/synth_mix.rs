//! Streams a large synthetic capture for the throughput benchmarks (issue 5),
//! built with the repo's own capture builder, plus a matching inventory.
//!
//! ```text
//! cargo run --release --example synth_mix -- OUT.pcap [--scale 1.0] [--seed 5] [--open 10000] [--inventory OUT.toml]
//! ```
//!
//! At scale 1: about 4.0 M packets, 265 k flows, 10 k flows open at once,
//! about 2.4 GB. The scale multiplies packets and flows but keeps the
//! concurrency (the number of flows open at once) and the packet rate, so a
//! 5x file runs five times longer with the same state per moment.
//!
//! The mix, per flow: 10 % IPv6, 8 % VLAN-tagged; 55 % full TCP connections
//! (handshake, 1-8 exchanges of a request, two response segments and an
//! ack, FIN teardown), 9 % rejected
//! SYNs (RST-ACK), 8 % unanswered SYNs with two retransmissions, 23 % DNS over
//! UDP, 5 % between hosts without a role. Hosts and ports follow the
//! hybrid-identity catalogue (rules/hybrid-identity.toml) so the audit
//! classifies nearly every flow.
//!
//! `--spread` makes most connections their own host pair, as on a real sync
//! server's link: 2,000 clients (users), 5,000 Microsoft servers (azure) and
//! 5,000 hosts of no role, each in a /16, and dynamic RPC on random ports of
//! 49152-65535; the same flows, kinds and packet rate otherwise. With it,
//! `--half-inventory FILE` also writes an inventory that lists only the first
//! 2,046 of the azure servers (52.168.0.0/21), as when the inventory misses
//! half the remote hosts.
//!
//! `--open N` changes how many flows are open at once (default 10 000) and
//! nothing else: the same packets per flow, flows and packet rate. The
//! benchmark runs a 200-open file beside the default one to show how much of
//! the time goes to the tracker's state outgrowing the CPU caches.
//!
//! Deterministic: the same arguments give the same bytes (a seeded splitmix64).

use flowaudit::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use flowaudit::synth::{Ip, Link, PcapOptions, PcapWriter, Rng, Tcp};
use flowaudit::time::Timestamp;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Flows open at once by default (independent of the scale).
const OPEN: usize = 10_000;
/// Flows at scale 1.
const FLOWS: f64 = 265_000.0;
/// Time between consecutive packets: 4.2 M packets span 1057 s. Longer than the
/// tracker's longest timeout (300 s for unanswered SYNs), so even the 1x file
/// reaches the steady state where connections expire as fast as they start,
/// and a 5x file holds as many at once.
const GAP_NS: i64 = 250_000;
/// First packet time: 2023-11-14T22:13:20Z.
const START_NS: i64 = 1_700_000_000_000_000_000;

/// Roles of the hybrid-identity catalogue, and the hosts that play them.
#[derive(Clone, Copy)]
enum Role {
    Sync,
    Dc,
    Adfs,
    Wap,
    Users,
    Azure,
    /// Hosts the inventory does not name.
    Nobody,
}

/// An address of `role`: host `i` (IPv4 or IPv6).
fn host(role: Role, i: u64, v6: bool, spread: bool) -> IpAddr {
    if spread
        && let Some((net4, net6, n)) = match role {
            Role::Users => Some(([203, 0], 0x200, 2_000)),
            Role::Azure => Some(([52, 168], 0x300, 5_000)),
            Role::Nobody => Some(([10, 99], 0x999, 5_000)),
            _ => None,
        }
    {
        let h = (i % n) as u16 + 2;
        return if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, net6, 0, 0, 0, h))
        } else {
            let [hi, lo] = h.to_be_bytes();
            IpAddr::V4(Ipv4Addr::new(net4[0], net4[1], hi, lo))
        };
    }
    let (net4, net6, n): ([u8; 3], u16, u64) = match role {
        Role::Sync => ([10, 0, 1], 0x1, 4),
        Role::Dc => ([10, 0, 0], 0x0, 8),
        Role::Adfs => ([10, 0, 2], 0x2, 4),
        Role::Wap => ([192, 168, 100], 0x100, 4),
        Role::Users => ([203, 0, 113], 0x200, 250),
        Role::Azure => ([52, 168, 10], 0x300, 64),
        Role::Nobody => ([10, 99, 0], 0x999, 250),
    };
    let h = (i % n) as u8 + 2;
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, net6, 0, 0, 0, u16::from(h)))
    } else {
        IpAddr::V4(Ipv4Addr::new(net4[0], net4[1], net4[2], h))
    }
}

/// What a flow does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Handshake, `n` exchanges (request, two response segments, ack), FIN teardown.
    Full(u8),
    /// SYN answered by RST-ACK.
    Rejected,
    /// SYN and two retransmissions, never answered.
    Unanswered,
    /// One DNS query and its answer.
    Dns,
}

/// One flow in progress.
struct Flow {
    /// What it does.
    kind: Kind,
    /// Client side.
    client: SocketAddr,
    /// Server side.
    server: SocketAddr,
    /// Index into the link table (untagged or VLAN).
    link: usize,
    /// Next packet to send (0-based).
    step: u32,
    /// Client's next sequence number.
    cseq: u32,
    /// Server's next sequence number.
    sseq: u32,
    /// Request size of this flow's exchanges.
    req: u16,
    /// Response size of this flow's exchanges.
    resp: u16,
}

impl Flow {
    /// Packets this flow sends in total.
    fn len(&self) -> u32 {
        match self.kind {
            Kind::Full(n) => 6 + 4 * u32::from(n),
            Kind::Rejected | Kind::Dns => 2,
            Kind::Unanswered => 3,
        }
    }
}

/// Picks a new flow: kind, roles, addresses, ports.
fn new_flow(rng: &mut Rng, id: u64, spread: bool) -> Flow {
    let v6 = rng.pct(10);
    let link = usize::from(rng.pct(8));
    let r = rng.below(100);
    let eph = 10_000 + (id.wrapping_mul(7919) % 50_000) as u16;
    let full = Kind::Full(1 + rng.below(8) as u8);
    let pick = |rng: &mut Rng, role| host(role, rng.next() >> 8, v6, spread);
    let (kind, c, s, port) = match r {
        // Sign-ins from outside through the proxy, and the proxy to the farm.
        0..=19 => (full, Role::Users, Role::Wap, 443),
        20..=27 => (full, Role::Wap, Role::Adfs, 443),
        // The sync server to the DCs: LDAP, LDAPS, Kerberos, SMB, RPC.
        28..=34 => (full, Role::Sync, Role::Dc, 389),
        35..=39 => (full, Role::Sync, Role::Dc, 636),
        40..=42 => (full, Role::Sync, Role::Dc, 88),
        43..=44 => (full, Role::Sync, Role::Dc, 445),
        45..=46 => (full, Role::Sync, Role::Dc, 135),
        47..=49 if spread => (
            full,
            Role::Sync,
            Role::Dc,
            49_152 + rng.below(16_384) as u16,
        ),
        47..=49 => (full, Role::Sync, Role::Dc, 49_700),
        // To Microsoft's cloud.
        50..=54 => (full, Role::Sync, Role::Azure, 443),
        55..=57 => (full, Role::Adfs, Role::Azure, 443),
        // Blocked: certificate authentication on the proxy, WinRM on the DCs.
        58..=62 => (Kind::Rejected, Role::Users, Role::Wap, 49_443),
        63..=66 => (Kind::Rejected, Role::Sync, Role::Dc, 3269),
        // Dropped by a firewall: the health agent's Service Bus.
        67..=74 => (Kind::Unanswered, Role::Sync, Role::Azure, 5671),
        // Name lookups.
        75..=89 => (Kind::Dns, Role::Sync, Role::Dc, 53),
        90..=94 => (Kind::Dns, Role::Adfs, Role::Dc, 53),
        // Traffic between hosts the inventory does not know.
        _ => (full, Role::Nobody, Role::Nobody, 8080),
    };
    let client = SocketAddr::new(pick(rng, c), eph);
    let mut server = SocketAddr::new(pick(rng, s), port);
    if server.ip() == client.ip() {
        server.set_ip(host(s, (rng.next() >> 8) + 1, v6, spread));
    }
    Flow {
        kind,
        client,
        server,
        link,
        step: 0,
        cseq: rng.next() as u32,
        sseq: rng.next() as u32,
        req: 200 + rng.below(600) as u16,
        resp: 200 + rng.below(1261) as u16,
    }
}

/// Writes the flow's next packet IP datagram into `ip`.
fn next_packet(f: &mut Flow, ipb: &Ip, ip: &mut Vec<u8>, payload: &[u8]) {
    let step = f.step;
    f.step += 1;
    let (c, s) = (f.client, f.server);
    // (from the client, TCP flags, payload length)
    let (from_client, flags, len) = match f.kind {
        Kind::Dns => {
            let (a, b, len) = if step == 0 { (c, s, 40) } else { (s, c, 120) };
            ipb.write_udp(ip, a, b, payload.get(..len).unwrap_or(payload));
            return;
        }
        Kind::Rejected if step == 0 => (true, SYN, 0),
        Kind::Rejected => (false, RST | ACK, 0),
        Kind::Unanswered => {
            // A retransmission repeats the first SYN's sequence number.
            if step > 0 {
                f.cseq = f.cseq.wrapping_sub(1);
            }
            (true, SYN, 0)
        }
        Kind::Full(n) => {
            let last = 3 + 4 * u32::from(n);
            match step {
                0 => (true, SYN, 0),
                1 => (false, SYN | ACK, 0),
                2 => (true, ACK, 0),
                x if x < last => match (x - 3) % 4 {
                    0 => (true, PSH | ACK, usize::from(f.req)),
                    1 => (false, ACK, 1460),
                    2 => (false, PSH | ACK, usize::from(f.resp)),
                    _ => (true, ACK, 0),
                },
                x if x == last => (true, FIN | ACK, 0),
                x if x == last + 1 => (false, FIN | ACK, 0),
                _ => (true, ACK, 0),
            }
        }
    };
    let (seq, ack) = if from_client {
        (f.cseq, f.sseq)
    } else {
        (f.sseq, f.cseq)
    };
    let t = Tcp {
        flags,
        seq,
        ack: if flags & ACK != 0 { ack } else { 0 },
        window: 64_240,
        ..Tcp::default()
    };
    let body = payload.get(..len).unwrap_or(payload);
    let adv = len as u32 + u32::from(flags & (SYN | FIN) != 0);
    if from_client {
        ipb.write_tcp(ip, c, s, &t, body);
        f.cseq = f.cseq.wrapping_add(adv);
    } else {
        ipb.write_tcp(ip, s, c, &t, body);
        f.sseq = f.sseq.wrapping_add(adv);
    }
}

/// The inventory that gives the generated hosts their roles.
const INVENTORY: &str = r#"# Inventory for captures written by examples/synth_mix.rs.
features = ["password-hash-sync", "seamless-sso", "ldaps", "adfs", "adfs-cert-auth", "health-agent"]

[roles]
sync  = ["10.0.1.0/24", "fd00:0:0:1::/64"]
dc    = ["10.0.0.0/24", "fd00::/64"]
adfs  = ["10.0.2.0/24", "fd00:0:0:2::/64"]
wap   = ["192.168.100.0/24", "fd00:0:0:100::/64"]
users = ["203.0.113.0/24", "fd00:0:0:200::/64"]
azure = ["52.168.10.0/24", "fd00:0:0:300::/64"]
"#;

/// [`INVENTORY`] for `--spread`: the roles' /16s.
fn spread_inventory(half: bool) -> String {
    INVENTORY
        .replace("203.0.113.0/24", "203.0.0.0/16")
        .replace(
            "52.168.10.0/24",
            if half {
                "52.168.0.0/21"
            } else {
                "52.168.0.0/16"
            },
        )
        .replace(
            "\"fd00:0:0:300::/64\"",
            if half {
                "\"fd00:0:0:300::/117\""
            } else {
                "\"fd00:0:0:300::/64\""
            },
        )
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut scale = 1.0f64;
    let mut seed = 5u64;
    let mut inventory = None;
    let mut open_at_once = OPEN;
    let mut spread = false;
    let mut half = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--spread" => spread = true,
            "--half-inventory" => half = args.next(),
            "--scale" => scale = args.next().and_then(|v| v.parse().ok()).unwrap_or(1.0),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--inventory" => inventory = args.next(),
            "--open" => {
                open_at_once = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or(OPEN)
            }
            _ => out = Some(a),
        }
    }
    let Some(out) = out else {
        eprintln!(
            "usage: synth_mix OUT.pcap [--scale 1.0] [--seed 5] [--open 10000] [--inventory OUT.toml] [--spread [--half-inventory OUT.toml]] (OUT - for stdout)"
        );
        std::process::exit(2);
    };
    if let Some(p) = inventory {
        if spread {
            std::fs::write(p, spread_inventory(false))?;
        } else {
            std::fs::write(p, INVENTORY)?;
        }
    }
    if let Some(p) = half.filter(|_| spread) {
        std::fs::write(p, spread_inventory(true))?;
    }
    let w: Box<dyn Write> = if out == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&out)?)
    };
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, w), PcapOptions::default())?;
    let total = (FLOWS * scale).round() as u64;
    let mut rng = Rng(seed);
    let links = [Link::ethernet(), Link::Ethernet(vec![100])];
    let payload: Vec<u8> = (0..1500u32).map(|i| (i * 31 % 251) as u8).collect();
    let ipb = Ip::default();
    let mut started = 0u64;
    let mut open: Vec<Flow> = Vec::with_capacity(open_at_once);
    while open.len() < open_at_once.min(total as usize) {
        open.push(new_flow(&mut rng, started, spread));
        started += 1;
    }
    let (mut ip, mut frame) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
    let mut ts = START_NS;
    let (mut packets, mut bytes) = (0u64, 0u64);
    while !open.is_empty() {
        let i = rng.below(open.len() as u64) as usize;
        let Some(f) = open.get_mut(i) else { break };
        ip.clear();
        frame.clear();
        next_packet(f, &ipb, &mut ip, &payload);
        if let Some(l) = links.get(f.link) {
            l.write_frame(&mut frame, &ip);
        }
        w.write_packet(Timestamp(ts), &frame, None)?;
        packets += 1;
        bytes += 16 + frame.len() as u64;
        ts += GAP_NS;
        if f.step >= f.len() {
            if started < total {
                open[i] = new_flow(&mut rng, started, spread);
                started += 1;
            } else {
                open.swap_remove(i);
            }
        }
    }
    w.into_inner()?.flush()?;
    eprintln!("synth_mix: {packets} packets, {started} flows, {bytes} bytes of records");
    Ok(())
}
