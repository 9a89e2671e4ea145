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

/// Appends `b` to `s`, at most 128 bytes, printable ASCII kept and the rest
/// as `?` (the text still goes through each report's escaper).
pub(crate) fn push_printable(s: &mut String, b: &[u8]) {
    for &c in b.iter().take(128) {
        s.push(if c.is_ascii_graphic() || c == b' ' {
            c as char
        } else {
            '?'
        });
    }
}

/// One DER element: its tag and its contents.
pub(crate) struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The contents.
    pub value: &'a [u8],
}

/// The header of the DER element at the start of `b`: its tag, the length
/// its contents claim and the header's own length, whether or not the
/// contents are all in `b`. Only single-byte tags and definite lengths of
/// at most 4 bytes.
pub(crate) fn der_header(b: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *b.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = usize::from(*b.get(1)?);
    if first < 0x80 {
        return Some((tag, first, 2));
    }
    let n = first & 0x7f;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for &d in b.get(2..2 + n)? {
        len = len.checked_mul(256)?.checked_add(usize::from(d))?;
    }
    Some((tag, len, 2 + n))
}

/// Reads the whole DER element at the start of `b`; returns it and the rest.
pub(crate) fn tlv(b: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (tag, len, at) = der_header(b)?;
    let value = b.get(at..at.checked_add(len)?)?;
    let rest = b.get(at + len..)?;
    Some((Tlv { tag, value }, rest))
}
