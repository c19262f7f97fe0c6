//! Reading files that may be gzip-compressed (detected by the magic bytes `1f 8b`), with
//! a cap on how much is read or inflated: a small file never expands into more memory
//! than its format allows.

use std::io::Read;
use std::path::Path;

use faer::Mat;

use crate::DataError;

/// The two bytes every gzip member starts with (RFC 1952 §2.3.1).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A cap on the bytes a reader accepts: the limit and the name it is documented under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cap {
    /// Most bytes accepted.
    pub limit: u64,
    /// The public constant that documents it (named in errors).
    pub name: &'static str,
}

impl Cap {
    /// The error for `size` bytes over the cap, `what` saying whose size it is.
    pub(crate) fn exceeded(self, file: &Path, what: &'static str, size: u64) -> DataError {
        DataError::TooLarge {
            file: file.to_path_buf(),
            what,
            size,
            limit: self.limit,
            limit_name: self.name,
        }
    }
}

/// Reads `path` whole, refusing a file longer than `cap` before reading it.
pub(crate) fn read_capped(path: &Path, cap: Cap) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        file: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > cap.limit {
        return Err(cap.exceeded(path, "the file holds", len));
    }
    let mut out = Vec::new();
    // the length is a hint: the file may change while it is read, the cap still holds
    out.try_reserve_exact(usize::try_from(len).unwrap_or(0))
        .map_err(|_| cap.exceeded(path, "the file holds", len))?;
    file.take(cap.limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() as u64 > cap.limit {
        return Err(cap.exceeded(path, "the file grew while read to", out.len() as u64));
    }
    Ok(out)
}

/// Reads `path` ([`read_capped`]) and decompresses it if it starts with the gzip magic
/// ([`decode_maybe_gzip`]); both the file and its decompressed content are capped.
pub(crate) fn read_maybe_gzip(path: &Path, cap: Cap) -> Result<Vec<u8>, DataError> {
    let raw = read_capped(path, cap)?;
    decode_maybe_gzip(raw, path, cap)
}

/// Decompresses `raw` if it starts with the gzip magic, else returns it unchanged.
/// Inflation stops one byte past `cap`: a stream that inflates further is refused with
/// [`DataError::TooLarge`] without being inflated in full. `file` names the source in
/// errors.
pub(crate) fn decode_maybe_gzip(raw: Vec<u8>, file: &Path, cap: Cap) -> Result<Vec<u8>, DataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        if raw.len() as u64 > cap.limit {
            return Err(cap.exceeded(file, "the data hold", raw.len() as u64));
        }
        return Ok(raw);
    }
    let mut out = Vec::new();
    // `read_to_end` appends every byte read before an error, so `out.len()` is the
    // decompressed offset at which the stream failed.
    flate2::read::MultiGzDecoder::new(&raw[..])
        .take(cap.limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            file: file.to_path_buf(),
            offset: out.len() as u64,
            source,
        })?;
    if out.len() as u64 > cap.limit {
        return Err(cap.exceeded(file, "the stream inflates to at least", out.len() as u64));
    }
    Ok(out)
}

/// `n × d` pixels `data[i·d + j] / 255` (row-major bytes) as an `f64` matrix, allocated
/// fallibly: the one conversion of the IDX image readers.
///
/// # Errors
/// [`DataError::OutOfMemory`] naming `file` when the `8·n·d` bytes cannot be allocated.
pub(crate) fn pixels(n: usize, d: usize, data: &[u8], file: &Path) -> Result<Mat<f64>, DataError> {
    debug_assert_eq!(n.checked_mul(d), Some(data.len()), "pixels: {n}×{d}");
    let oom = || DataError::OutOfMemory {
        file: file.to_path_buf(),
        bytes: (data.len() as u64).saturating_mul(8),
    };
    let mut x = Mat::new();
    x.try_reserve(n, d).map_err(|_| oom())?;
    x.resize_with(n, d, |i, j| f64::from(data[i * d + j]) / 255.0);
    Ok(x)
}
