//! Small bounded readers shared by the parsers: every read is checked, so
//! arbitrary bytes end a parse with `None`, never a panic.

/// Big-endian u16 at `at`.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Little-endian u16 at `at`.
pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

/// Big-endian u24 at `at`.
pub(crate) fn be24(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(usize::from(*s.first()?) << 16 | usize::from(*s.get(1)?) << 8 | usize::from(*s.get(2)?))
}

/// A DNS-style host name as it may appear in a capture, normalised: ASCII
/// letters, digits, `-`, `_` and `.`, lower-cased, without a trailing dot, at
/// most 253 bytes, at least one character. Anything else is not learned
/// (names come from untrusted bytes and end up in reports).
pub fn normalise_name(raw: &[u8]) -> Option<String> {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    if raw.is_empty() || raw.len() > 253 || raw.first() == Some(&b'.') {
        return None;
    }
    if !raw
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        return None;
    }
    Some(raw.iter().map(|c| c.to_ascii_lowercase() as char).collect())
}
