//! Port scans: one finding per scanner, its probes taken out of the others.

use super::*;

impl<'a> Classifier<'a> {
    /// Takes the probes of port scanners (sources that probed at least
    /// [`SCAN_PORTS`] ports without a byte of data) out of the groups and the
    /// unclassified summary, and makes one `scan` finding per scanner: a scan
    /// of a thousand ports is one thing to tell, not a thousand findings.
    /// A scanner's connections that carried data stay where they are.
    pub(super) fn pull_scans(&mut self) -> Vec<Finding> {
        let scanners: BTreeSet<IpAddr> = self
            .probers
            .iter()
            .filter(|(_, p)| p.is_scan())
            .map(|(&a, _)| a)
            .collect();
        if scanners.is_empty() {
            return Vec::new();
        }
        // The pairs taken out, per (scanner, target), merged over groups.
        let mut taken: BTreeMap<(IpAddr, IpAddr), SlimPair> = BTreeMap::new();
        fn take<P: PairAgg>(
            b: &mut Bucket<P>,
            scanners: &BTreeSet<IpAddr>,
            taken: &mut BTreeMap<(IpAddr, IpAddr), SlimPair>,
        ) -> u64 {
            let mut failed = 0;
            b.pairs.retain(|&(src, dst), p| {
                let slim = p.slim();
                let all_probes = scanners.contains(&src) && slim.probes == slim.conns;
                if all_probes {
                    b.conns = b.conns.saturating_sub(slim.conns);
                    failed += slim.failed;
                    match taken.get_mut(&(src, dst)) {
                        Some(acc) => acc.merge(&slim),
                        None => {
                            taken.insert((src, dst), slim);
                        }
                    }
                }
                !all_probes
            });
            failed
        }
        for g in self.groups.values_mut() {
            for b in g.values_mut() {
                take(b, &scanners, &mut taken);
            }
            g.retain(|_, b| !b.pairs.is_empty());
        }
        self.groups.retain(|_, g| !g.is_empty());
        for u in self.uncl.values_mut() {
            let failed = take(&mut u.bucket, &scanners, &mut taken);
            u.failed = u.failed.saturating_sub(failed);
        }
        self.uncl.retain(|_, u| !u.bucket.pairs.is_empty());
        scanners
            .iter()
            .filter_map(|a| Some((*a, self.probers.get(a)?)))
            .map(|(a, p)| {
                let hosts: Vec<HostPair> = taken
                    .range((a, IpAddr::from([0u8; 4]))..)
                    .take_while(|((s, _), _)| *s == a)
                    .map(|(&(src, dst), st)| HostPair {
                        src,
                        dst,
                        attempts: st.attempts,
                        first_ts: st.first,
                        last_ts: st.last,
                        src_name: None,
                        dst_name: None,
                    })
                    .collect();
                scan_finding(a, p, hosts)
            })
            .collect()
    }
}

/// The one finding for a port scanner's probes.
pub(super) fn scan_finding(scanner: IpAddr, p: &Prober, hosts: Vec<HostPair>) -> Finding {
    let ports = p.ports.len() as u64 + p.more_ports;
    let targets: Vec<IpAddr> = p.targets.iter().copied().collect();
    let more = if p.more_targets > 0 {
        format!(" and {} more", p.more_targets)
    } else {
        String::new()
    };
    let span = match (p.first, p.last) {
        (Some(a), Some(b)) => format!(" over {}", fmt_secs(b.0.saturating_sub(a.0))),
        _ => String::new(),
    };
    let mut ev = vec![format!(
        "{scanner} sent {} without a byte of data to {} on {}{more}{span} (tcp/{}-{}): a port scan \
         (a vulnerability or inventory scanner, or someone mapping the network)",
        plural(p.probes(), "connection attempt", "connection attempts"),
        plural(ports, "port", "ports"),
        fmt_hosts(&targets),
        p.lo,
        p.hi,
    )];
    let mut answers = Vec::new();
    if p.open > 0 {
        let open: Vec<String> = p.open_ports.iter().map(u16::to_string).collect();
        let listed = if p.open_ports.len() as u64 >= p.open.min(OPEN_LISTED as u64) {
            format!(" (open: {})", open.join(", "))
        } else {
            String::new()
        };
        answers.push(format!("{} answered with a SYN-ACK{listed}", p.open));
    }
    if p.closed > 0 {
        answers.push(format!("{} reset (closed)", p.closed));
    }
    if p.icmp > 0 {
        answers.push(format!("{} refused by ICMP", p.icmp));
    }
    if p.silent > 0 {
        answers.push(format!("{} unanswered (filtered)", p.silent));
    }
    if !answers.is_empty() {
        ev.push(format!("of the attempts, {}", fmt_list(&answers)));
    }
    ev.push(
        "its probes are left out of the other findings: a scanner's attempts say what is open, \
         not what the deployment needs"
            .to_string(),
    );
    let target_roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|&r| p.target_roles & role_bit(r) != 0)
        .collect();
    let ip = if scanner.is_ipv4() { "ip" } else { "ipv6" };
    Finding {
        kind: FindingKind::Scan,
        severity: Severity::Warning,
        src_role: p.role,
        dst_role: match target_roles[..] {
            [r] => Some(r),
            _ => None,
        },
        transport: Proto::Tcp,
        port: p.lo,
        ports: Some(if p.lo == p.hi {
            p.lo.to_string()
        } else {
            format!("{}-{}", p.lo, p.hi)
        }),
        rule: None,
        table: None,
        page: None,
        section: None,
        also_rules: Vec::new(),
        how: None,
        count: p.probes(),
        hosts,
        hosts_total: 0,
        evidence: ev,
        wireshark_filter: Some(format!(
            "{ip}.src=={scanner} && tcp.flags.syn==1 && tcp.flags.ack==0"
        )),
        inputs: Vec::new(),
        input_mask: p.inputs,
    }
}
