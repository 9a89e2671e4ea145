//! Zeek's connection history string.
//!
//! Letters are upper case for the originator, lower case for the responder,
//! in the order they happened. Most letters are recorded once per direction
//! (a bit in `seen`); `c g t w` style letters are "scaled": recorded at the
//! 1st, 10th, 100th, ... occurrence (Zeek's `Connection::ScaledHistoryEntry`).

/// Bits of the `seen` mask, originator side (responder: shifted left by 16), as in Zeek.
pub(crate) mod mask {
    /// A SYN (S/H) was recorded.
    pub const SYN: u32 = 0x1;
    /// A FIN (F) was recorded.
    pub const FIN: u32 = 0x2;
    /// A RST (R) was recorded.
    pub const RST: u32 = 0x4;
    /// FIN and RST together (I).
    pub const FIN_RST: u32 = 0x8;
    /// A data packet (D).
    pub const DATA: u32 = 0x10;
    /// A pure ACK (A).
    pub const ACK: u32 = 0x20;
    /// SYN with FIN or RST (Q).
    pub const MULTI_FLAG: u32 = 0x40;
}

use compact_str::CompactString;

/// The history letters and the once-only bookkeeping.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    /// The letters so far: inline up to 24 letters, which almost every
    /// connection's history fits, so tracking allocates nothing for it.
    pub letters: CompactString,
    /// Which once-only letters were recorded (Zeek's `hist_seen`).
    seen: u32,
}

/// A counter for a scaled letter: records at 1, 10, 100, ... occurrences.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Self {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl History {
    /// Appends a letter unconditionally.
    pub(crate) fn add(&mut self, code: char) {
        self.letters.push(code);
    }

    /// Records `code` (lower-cased and mask shifted for the responder) if not seen
    /// before; returns true when it had been seen already (Zeek's `CheckHistory`).
    pub(crate) fn check(&mut self, is_orig: bool, mask: u32, code: char) -> bool {
        let (mask, code) = if is_orig {
            (mask, code)
        } else {
            (mask << 16, code.to_ascii_lowercase())
        };
        if self.seen & mask == 0 {
            self.seen |= mask;
            self.add(code);
            false
        } else {
            true
        }
    }

    /// Rewrites the history as if the roles had been flipped before the first
    /// packet: every letter changes case, the once-only bits change sides, and
    /// `^` goes in front.
    pub(crate) fn flip_from_start(&mut self) {
        let swapped: CompactString = self
            .letters
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        let mut flipped = CompactString::const_new("^");
        flipped.push_str(&swapped);
        self.letters = flipped;
        self.seen = self.seen.rotate_left(16);
    }

    /// Counts one occurrence of a scaled letter, recording it at 1, 10, 100, ...
    pub(crate) fn scaled(&mut self, code: char, counter: &mut Scaled) {
        counter.count = counter.count.saturating_add(1);
        if counter.count == counter.threshold {
            self.add(code);
            match counter.threshold.checked_mul(10) {
                Some(t) => counter.threshold = t,
                // Zeek resets the counter when the threshold would wrap.
                None => counter.count = 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_only_letters_per_direction() {
        let mut h = History::default();
        assert!(!h.check(true, mask::DATA, 'D'));
        assert!(h.check(true, mask::DATA, 'D'));
        assert!(!h.check(false, mask::DATA, 'D'));
        assert_eq!(h.letters, "Dd");
    }

    #[test]
    fn flip_from_start_swaps_roles() {
        let mut h = History::default();
        h.check(true, mask::SYN, 'H');
        h.flip_from_start();
        assert_eq!(h.letters, "^h");
        // The SYN-ACK now belongs to the responder: a responder SYN-ACK is no longer new...
        assert!(h.check(false, mask::SYN, 'H'));
        // ...while an originator SYN still is.
        assert!(!h.check(true, mask::SYN, 'S'));
    }

    #[test]
    fn histories_longer_than_the_inline_room_keep_every_letter() {
        // 30 letters: past the 24 kept inline, so the letters move to the heap.
        let mut h = History::default();
        let want: String = "SADFR".repeat(6);
        for c in want.chars() {
            h.add(c);
        }
        assert_eq!(h.letters, want.as_str());
        h.flip_from_start();
        assert_eq!(
            h.letters,
            format!("^{}", want.to_ascii_lowercase()).as_str()
        );
    }

    #[test]
    fn scaled_letters_at_powers_of_ten() {
        let mut h = History::default();
        let mut c = Scaled::default();
        for _ in 0..150 {
            h.scaled('T', &mut c);
        }
        // Zeek's doc: second instance = at least 10 times, third = 100 times.
        assert_eq!(h.letters, "TTT");
    }
}
