//! How far a long apply, import or export has got: counters the work adds to as it goes and a
//! progress display reads from another thread.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Tally {
    rows: AtomicU64,
    bytes: AtomicU64,
    /// The rows the work will read, when known (0: unknown).
    total_rows: AtomicU64,
}

impl Tally {
    /// Starts a new piece of work of `total_rows` (0 when unknown).
    pub fn start(&self, total_rows: u64) {
        self.rows.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.total_rows.store(total_rows, Ordering::Relaxed);
    }

    pub fn add(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Where the counters stand, for [`Tally::rewind`].
    pub fn mark(&self) -> (u64, u64) {
        (self.rows(), self.bytes())
    }

    /// Takes back what was added since `mark`: work that was rolled back and will be done again
    /// (a batch of packets applied once more one by one) is not counted twice.
    pub fn rewind(&self, (rows, bytes): (u64, u64)) {
        self.rows.store(rows, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn total_rows(&self) -> u64 {
        self.total_rows.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn work_taken_back_is_not_counted_twice() {
        let tally = Tally::default();
        tally.start(30);
        tally.add(10, 100);
        let mark = tally.mark();
        tally.add(20, 200); // a batch, rolled back
        tally.rewind(mark);
        tally.add(20, 200); // the same packets again, one by one
        assert_eq!((tally.rows(), tally.bytes()), (30, 300));
    }
}
