//! Reading files that may be gzip-compressed (detected by the magic bytes `1f 8b`).

use std::io::Read;
use std::path::Path;

use crate::DataError;

/// The two bytes every gzip member starts with (RFC 1952 §2.3.1).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path` and decompresses it if it starts with the gzip magic.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    decode_maybe_gzip(raw, path)
}

/// Decompresses `raw` if it starts with the gzip magic, else returns it unchanged.
/// `file` names the source in errors.
pub(crate) fn decode_maybe_gzip(raw: Vec<u8>, file: &Path) -> Result<Vec<u8>, DataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    // `read_to_end` appends every byte read before an error, so `out.len()` is the
    // decompressed offset at which the stream failed.
    match flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(source) => Err(DataError::Gzip {
            file: file.to_path_buf(),
            offset: out.len() as u64,
            source,
        }),
    }
}
