//! Every rule of the built-in catalogue, exercised end to end on captures the
//! builder writes: a flow present and established is `healthy`; absent with
//! its feature enabled it is `missing`; absent with its feature disabled it is
//! nothing; attempted and refused it is `blocked` with the right `how`.

use flowaudit::catalogue::{Catalogue, Feature, Kind, Proto, Role, Rule};
use flowaudit::classify::{Audit, FindingKind, How};
use flowaudit::inventory::Inventory;
use flowaudit::pipeline::Options;
use flowaudit::read::Source;
use flowaudit::synth::{Conversation, Link, TcpSession, Trace, UdpSession, icmp_error};
use flowaudit::time::Duration;
use std::net::{IpAddr, SocketAddr};

/// One host per role; `azure` sits in the catalogue's published Entra ID range.
fn host(role: Role) -> IpAddr {
    match role {
        Role::Sync => "10.0.1.10",
        Role::Dc => "10.0.0.4",
        Role::Azure => "20.190.128.10",
        Role::Adfs => "10.0.2.20",
        Role::Wap => "192.168.100.30",
        Role::Users => "203.0.113.50",
        Role::Agent => "10.0.1.20",
        Role::Lb => "10.0.2.5",
    }
    .parse()
    .unwrap()
}

fn inventory(features: &[Feature]) -> String {
    let names: Vec<String> = features.iter().map(|f| format!("\"{f}\"")).collect();
    format!(
        "features = [{}]\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\nadfs = [\"10.0.2.20\"]\n\
         wap = [\"192.168.100.30\"]\nusers = [\"203.0.113.0/24\"]\nagent = [\"10.0.1.20\"]\n\
         lb = [\"10.0.2.5\"]\n",
        names.join(", ")
    )
}

/// What happens to the rule's flow in a test capture.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Works,
    Absent,
    Rst,
    NoAnswer,
    IcmpProhibited,
}

/// A capture with the rule's flow (src role -> dst role, `proto`, `port`) in
/// the given outcome, plus a background DNS query from the source host to an
/// unknown resolver so the capture is never empty.
fn capture(src: Role, dst: Role, proto: Proto, port: u16, outcome: Outcome) -> Vec<u8> {
    let client = SocketAddr::new(host(src), 50_000);
    let server = SocketAddr::new(host(dst), port);
    let mut t = Trace::new(Link::ethernet());
    let mut bg = UdpSession::new(
        SocketAddr::new(host(src), 40_000),
        "198.51.100.53:53".parse().unwrap(),
    );
    bg.request(30).response(60);
    t.add(&bg);
    let start = flowaudit::time::Timestamp(bg.now().0 + 1_000_000_000);
    match (proto, outcome) {
        (_, Outcome::Absent) => {}
        (Proto::Tcp, o) => {
            let mut s = TcpSession::new(client, server, 1000, 2000).starting_at(start);
            match o {
                Outcome::Works => {
                    s.handshake().client_data(100).server_data(200).close();
                }
                Outcome::Rst => {
                    s.reject();
                }
                Outcome::NoAnswer => {
                    s.unanswered(2, Duration::from_secs(1));
                }
                Outcome::IcmpProhibited => {
                    s.syn();
                }
                Outcome::Absent => unreachable!(),
            }
            t.add(&s);
            if o == Outcome::IcmpProhibited {
                let syn = &s.packets()[0];
                t.push_ip(
                    flowaudit::time::Timestamp(syn.ts.0 + 300_000),
                    &icmp_error("10.0.1.1".parse().unwrap(), 3, 13, &syn.ip),
                );
            }
        }
        (Proto::Udp, o) => {
            let mut u = UdpSession::new(client, server).starting_at(start);
            u.request(40);
            match o {
                Outcome::Works => {
                    u.response(80);
                }
                Outcome::NoAnswer => {
                    u.wait(Duration::from_secs(1)).request(40);
                }
                _ => {}
            }
            t.add(&u);
            if o == Outcome::IcmpProhibited {
                let req = &u.packets()[0];
                t.push_ip(
                    flowaudit::time::Timestamp(req.ts.0 + 300_000),
                    &icmp_error("10.0.1.1".parse().unwrap(), 3, 13, &req.ip),
                );
            }
        }
    }
    t.sort();
    // Several seconds of quiet after the last attempt, so nothing falls in the
    // capture's final seconds where a missing reply is only inconclusive.
    let end = t.frames().last().map(|f| f.0).unwrap();
    let mut tail = UdpSession::new(
        SocketAddr::new(host(src), 40_001),
        "198.51.100.53:53".parse().unwrap(),
    )
    .starting_at(flowaudit::time::Timestamp(end.0 + 30_000_000_000));
    tail.request(30).response(60);
    t.add(&tail).sort();
    t.to_pcapng()
}

fn audit(bytes: &[u8], features: &[Feature]) -> Audit {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("c.pcapng");
    std::fs::write(&cap, bytes).unwrap();
    let inv_path = dir.path().join("inv.toml");
    std::fs::write(&inv_path, inventory(features)).unwrap();
    let catalogue = Catalogue::embedded().unwrap();
    let inv = Inventory::load(&inv_path)
        .unwrap()
        .with_cloud_ranges(&catalogue.azure_ranges);
    // The same run as `flowaudit audit --inventory`.
    flowaudit::audit::run(
        &[Source::Path(cap)],
        &Options::default(),
        &catalogue,
        Some(&inv),
    )
    .audit
    .expect("the capture is readable")
}

/// Features that enable `rule` (its own, or password-hash-sync for rules every deployment needs).
fn enabling(rule: &Rule) -> Vec<Feature> {
    if rule.features.is_empty() {
        vec![Feature::PasswordHashSync]
    } else {
        rule.features.clone()
    }
}

/// Findings of `kind` that name `rule`, as the rule a group is filed under or
/// as another rule the same flow serves (several tables share sync -> azure 443).
fn findings_for<'a>(
    a: &'a Audit,
    rule: &Rule,
    kind: FindingKind,
) -> Vec<&'a flowaudit::classify::Finding> {
    a.findings
        .iter()
        .filter(|f| {
            f.kind == kind
                && (f.rule.as_deref() == Some(&rule.id) || f.also_rules.contains(&rule.id))
        })
        .collect()
}

/// (src role, dst role, transport) combinations the rule covers, first port of its range.
fn flows(rule: &Rule) -> Vec<(Role, Role, Proto)> {
    let mut v = Vec::new();
    for &s in &rule.src {
        for &d in &rule.dst {
            for &p in &rule.transports {
                v.push((s, d, p));
            }
        }
    }
    v
}

#[test]
fn every_required_rule_is_healthy_when_present_and_missing_when_absent() {
    let catalogue = Catalogue::embedded().unwrap();
    let required: Vec<&Rule> = catalogue
        .rules
        .iter()
        .filter(|r| r.kind == Kind::Required)
        .collect();
    assert!(
        required.len() >= 20,
        "only {} required rules",
        required.len()
    );
    let mut failures = Vec::new();
    for rule in required {
        let features = enabling(rule);
        for (s, d, p) in flows(rule) {
            let a = audit(&capture(s, d, p, rule.ports.lo, Outcome::Works), &features);
            if findings_for(&a, rule, FindingKind::Healthy).is_empty() {
                failures.push(format!(
                    "{} {s}->{d} {}/{}: not healthy when working: {:#?}",
                    rule.id,
                    p.name(),
                    rule.ports.lo,
                    a.findings
                ));
            }
            let a = audit(&capture(s, d, p, rule.ports.lo, Outcome::Absent), &features);
            let missing = findings_for(&a, rule, FindingKind::Missing);
            if missing.is_empty() {
                failures.push(format!("{} {s}->{d}: not missing when absent", rule.id));
            }
            if !rule.features.is_empty() {
                // The same capture with none of the rule's features enabled: silence.
                let others: Vec<Feature> = Feature::ALL
                    .into_iter()
                    .filter(|f| !rule.features.contains(f))
                    .collect();
                let a = audit(&capture(s, d, p, rule.ports.lo, Outcome::Absent), &others);
                if a.findings
                    .iter()
                    .any(|f| f.rule.as_deref() == Some(&rule.id))
                {
                    failures.push(format!(
                        "{} {s}->{d}: reported although its features are disabled",
                        rule.id
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_required_rule_is_blocked_with_the_right_how() {
    let catalogue = Catalogue::embedded().unwrap();
    let mut failures = Vec::new();
    for rule in catalogue.rules.iter().filter(|r| r.kind == Kind::Required) {
        let features = enabling(rule);
        for (s, d, p) in flows(rule) {
            let cases: &[(Outcome, How)] = match p {
                Proto::Tcp => &[
                    (Outcome::Rst, How::Rst),
                    (Outcome::NoAnswer, How::NoSynack),
                    (Outcome::IcmpProhibited, How::Icmp),
                ],
                Proto::Udp => &[
                    (Outcome::NoAnswer, How::NoReply),
                    (Outcome::IcmpProhibited, How::Icmp),
                ],
            };
            for &(outcome, how) in cases {
                let a = audit(&capture(s, d, p, rule.ports.lo, outcome), &features);
                let blocked = findings_for(&a, rule, FindingKind::Blocked);
                if blocked.len() != 1 || blocked[0].how != Some(how) {
                    failures.push(format!(
                        "{} {s}->{d} {}/{} {outcome:?}: want one blocked ({how:?}), got {:#?}",
                        rule.id,
                        p.name(),
                        rule.ports.lo,
                        a.findings
                    ));
                }
                if a.findings.iter().any(|f| f.kind == FindingKind::Unexpected) {
                    failures.push(format!(
                        "{} {outcome:?}: a failed attempt reported as unexpected",
                        rule.id
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tolerated_rules_are_never_missing_or_unexpected() {
    let catalogue = Catalogue::embedded().unwrap();
    let tolerated: Vec<&Rule> = catalogue
        .rules
        .iter()
        .filter(|r| r.kind == Kind::Tolerated)
        .collect();
    assert!(
        !tolerated.is_empty(),
        "the catalogue has no tolerated rules"
    );
    for rule in tolerated {
        for (s, d, p) in flows(rule) {
            for outcome in [Outcome::Works, Outcome::Absent] {
                let a = audit(&capture(s, d, p, rule.ports.lo, outcome), &enabling(rule));
                let bad: Vec<_> = a
                    .findings
                    .iter()
                    .filter(|f| match f.kind {
                        FindingKind::Missing => f.rule.as_deref() == Some(&rule.id),
                        FindingKind::Unexpected => {
                            f.port == rule.ports.lo
                                && f.src_role == Some(s)
                                && f.dst_role == Some(d)
                        }
                        _ => false,
                    })
                    .collect();
                assert!(bad.is_empty(), "{} {outcome:?}: {bad:#?}", rule.id);
            }
        }
    }
}
