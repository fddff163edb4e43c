//! Large output buffers kept for reuse. A stream of output handed to JS in fresh MiB-sized
//! allocations spends more time in page faults than in inflating: glibc gives the memory back
//! to the kernel and every new MiB is faulted in and zeroed again. Buffers that JS is done
//! with come back here (the binding's finalizer) and serve the next steps, already resident.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Smaller buffers are served well by the allocator's own free lists (the binding maps
/// blocks from this size up on their own: `node/alloc.rs`).
pub const MIN_POOLED: usize = 512 * 1024;
/// Larger buffers are not kept: they are rare and would hold a lot of memory each.
const MAX_POOLED: usize = 4 << 20;
/// What the pool may hold in all, resident. V8 frees external buffers in batches after each
/// collection; this carries an import from one batch to the next. Measured on a 2 GiB import:
/// 1.9 s with 32 MiB, 2.7 s with 16. Compressed output (an export's) is not returned here (`free`).
const POOL_BYTES: usize = 32 << 20;
/// How long the pool keeps buffers nobody asks for: a server done with its exports gives the
/// memory back, where V8 may not collect anything for a long while.
const IDLE_RELEASE: Duration = Duration::from_secs(2);

pub struct Pool {
    /// Oldest first.
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    limit: usize,
    /// Whether buffers were taken since JS last returned some, and the fewest bytes the pool
    /// held since the first of those takes.
    taking: bool,
    low: usize,
    last_take: Option<Instant>,
    /// Let go of, for the pool's thread to free.
    to_free: Vec<Vec<u8>>,
}

impl Pool {
    pub const fn new(limit: usize) -> Self {
        Pool { buffers: Vec::new(), bytes: 0, limit, taking: false, low: 0, last_take: None, to_free: Vec::new() }
    }

    /// A buffer with room for `capacity` bytes and not over twice that, which `fit` would
    /// copy out of again. The most recently given one that fits: its pages are warmest.
    fn take(&mut self, capacity: usize) -> Option<Vec<u8>> {
        self.last_take = Some(Instant::now());
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
    /// between two collections: that goes back to the system, oldest first. An import alone
    /// reuses all of it; less when other garbage brings the collections sooner. Returns what
    /// it lets go of.
    fn returned(&mut self, buffer: Vec<u8>) -> Vec<Vec<u8>> {
        let idle = if self.taking { self.low } else { 0 };
        self.taking = false;
        let released = self.let_go(idle);
        self.give(buffer);
        released
    }

    /// Everything, when nothing was taken for `IDLE_RELEASE` before `now`.
    fn release_if_idle(&mut self, now: Instant) -> Vec<Vec<u8>> {
        if self.last_take.is_some_and(|t| now.saturating_duration_since(t) < IDLE_RELEASE) {
            return Vec::new();
        }
        self.let_go(usize::MAX)
    }

    /// The oldest buffers, up to `bytes` in all, for the caller to drop outside the lock.
    fn let_go(&mut self, mut bytes: usize) -> Vec<Vec<u8>> {
        let mut released = Vec::new();
        let mut i = 0;
        while i < self.buffers.len() {
            if self.buffers[i].capacity() <= bytes {
                bytes -= self.buffers[i].capacity();
                self.bytes -= self.buffers[i].capacity();
                released.push(self.buffers.remove(i));
            } else {
                i += 1;
            }
        }
        released
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
/// Signalled when the pool stops being empty or has buffers to free.
static WAKE: Condvar = Condvar::new();

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps a buffer the way `how` does. What that lets go of is freed by the pool's thread
/// (started the first time), not by the caller, which is often the JS thread running V8's
/// finalizers: unmapping a collection's worth of MiB buffers took it milliseconds.
fn keep(buffer: Vec<u8>, how: impl FnOnce(&mut Pool, Vec<u8>) -> Vec<Vec<u8>>) {
    static RELEASER: OnceLock<bool> = OnceLock::new();
    let has_thread = *RELEASER.get_or_init(|| {
        // Without the thread the pool keeps its buffers longer and frees on the caller's thread.
        std::thread::Builder::new().name("backup-native pool".into()).spawn(free_and_release_when_idle).is_ok()
    });
    let mut pool = pool();
    let was_empty = pool.buffers.is_empty();
    let mut released = how(&mut pool, buffer);
    let wake = has_thread && ((was_empty && !pool.buffers.is_empty()) || !released.is_empty());
    if has_thread {
        pool.to_free.append(&mut released);
    }
    drop(pool);
    drop(released);
    if wake {
        WAKE.notify_one();
    }
}

/// Frees what the pool lets go of, and empties the pool whenever nothing was taken from it
/// for `IDLE_RELEASE`; sleeps while there is nothing to do.
fn free_and_release_when_idle() {
    let mut pool = pool();
    loop {
        let mut released = std::mem::take(&mut pool.to_free);
        released.extend(pool.release_if_idle(Instant::now()));
        if !released.is_empty() {
            drop(pool);
            drop(released);
            pool = self::pool();
            continue;
        }
        pool = if pool.buffers.is_empty() {
            WAKE.wait(pool).unwrap_or_else(PoisonError::into_inner)
        } else {
            WAKE.wait_timeout(pool, IDLE_RELEASE).unwrap_or_else(PoisonError::into_inner).0
        };
    }
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
        keep(buffer, |pool, buffer| {
            pool.give(buffer);
            Vec::new()
        });
    }
}

/// Returns a buffer handed out to JS, once V8 has collected it (see `Pool::returned`).
pub fn returned(buffer: Vec<u8>) {
    if buffer.capacity() >= MIN_POOLED {
        keep(buffer, Pool::returned);
    }
}

/// Frees a buffer handed out to JS that is not for reuse, on the pool's thread as what the
/// pool lets go of.
pub fn free(buffer: Vec<u8>) {
    if buffer.capacity() >= MIN_POOLED {
        keep(buffer, |_, buffer| vec![buffer]);
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
    fn an_idle_pool_lets_go_of_everything() {
        let mut pool = Pool::new(MIN_POOLED * 8);
        for _ in 0..3 {
            pool.give(Vec::with_capacity(MIN_POOLED));
        }
        let start = Instant::now();
        assert_eq!(pool.release_if_idle(start).len(), 3, "nothing was ever taken");
        for _ in 0..3 {
            pool.give(Vec::with_capacity(MIN_POOLED));
        }
        let taken = pool.take(MIN_POOLED).unwrap();
        let since = pool.last_take.unwrap();
        assert!(pool.release_if_idle(since + IDLE_RELEASE / 2).is_empty(), "in use");
        assert_eq!(pool.bytes, MIN_POOLED * 2);
        pool.give(taken);
        assert_eq!(pool.release_if_idle(since + IDLE_RELEASE).len(), 3);
        assert_eq!((pool.bytes, pool.buffers.len()), (0, 0));
    }

    #[test]
    fn what_is_not_for_reuse_is_freed_without_waiting_for_more() {
        let buffer = Vec::with_capacity(MIN_POOLED);
        let ptr = buffer.as_ptr();
        free(buffer);
        assert!(!pool().buffers.iter().any(|b| b.as_ptr() == ptr), "kept for reuse");
        // Other tests share the pool; whatever they leave to free goes the same way.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pool().to_free.is_empty() {
            assert!(Instant::now() < deadline, "nothing freed the released buffer");
            std::thread::sleep(Duration::from_millis(1));
        }
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
