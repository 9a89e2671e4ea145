//! Unexpected findings: working traffic no enabled rule allows.

use super::*;

impl<'a> Classifier<'a> {
    pub(super) fn unexpected(
        &self,
        k: GroupKey,
        b: &Bucket,
        sel: Selected<'a>,
        failing: &[&Bucket],
    ) -> Finding {
        let mut ev = Vec::new();
        let verb = if k.proto == Proto::Tcp {
            "established"
        } else {
            "answered"
        };
        ev.push(format!(
            "{} {verb} between {}",
            plural(b.conns, "connection", "connections"),
            plural(b.pairs.len() as u64, "host pair", "host pairs")
        ));
        let pair_has_rules = self
            .catalogue
            .rules
            .iter()
            .any(|r| r.src.contains(&k.src) && r.dst.contains(&k.dst));
        ev.push(match sel.disabled {
            Some(r) => only_with(r),
            None if !pair_has_rules => format!(
                "the catalogue has no rule for traffic from {} to {}",
                k.src, k.dst
            ),
            None => format!(
                "no rule of the catalogue allows {}/{} from {} to {}",
                k.proto.name(),
                k.port,
                k.src,
                k.dst
            ),
        });
        let mid: u64 = b.pairs.values().map(|p| p.midstream).sum();
        if mid > 0 {
            ev.push(format!(
                "{mid} of them began before the capture (no SYN seen)"
            ));
        }
        if let Some(s) = works_fails(b, failing) {
            ev.push(s);
        }
        if let Some(n) = filter_note(b.pairs.len()) {
            ev.push(n);
        }
        let wf = filter::build(
            k.proto,
            &self.ports_of(k, Outcome::Working),
            &filter_pairs(b, false),
            Shape::Both,
        );
        self.base(
            FindingKind::Unexpected,
            Severity::Warning,
            k,
            sel,
            None,
            b,
            ev,
            wf,
        )
    }
}
