//! The expiry queue: `(deadline, generation, slot)` entries, taken out in the
//! order a single min-heap would give them, without a heap's cost. Ties in
//! deadline go by generation (creation order), not by slot: connections live
//! in two slabs (full records and unanswered attempts), whose slot numbers say
//! nothing about each other.
//!
//! A heap of every open connection's deadline (tens of thousands) costs a
//! chain of cache misses on every pop. Deadlines are mostly a timeout ahead,
//! so entries wait in a wheel of one-second buckets instead, and only those of
//! the current second (and any earlier) sit in a small heap. All entries due
//! at `now` are in that heap, ordered as one big heap would order them, so
//! connections expire in the same order.

use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An expiry entry: deadline, slab generation, slab slot.
pub(crate) type Entry = (Timestamp, u32, u32);

/// Nanoseconds per bucket.
const BUCKET_NS: i64 = 1_000_000_000;

/// Buckets in the wheel: seconds ahead it covers (more than the longest timeout, 300 s).
const WHEEL: i64 = 1024;

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// Entries due in `current`'s second or earlier, in order.
    near: BinaryHeap<Reverse<Entry>>,
    /// Entries due in the seconds after `current`, up to `WHEEL` ahead, by second modulo `WHEEL`.
    wheel: Vec<Vec<Entry>>,
    /// Entries due later than the wheel reaches, in order.
    far: BinaryHeap<Reverse<Entry>>,
    /// The second `near` is up to; `None` until the first entry or clock tick.
    current: Option<i64>,
    /// Entries held.
    len: usize,
}

fn second(t: Timestamp) -> i64 {
    t.0.div_euclid(BUCKET_NS)
}

impl Timers {
    /// Entries held (stale ones included).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds an entry.
    pub(crate) fn push(&mut self, e: Entry) {
        let sec = second(e.0);
        let cur = *self.current.get_or_insert(sec);
        self.len += 1;
        self.place(cur, sec, e);
    }

    fn place(&mut self, cur: i64, sec: i64, e: Entry) {
        if sec <= cur {
            self.near.push(Reverse(e));
        } else if sec < cur.saturating_add(WHEEL) {
            if self.wheel.is_empty() {
                self.wheel = (0..WHEEL).map(|_| Vec::new()).collect();
            }
            if let Some(b) = self.wheel.get_mut(sec.rem_euclid(WHEEL) as usize) {
                b.push(e);
            }
        } else {
            self.far.push(Reverse(e));
        }
    }

    /// Moves the clock to `now`: every entry due at `now` or earlier is then in `near`.
    fn advance(&mut self, now: Timestamp) {
        let target = second(now);
        let Some(cur) = self.current else {
            self.current = Some(target);
            return;
        };
        if target <= cur {
            return;
        }
        // One pass over at most the whole wheel, however far time jumps.
        let steps = (target - cur).min(WHEEL);
        for k in 1..=steps {
            let sec = cur + k;
            if let Some(b) = self.wheel.get_mut(sec.rem_euclid(WHEEL) as usize) {
                for e in b.drain(..) {
                    self.near.push(Reverse(e));
                }
            }
        }
        self.current = Some(target);
        while let Some(&Reverse(e)) = self.far.peek() {
            let sec = second(e.0);
            if sec >= target.saturating_add(WHEEL) {
                break;
            }
            self.far.pop();
            self.place(target, sec, e);
        }
    }

    /// The earliest entry if it is due at `now` (after moving the clock there).
    pub(crate) fn peek_due(&mut self, now: Timestamp) -> Option<Entry> {
        self.advance(now);
        match self.near.peek() {
            Some(&Reverse(e)) if e.0 <= now => Some(e),
            _ => None,
        }
    }

    /// Removes the entry [`Timers::peek_due`] returned.
    pub(crate) fn pop(&mut self) {
        if self.near.pop().is_some() {
            self.len -= 1;
        }
    }

    /// Keeps only the entries `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        self.near.retain(|Reverse(e)| keep(e));
        self.far.retain(|Reverse(e)| keep(e));
        for b in &mut self.wheel {
            b.retain(&mut keep);
        }
        self.len =
            self.near.len() + self.far.len() + self.wheel.iter().map(Vec::len).sum::<usize>();
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        self.near.clear();
        self.far.clear();
        for b in &mut self.wheel {
            b.clear();
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random pushes (deadlines around a moving clock, some far ahead, some
    /// in the past, time jumps) and pops, against one big heap.
    #[test]
    fn pops_in_the_order_one_heap_gives() {
        let mut seed = 0x1234_5678_9abc_def1_u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut t = Timers::default();
        let mut oracle: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
        let mut now = 1_700_000_000 * BUCKET_NS;
        let mut popped = 0;
        for i in 0..200_000u32 {
            now += match rnd(1000) {
                0 => 5_000 * BUCKET_NS, // a jump past the wheel
                1..=20 => 3 * BUCKET_NS,
                _ => rnd(20_000_000) as i64,
            };
            let ahead = match rnd(10) {
                0 => -(rnd(5 * BUCKET_NS as u64) as i64),
                1 => 2_000 * BUCKET_NS + rnd(BUCKET_NS as u64) as i64,
                2..=4 => rnd(BUCKET_NS as u64) as i64,
                _ => rnd(300 * BUCKET_NS as u64) as i64,
            };
            let e = (Timestamp(now + ahead), rnd(50) as u32, i);
            t.push(e);
            oracle.push(Reverse(e));
            let now_t = Timestamp(now);
            loop {
                let want = match oracle.peek() {
                    Some(&Reverse(e)) if e.0 <= now_t => Some(e),
                    _ => None,
                };
                assert_eq!(t.peek_due(now_t), want, "entry {i}");
                if want.is_none() {
                    break;
                }
                t.pop();
                oracle.pop();
                popped += 1;
            }
            assert_eq!(t.len(), oracle.len());
            if i % 50_000 == 0 {
                t.retain(|e| e.2 % 3 != 0);
                oracle.retain(|Reverse(e)| e.2 % 3 != 0);
                assert_eq!(t.len(), oracle.len());
            }
        }
        assert!(popped > 100_000, "{popped}");
    }
}
