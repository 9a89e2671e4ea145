//! The same connection in the logs of two vantage points (two Zeek
//! deployments, one at the sync server and one at the DC), or in a log and
//! a capture: counted once, with both vantage points' bits.
//!
//! Captures are deduplicated packet by packet as they are merged
//! ([`crate::decode::Dedup`]); log rows have no packets, and a log is not
//! ordered by start time, so rows are held until every input is read: the
//! logs first, each row merged into a held row of another vantage point
//! that is the same connection, then the captures' connections, each taking
//! the bits of the held rows it matches (which are then dropped: a capture's
//! record, made from packets, is the better evidence); what is left is
//! handed on at the end.
//!
//! Two records are the same connection when their transport and endpoints
//! agree (in either direction: two sensors may disagree on who began a
//! connection whose first packet one of them missed), they come from
//! different vantage points, and they start less than [`NEAR`] apart.

use crate::read::merge::NEAR;
use crate::track::Connection;
use foldhash::{HashMap, HashMapExt};
use std::net::IpAddr;

/// Rows of one transport and endpoints a new record is compared with, newest
/// first: enough for two sensors' copies of the same few connections.
const MATCH_WINDOW: usize = 16;

/// A connection's transport and endpoints, lower endpoint first.
type FlowKey = (crate::decode::Transport, (IpAddr, u16), (IpAddr, u16));

fn key(c: &Connection) -> FlowKey {
    let (a, b) = ((c.orig_h, c.orig_p), (c.resp_h, c.resp_p));
    if a <= b {
        (c.proto, a, b)
    } else {
        (c.proto, b, a)
    }
}

/// One held row and the input it came from.
#[derive(Debug)]
struct Row {
    conn: Connection,
    input: usize,
}

/// Log rows held until the captures are read.
#[derive(Debug)]
pub struct HeldRows {
    rows: Vec<Option<Row>>,
    by_key: HashMap<FlowKey, Vec<u32>>,
    max: usize,
    /// More than `max` rows arrived: the rest were passed on unheld.
    full: bool,
    /// Per input: its records dropped as another input's.
    dropped: Vec<u64>,
}

impl HeldRows {
    /// Room for `max` rows; `inputs` is how many inputs there are in all.
    pub fn new(max: usize, inputs: usize) -> Self {
        HeldRows {
            rows: Vec::new(),
            by_key: HashMap::new(),
            max,
            full: false,
            dropped: vec![0; inputs],
        }
    }

    /// The held row that is the same connection as `c`: from another
    /// vantage point, or, for a capture's connection, from any (a sensor's
    /// own conn.log beside its capture shows the same connections).
    fn find(&self, c: &Connection, capture: bool) -> Option<usize> {
        let ids = self.by_key.get(&key(c))?;
        // The newest few only: rows of one 5-tuple (NTP between two servers,
        // syslog from a fixed port) can number millions, and each would
        // otherwise scan all before it.
        ids.iter()
            .rev()
            .take(MATCH_WINDOW)
            .map(|&i| i as usize)
            .find(|&i| {
                self.rows.get(i).and_then(Option::as_ref).is_some_and(|r| {
                    (capture || r.conn.inputs & c.inputs == 0)
                        && r.conn.ts.0.abs_diff(c.ts.0) < NEAR.0.unsigned_abs()
                })
            })
    }

    /// A log row of input `input`: merged into the held row of another vantage
    /// point that is the same connection, or held. Returned when it can be
    /// neither (the rows held are at their limit): pass it on at once.
    pub fn row(&mut self, c: Connection, input: usize) -> Option<Connection> {
        if let Some(i) = self.find(&c, false) {
            if let Some(Some(r)) = self.rows.get_mut(i) {
                r.conn.inputs |= c.inputs;
            }
            if let Some(n) = self.dropped.get_mut(input) {
                *n += 1;
            }
            return None;
        }
        if self.rows.len() >= self.max {
            self.full = true;
            return Some(c);
        }
        let id = self.rows.len() as u32;
        self.by_key.entry(key(&c)).or_default().push(id);
        self.rows.push(Some(Row { conn: c, input }));
        None
    }

    /// A capture's connection: takes the bits of every held row that is the
    /// same connection, and drops those rows.
    pub fn capture(&mut self, c: &mut Connection) {
        while let Some(i) = self.find(c, true) {
            if let Some(r) = self.rows.get_mut(i).and_then(Option::take) {
                c.inputs |= r.conn.inputs;
                if let Some(n) = self.dropped.get_mut(r.input) {
                    *n += 1;
                }
            }
        }
    }

    /// True when rows were passed on unheld, so not all were deduplicated.
    pub fn overflowed(&self) -> bool {
        self.full
    }

    /// The rows left, in the order they were held, and per input the records
    /// dropped as copies of another input's.
    pub fn finish(self) -> (impl Iterator<Item = Connection>, Vec<u64>) {
        (
            self.rows.into_iter().flatten().map(|r| r.conn),
            self.dropped,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::track::input_bit;

    fn conn(ms: i64, orig: [u8; 4], resp: [u8; 4], port: u16, vantage: usize) -> Connection {
        Connection {
            inputs: input_bit(vantage),
            ..Connection::unanswered_syn(Timestamp(ms * 1_000_000), orig.into(), resp.into(), port)
        }
    }

    const A: [u8; 4] = [10, 0, 1, 10];
    const B: [u8; 4] = [10, 0, 0, 4];

    #[test]
    fn a_row_both_logs_show_is_held_once_with_both_bits() {
        let mut h = HeldRows::new(10, 3);
        assert!(h.row(conn(0, A, B, 636, 0), 0).is_none());
        // The other sensor's row, 300 ms later and seen the other way round.
        let mut other = conn(300, B, A, 0, 1);
        (other.orig_p, other.resp_p) = (636, 50000);
        assert!(h.row(other, 1).is_none());
        // The same sensor again: a new connection of the same 5-tuple, not a copy.
        assert!(h.row(conn(500, A, B, 636, 0), 0).is_none());
        // Another sensor, but far apart in time: another connection.
        assert!(h.row(conn(5_000, A, B, 636, 2), 2).is_none());
        let (rows, dropped) = h.finish();
        let rows: Vec<Connection> = rows.collect();
        assert_eq!(dropped, vec![0, 1, 0]);
        let bits: Vec<u16> = rows.iter().map(|c| c.inputs).collect();
        assert_eq!(bits, vec![0b011, 0b001, 0b100]);
    }

    #[test]
    fn many_rows_of_one_5_tuple_are_compared_with_the_newest_few() {
        // 100 000 rows of one 5-tuple from one sensor: each is checked
        // against at most MATCH_WINDOW others (this would take minutes
        // otherwise), and the other sensor's copy of the last one still
        // finds it.
        let mut h = HeldRows::new(200_000, 2);
        for i in 0..100_000 {
            assert!(h.row(conn(i * 10_000, A, B, 123, 0), 0).is_none());
        }
        assert!(h.row(conn(99_999 * 10_000 + 5, A, B, 123, 1), 1).is_none());
        let (rows, dropped) = h.finish();
        assert_eq!((rows.count(), dropped), (100_000, vec![0, 1]));
    }

    #[test]
    fn a_capture_takes_the_rows_it_matches_and_the_limit_passes_rows_on() {
        let mut h = HeldRows::new(2, 3);
        assert!(h.row(conn(0, A, B, 636, 1), 1).is_none());
        assert!(h.row(conn(0, A, B, 389, 1), 1).is_none());
        let past = h.row(conn(0, A, B, 88, 1), 1);
        assert!(past.is_some() && h.overflowed());
        let mut cap = conn(1, A, B, 636, 0);
        h.capture(&mut cap);
        assert_eq!(cap.inputs, 0b011);
        // Nothing matches 2 s or more apart.
        let mut late = conn(2_001, A, B, 389, 0);
        h.capture(&mut late);
        assert_eq!(late.inputs, 0b001);
        // A sensor's capture and its own log show the same connection.
        let mut same = conn(1, A, B, 389, 1);
        h.capture(&mut same);
        assert_eq!(same.inputs, 0b010);
        let (rows, dropped) = h.finish();
        assert_eq!((rows.count(), dropped), (0, vec![0, 2, 0]));
    }
}
