//! Non-temporal copies, for the mirror of large symmetric Gram matrices (plres-kernels):
//! the destination is written once and not read back soon, so streaming it skips the
//! read-for-ownership of every cache line.

/// `dst ← src` with non-temporal (cache-bypassing) stores for the 16-byte-aligned part
/// on x86-64, a plain copy elsewhere. Call [`store_fence`] before the data is read by
/// another thread.
///
/// # Panics
/// If the lengths differ.
pub fn stream_copy(dst: &mut [f64], src: &[f64]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "stream_copy: dst and src lengths differ"
    );
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_pd, _mm_stream_pd};
        let len = dst.len();
        let head = dst.as_ptr().align_offset(16).min(len);
        let body_end = head + (len - head) / 2 * 2;
        dst[..head].copy_from_slice(&src[..head]);
        let mut k = head;
        while k < body_end {
            // SAFETY: k + 2 ≤ body_end ≤ len, so both pairs are in bounds of their
            // slices; `dst + k` is 16-byte aligned (head aligns it, k − head is even), as
            // `_mm_stream_pd` requires; `_mm_loadu_pd` needs no alignment; SSE2 is part
            // of x86-64.
            unsafe {
                _mm_stream_pd(dst.as_mut_ptr().add(k), _mm_loadu_pd(src.as_ptr().add(k)));
            }
            k += 2;
        }
        dst[body_end..].copy_from_slice(&src[body_end..]);
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

/// Orders earlier non-temporal stores before later stores (`sfence`).
pub fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions beyond SSE, which x86-64 always has.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming copy copies, whatever the alignment and length.
    #[test]
    fn stream_copy_copies() {
        let src: Vec<f64> = (0..37).map(f64::from).collect();
        for start in 0..3 {
            for len in 0..30 {
                let mut dst = vec![-1.0; 40];
                stream_copy(&mut dst[start..start + len], &src[..len]);
                store_fence();
                assert_eq!(&dst[start..start + len], &src[..len]);
                assert!(
                    dst[..start]
                        .iter()
                        .chain(&dst[start + len..])
                        .all(|&v| v == -1.0)
                );
            }
        }
    }
}
