//! The addon's allocator on Linux: the system's, except that blocks of 512 KiB and more are
//! mapped and unmapped on their own. glibc serves such blocks from its heap once it has seen
//! one freed, and a heap only shrinks from its top: a buffer that lives long (one kept in
//! `crate::pool`, one JS still holds) pins everything freed below it. Measured on a 2 GiB
//! import: 96 MiB above an idle Node with glibc's heap, 66-71 MiB mapped, as fast. Smaller
//! blocks stay with glibc: mapping the compressor's state of every deflate block (a few
//! blocks of 64-256 KiB) made an export 30% slower.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

const LARGE: usize = crate::pool::MIN_POOLED;
const PAGE: usize = 4096;

pub struct MappingAllocator;

fn mapped(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

fn rounded(size: usize) -> usize {
    size.div_ceil(PAGE) * PAGE
}

unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; no memory of ours is touched.
    let p = unsafe {
        libc::mmap(ptr::null_mut(), rounded(size), libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

unsafe fn unmap(p: *mut u8, size: usize) {
    // SAFETY: `p` and `size` are those of a block `map` returned (GlobalAlloc's contract).
    unsafe { libc::munmap(p.cast(), rounded(size)) };
}

// SAFETY: every block is returned to the path that allocated it: `mapped` depends only on
// the layout, and GlobalAlloc hands `dealloc` and `realloc` the layout the block has.
unsafe impl GlobalAlloc for MappingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            unsafe { map(layout.size()) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            unsafe { map(layout.size()) } // fresh mappings read as zeros
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if mapped(&layout) {
            unsafe { unmap(p, layout.size()) }
        } else {
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `new_size` is non-zero and valid for the alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (mapped(&layout), mapped(&new_layout)) {
            (false, false) => unsafe { System.realloc(p, layout, new_size) },
            (true, true) => {
                let q = unsafe { libc::mremap(p.cast(), rounded(layout.size()), rounded(new_size), libc::MREMAP_MAYMOVE) };
                if q == libc::MAP_FAILED {
                    ptr::null_mut()
                } else {
                    q.cast()
                }
            }
            _ => {
                let q = unsafe { self.alloc(new_layout) };
                if !q.is_null() {
                    unsafe {
                        ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                }
                q
            }
        }
    }
}
