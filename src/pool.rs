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
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    limit: usize,
}

impl Pool {
    pub const fn new(limit: usize) -> Self {
        Pool { buffers: Vec::new(), bytes: 0, limit }
    }

    /// A buffer with room for `capacity` bytes and not over twice that, which `fit` would
    /// copy out of again.
    fn take(&mut self, capacity: usize) -> Option<Vec<u8>> {
        let fits = |b: &Vec<u8>| b.capacity() >= capacity && b.capacity() / 2 <= capacity;
        let i = self.buffers.iter().rposition(fits)?;
        let buffer = self.buffers.swap_remove(i);
        self.bytes -= buffer.capacity();
        Some(buffer)
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
    fn small_results_are_copied_out_of_large_buffers() {
        let mut b = Vec::with_capacity(MIN_POOLED * 4);
        b.extend_from_slice(&[7; 100]);
        let fitted = fit(b);
        assert_eq!(fitted, vec![7; 100]);
        assert!(fitted.capacity() < MIN_POOLED);
    }
}
