//! The one thing of NTP the audit needs: the mode of a message Zeek's NTP
//! analyzer (binpac, `ntp-protocol.pac`) would parse, for its role flip.

/// UDP port of NTP.
pub(crate) const PORT: u16 = 123;
/// The fixed part of a standard (mode 1-5) message (RFC 5905).
const NTP_STD_LEN: usize = 48;
/// Bytes at the end that binpac leaves to a MAC rather than an extension field.
const NTP_MAC_MAX: usize = 24;

/// The mode of a standard NTP message, if binpac's NTP_PDU would parse it:
/// 48 fixed bytes, then extension fields while more than 24 bytes remain
/// (each as Zeek's `Extension_Field`, with its `&enforce` checks), then
/// whatever MAC is left.
fn std_mode(d: &[u8]) -> Option<u8> {
    let mode = d.first()? & 0x07;
    if !(1..=5).contains(&mode) || d.len() < NTP_STD_LEN {
        return None;
    }
    let mut rest = &d[NTP_STD_LEN..];
    while rest.len() > NTP_MAC_MAX {
        let be32 = |o: usize| -> Option<u32> {
            Some(u32::from_be_bytes(rest.get(o..o + 4)?.try_into().ok()?))
        };
        let len = u32::from(u16::from_be_bytes(rest.get(2..4)?.try_into().ok()?));
        let value_len = be32(14)?;
        if len < 18 || value_len > len - 18 {
            return None;
        }
        let sig_at = 18usize.checked_add(value_len as usize)?;
        let sig_len = be32(sig_at)?;
        // Zeek's check reads value_len here, not sig_len (kept as it is).
        if len < 22 || value_len > len - 22 {
            return None;
        }
        let used = sig_at.checked_add(4)?.checked_add(sig_len as usize)?;
        let total = used.max(len as usize);
        rest = rest.get(total..)?;
    }
    Some(mode)
}

/// [`std_mode`] for a UDP datagram between `sport` and `dport`, 0 when it is
/// not NTP's port or not a standard message Zeek parses.
pub(crate) fn mode_of(sport: u16, dport: u16, payload: &[u8]) -> u8 {
    if sport != PORT && dport != PORT {
        return 0;
    }
    std_mode(payload).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ntp(mode: u8, extra: usize) -> Vec<u8> {
        let mut m = vec![0u8; NTP_STD_LEN + extra];
        m[0] = (4 << 3) | mode;
        m
    }

    #[test]
    fn standard_messages_parse_as_binpac_would() {
        assert_eq!(std_mode(&ntp(4, 0)), Some(4));
        assert_eq!(std_mode(&ntp(4, 0)[..47]), None, "short of the fixed part");
        assert_eq!(
            std_mode(&ntp(6, 0)),
            None,
            "control messages are not standard"
        );
        // A 20- or 24-byte MAC after the fixed part parses; 30 bytes of zeros
        // are an extension field whose length is below 18.
        assert_eq!(std_mode(&ntp(4, 20)), Some(4));
        assert_eq!(std_mode(&ntp(4, 24)), Some(4));
        assert_eq!(std_mode(&ntp(4, 30)), None);
        let mut ext = ntp(3, 28);
        ext[NTP_STD_LEN + 3] = 28; // one 28-byte extension field, no value or signature
        assert_eq!(std_mode(&ext), Some(3));
        assert_eq!(mode_of(123, 40000, &ntp(4, 0)), 4);
        assert_eq!(mode_of(5353, 40000, &ntp(4, 0)), 0, "not NTP's port");
    }

    proptest! {
        #[test]
        fn total_on_any_bytes(d in proptest::collection::vec(any::<u8>(), 0..300)) {
            let m = std_mode(&d);
            prop_assert!(m.is_none_or(|m| (1..=5).contains(&m)));
        }
    }
}
