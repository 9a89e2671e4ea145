//! Missing findings: required flows with no attempt at all, and how sure their absence is.

use super::*;

impl<'a> Classifier<'a> {
    pub(super) fn missing(&self, out: &mut Vec<Finding>, span_secs: f64, covered_secs: f64) {
        let feats = &self.inventory.features;
        // A capture of one service (a capture filter on one port): the
        // absence of every other flow proves nothing.
        let one_service = match self.ports.iter().collect::<Vec<_>>()[..] {
            [&p] => Some(p),
            _ => None,
        };
        for r in &self.catalogue.rules {
            if r.kind != Kind::Required || !r.enabled_by(feats) {
                continue;
            }
            let present = self.groups.iter().any(|(k, g)| {
                let merged = g
                    .keys()
                    .filter_map(|&o| self.merged_ports.get(&(*k, o)))
                    .flatten()
                    .copied();
                k.covered_by(r)
                    || std::iter::once(k.port)
                        .chain(merged)
                        .any(|p| r.matches(k.src, k.dst, k.proto, p))
            });
            if present {
                continue;
            }
            // The flow of a part not every deployment has (agent servers
            // beside the sync server, a load balancer): without hosts of its
            // source role there is nothing to miss.
            if r.if_deployed && !r.src.iter().any(|&x| self.role_has_hosts(x)) {
                continue;
            }
            let primary = r.fallback_for.as_deref().and_then(|id| self.rule_by_id(id));
            if r.when == When::Fallback && primary.is_some_and(|p| self.rule_works(p)) {
                continue;
            }
            let src_role = r
                .src
                .iter()
                .copied()
                .find(|&x| self.role_has_hosts(x))
                .or(r.src.first().copied());
            let dst_role = r
                .dst
                .iter()
                .copied()
                .find(|&x| self.role_has_hosts(x))
                .or(r.dst.first().copied());
            let (Some(src_role), Some(dst_role)) = (src_role, dst_role) else {
                continue;
            };
            let Some(&transport) = r.transports.first() else {
                continue;
            };
            let roles = |rs: &[Role]| {
                let v: Vec<String> = rs.iter().map(|x| x.to_string()).collect();
                fmt_list(&v).replace(" and ", " or ")
            };
            let on: Vec<String> = r
                .transports
                .iter()
                .map(|t| format!("{}/{}", t.name(), r.ports))
                .collect();
            let mut ev = vec![format!(
                "no connection from {} to {} on {} in the capture",
                roles(&r.src),
                roles(&r.dst),
                on.join(" or ")
            )];
            let needed = if r.features.is_empty() {
                "every deployment".to_string()
            } else {
                feature_list(&r.features)
            };
            let when = match r.when {
                When::EverySyncCycle => "every sync cycle",
                When::OnDemand => "on demand",
                When::SetupOnly => "during setup only",
                When::Optional => "optional",
                When::Fallback => "as a fallback",
            };
            ev.push(format!(
                "{}: {}; needed by {needed}; expected {when}",
                rule_ref(r),
                r.description.trim_end_matches('.')
            ));
            ev.extend(r.notes.iter().cloned());
            let no_hosts: Vec<Role> = [&r.src, &r.dst]
                .into_iter()
                .filter(|rs| !rs.iter().any(|&x| self.role_has_hosts(x)))
                .filter_map(|rs| rs.first().copied())
                .collect();
            let src_sent = r.src.iter().any(|&x| self.roles_sent & role_bit(x) != 0);
            let long = covered_secs >= SYNC_CYCLE_SECS;
            // Gaps are said when they change the picture: more than a tenth
            // of the span, or enough to fall short of a sync cycle.
            let gappy = covered_secs < span_secs * 0.9
                || (covered_secs < SYNC_CYCLE_SECS && span_secs >= SYNC_CYCLE_SECS);
            let span_txt = if gappy {
                format!(
                    "{} but covers only {} (silences of more than 2 min left out)",
                    fmt_span(span_secs),
                    fmt_span(covered_secs)
                )
            } else {
                fmt_span(span_secs)
            };
            // Hosts of no known role on the rule's port, to or from its roles:
            // maybe the hosts the inventory (or the inference) does not name.
            let near: u64 = self
                .uncl
                .iter()
                .filter(|(k, _)| {
                    r.transports.contains(&k.proto)
                        && r.ports.contains(k.port)
                        && if k.outbound {
                            r.src.contains(&k.role)
                        } else {
                            r.dst.contains(&k.role)
                        }
                })
                .map(|(_, u)| u.bucket.conns)
                .sum();
            let (sev, why) = if let Some(x) = no_hosts.first() {
                let why = if self.inventory.is_inferred() {
                    format!(
                        "no {x} host was inferred from the capture (`flowaudit roles` says what fell \
                         short): give --inventory to judge this flow"
                    )
                } else {
                    format!("no {x} hosts in the inventory")
                };
                (Severity::Info, why)
            } else if near > 0 {
                (
                    Severity::Info,
                    format!(
                        "{} on {} link {} or {} hosts with hosts of no known role (see the \
                         unclassified findings): if those hosts play the rule's roles, name them \
                         in the inventory",
                        plural(near, "connection", "connections"),
                        on.join(" or "),
                        roles(&r.src),
                        roles(&r.dst)
                    ),
                )
            } else if let Some(p) = one_service.filter(|&p| !r.ports.contains(p)) {
                (
                    Severity::Info,
                    format!(
                        "every connection of the capture is on port {p}: it looks filtered to one \
                         service (a capture filter, a mirror of one port), so the absence of other \
                         flows proves nothing"
                    ),
                )
            } else if !src_sent {
                (
                    Severity::Info,
                    format!(
                        "the capture holds no traffic from any {} host: it cannot judge this flow",
                        roles(&r.src)
                    ),
                )
            } else {
                match r.when {
                    When::EverySyncCycle if long => (
                        Severity::Error,
                        format!(
                            "the capture spans {span_txt}, at least one 30-min sync cycle, and holds traffic from {} hosts: this flow should have appeared",
                            roles(&r.src)
                        ),
                    ),
                    When::EverySyncCycle => (
                        Severity::Warning,
                        format!("the capture spans {span_txt}, shorter than one 30-min sync cycle"),
                    ),
                    When::OnDemand => (
                        if long {
                            Severity::Warning
                        } else {
                            Severity::Info
                        },
                        format!(
                            "expected only when something triggers it; the capture spans {span_txt}: its absence may be normal"
                        ),
                    ),
                    When::SetupOnly => (
                        Severity::Info,
                        "expected only while installing or reconfiguring: its absence is normal"
                            .to_string(),
                    ),
                    When::Optional => (
                        Severity::Info,
                        "recommended, not required: its absence is not an error".to_string(),
                    ),
                    When::Fallback => (
                        Severity::Info,
                        match primary {
                            Some(p) => format!(
                                "used only when rule {} fails, which shows no working connection either",
                                p.id
                            ),
                            None => "used only when a preferred flow fails".to_string(),
                        },
                    ),
                }
            };
            ev.push(why);
            out.push(Finding {
                kind: FindingKind::Missing,
                severity: sev,
                src_role: Some(src_role),
                dst_role: Some(dst_role),
                transport,
                port: r.ports.lo,
                ports: Some(r.ports.to_string()),
                rule: Some(r.id.clone()),
                table: r.table.clone(),
                page: r.page.clone(),
                section: r.section.clone(),
                also_rules: Vec::new(),
                how: None,
                hosts: Vec::new(),
                hosts_total: 0,
                count: 0,
                evidence: ev,
                wireshark_filter: None,
                inputs: Vec::new(),
                input_mask: 0,
            });
        }
    }
}
