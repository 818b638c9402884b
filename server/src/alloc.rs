//! The server's allocator. Serving and rendering make many small, short-lived
//! allocations on every worker thread, which mimalloc serves at a fraction
//! of glibc's cost (half a page render's time went to glibc's malloc). Blocks
//! of 1 MiB and more (argon2's 19 MiB per hash) go to the system allocator
//! instead, which maps them and unmaps them when freed
//! (`cli::return_large_allocations`), so that a node does not keep the
//! memory it hashed with.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// From this size on, a block is the system's.
const LARGE: usize = 1024 * 1024;

pub struct Allocator;

fn is_large(layout: Layout) -> bool {
    layout.size() >= LARGE
}

// SAFETY: every block is freed, resized or zeroed by the allocator that
// made it: which one is decided by the size in its layout, which the caller
// passes unchanged to `dealloc` and `realloc` (the `GlobalAlloc` contract).
// A resize across the threshold moves the block between the two.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) {
            System.alloc(layout)
        } else {
            MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) {
            System.alloc_zeroed(layout)
        } else {
            MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout) {
            System.dealloc(ptr, layout)
        } else {
            MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout), new_size >= LARGE) {
            (true, true) => System.realloc(ptr, layout, new_size),
            (false, false) => MiMalloc.realloc(ptr, layout, new_size),
            _ => {
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_keeps_its_bytes_when_resized_across_the_threshold() {
        let small = Layout::from_size_align(1000, 8).expect("a valid layout");
        let pattern = |i: usize| (i % 251) as u8;
        // SAFETY: each pointer is used within the size it was last given, and
        // freed once with the layout it was last resized to.
        unsafe {
            let ptr = Allocator.alloc(small);
            assert!(!ptr.is_null());
            for i in 0..1000 {
                *ptr.add(i) = pattern(i);
            }
            let large = Allocator.realloc(ptr, small, 2 * LARGE);
            assert!(!large.is_null());
            assert!((0..1000).all(|i| *large.add(i) == pattern(i)));
            let large_layout = Layout::from_size_align(2 * LARGE, 8).expect("a valid layout");
            let back = Allocator.realloc(large, large_layout, 500);
            assert!(!back.is_null());
            assert!((0..500).all(|i| *back.add(i) == pattern(i)));
            Allocator.dealloc(
                back,
                Layout::from_size_align(500, 8).expect("a valid layout"),
            );
        }
    }
}
