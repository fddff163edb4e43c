//! Large output buffers kept for reuse. A stream of output handed to JS in fresh MiB-sized
//! allocations spends more time in page faults than in inflating: glibc gives the memory back
//! to the kernel and every new MiB is faulted in and zeroed again. Buffers that JS is done
//! with come back here (the binding's finalizer) and serve the next steps, already resident.

use std::sync::Mutex;

/// Smaller buffers are served well by the allocator's own free lists (the binding maps
/// blocks from this size up on their own: `node/alloc.rs`).
pub const MIN_POOLED: usize = 512 * 1024;
/// Larger buffers are not kept: they are rare and would hold a lot of memory each.
const MAX_POOLED: usize = 4 << 20;
/// What the pool may hold in all, resident. V8 frees external buffers in batches after each
/// collection; this carries an import from one batch to the next. Measured on a 2 GiB import:
/// 1.9 s with 32 MiB, 2.7 s with 16; the 2 GiB export's peak RSS is about 16 MiB higher.
const POOL_BYTES: usize = 32 << 20;

pub struct Pool {
    /// Oldest first.
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    limit: usize,
    /// Whether buffers were taken since JS last returned some, and the fewest bytes the pool
    /// held since the first of those takes.
    taking: bool,
    low: usize,
}

impl Pool {
    pub const fn new(limit: usize) -> Self {
        Pool { buffers: Vec::new(), bytes: 0, limit, taking: false, low: 0 }
    }

    /// A buffer with room for `capacity` bytes and not over twice that, which `fit` would
    /// copy out of again. The most recently given one that fits: its pages are warmest.
    fn take(&mut self, capacity: usize) -> Option<Vec<u8>> {
        if !self.taking {
            self.taking = true;
            self.low = self.bytes;
        }
        let fits = |b: &Vec<u8>| b.capacity() >= capacity && b.capacity() / 2 <= capacity;
        let i = self.buffers.iter().rposition(fits)?;
        let buffer = self.buffers.remove(i);
        self.bytes -= buffer.capacity();
        self.low = self.low.min(self.bytes);
        Some(buffer)
    }

    /// A buffer V8 collected. They come back in bursts, one after each collection, and
    /// what the pool held all along since the previous burst was more than the work reuses
    /// between two collections: that goes back to the system, oldest first. An import reuses
    /// all of it; an export, whose sources' own garbage brings collections twice as often,
    /// about half (and a staged dump's drain leaves 1 MiB buffers that its next entries,
    /// sized a little larger, never take).
    fn returned(&mut self, buffer: Vec<u8>) {
        if self.taking {
            self.taking = false;
            let mut idle = self.low;
            self.buffers.retain(|b| {
                let keep = b.capacity() > idle;
                if !keep {
                    idle -= b.capacity();
                }
                keep
            });
            self.bytes = self.buffers.iter().map(Vec::capacity).sum();
        }
        self.give(buffer);
    }

    fn give(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if (MIN_POOLED..=MAX_POOLED).contains(&capacity) && self.bytes + capacity <= self.limit {
            buffer.clear();
            self.bytes += capacity;
            self.buffers.push(buffer);
        }
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new(POOL_BYTES));

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

/// An empty buffer with room for at least `capacity` bytes, reused when the pool has one of
/// about that size.
pub fn take(capacity: usize) -> Vec<u8> {
    if capacity >= MIN_POOLED {
        if let Some(buffer) = pool().take(capacity) {
            return buffer;
        }
    }
    Vec::with_capacity(capacity)
}

/// Returns a buffer nobody reads any more; kept if the pool has room for it.
pub fn give(buffer: Vec<u8>) {
    if buffer.capacity() >= MIN_POOLED {
        pool().give(buffer);
    }
}

/// Returns a buffer handed out to JS, once V8 has collected it (see `Pool::returned`).
pub fn returned(buffer: Vec<u8>) {
    if buffer.capacity() >= MIN_POOLED {
        pool().returned(buffer);
    }
}

/// Appends `piece` to `out`; the piece's buffer goes back to the pool.
pub fn append(out: &mut Vec<u8>, piece: Vec<u8>) {
    out.extend_from_slice(&piece);
    give(piece);
}

/// `buffer` ready to be handed out for good: a small result in a large pooled buffer is
/// copied out, so whoever keeps it does not keep the whole allocation, and the large one
/// goes back to the pool.
pub fn fit(buffer: Vec<u8>) -> Vec<u8> {
    if buffer.capacity() >= MIN_POOLED && buffer.len() < buffer.capacity() / 2 {
        let small = buffer.to_vec();
        give(buffer);
        return small;
    }
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_empty_within_the_limit() {
        let mut pool = Pool::new(MIN_POOLED * 3);
        let mut b = Vec::with_capacity(MIN_POOLED * 2);
        b.extend_from_slice(b"left over");
        let ptr = b.as_ptr();
        pool.give(b);
        pool.give(Vec::with_capacity(MIN_POOLED * 2)); // over the limit: dropped
        pool.give(Vec::with_capacity(MIN_POOLED / 2)); // too small to keep
        assert!(pool.take(MIN_POOLED * 3).is_none()); // too small
        assert!(pool.take(MIN_POOLED / 2).is_none()); // more than twice what is asked
        let taken = pool.take(MIN_POOLED).unwrap();
        assert_eq!((taken.as_ptr(), taken.len()), (ptr, 0));
        assert!(pool.take(MIN_POOLED).is_none());
    }

    #[test]
    fn what_stayed_idle_between_two_returns_from_js_is_let_go() {
        let mut pool = Pool::new(MIN_POOLED * 8);
        for _ in 0..4 {
            pool.give(Vec::with_capacity(MIN_POOLED));
        }
        // One buffer used between two collections: the three that stayed go at the next return.
        let used = pool.take(MIN_POOLED).unwrap();
        let copied_out = pool.take(MIN_POOLED).unwrap();
        pool.give(copied_out); // given back at once (`fit`): still a use
        pool.returned(used);
        assert_eq!((pool.buffers.len(), pool.bytes), (2, MIN_POOLED * 2));
        // All of it used between two collections, as an import does: nothing is let go.
        let taken = [pool.take(MIN_POOLED).unwrap(), pool.take(MIN_POOLED).unwrap()];
        for buffer in taken {
            pool.returned(buffer);
        }
        assert_eq!((pool.buffers.len(), pool.bytes), (2, MIN_POOLED * 2));
        // Returns with nothing taken in between (one collection's burst) let go of nothing.
        pool.returned(Vec::with_capacity(MIN_POOLED));
        assert_eq!(pool.bytes, MIN_POOLED * 3);
    }

    #[test]
    fn small_results_are_copied_out_of_large_buffers() {
        let mut b = Vec::with_capacity(MIN_POOLED * 4);
        b.extend_from_slice(&[7; 100]);
        let fitted = fit(b);
        assert_eq!(fitted, vec![7; 100]);
        assert!(fitted.capacity() < MIN_POOLED);
    }
}
