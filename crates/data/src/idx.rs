//! The IDX file format (LeCun et al., the MNIST / Fashion-MNIST distribution format):
//! reader and writer, raw or gzip-compressed.
//!
//! Layout (all integers big-endian):
//! - bytes 0..4: magic `0x00 0x00 T D`, `T` the element type (`0x08` = unsigned byte,
//!   the only type this crate reads), `D` the number of dimensions;
//!   so `0x00000803` for an `n × rows × cols` image file and `0x00000801` for a label
//!   file;
//! - bytes 4..4+4D: the dimensions, one `u32` each;
//! - then `Π dims` bytes of data, row-major (last index fastest), and nothing after.
//!
//! Files starting with the gzip magic `1f 8b` are decompressed first; byte offsets in
//! errors then count bytes of the decompressed stream. Every malformation (short file,
//! wrong magic, dimensions that disagree with the length) is a typed [`DataError`],
//! never a panic.

use std::io::{Read, Write};
use std::path::Path;

use crate::DataError;
use crate::io_util::{Cap, GZIP_MAGIC, read_capped};

/// Magic number of a `u8` IDX file with 3 dimensions (images `n × rows × cols`).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a `u8` IDX file with 1 dimension (labels `n`).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
/// IDX type code of unsigned bytes.
pub const IDX_TYPE_U8: u8 = 0x08;

/// Most data bytes (`Π dims`) an IDX file may announce: 1 GiB. The largest MNIST-format
/// set in use, EMNIST ByClass (697 932 images of 28×28, 547 MB), fits; an image file
/// becomes an `f64` matrix 8 times its size ([`crate::load_idx_pair`]). A header that
/// announces more is refused before any data are read or inflated, and a file (raw or
/// compressed) longer than [`MAX_IDX_FILE_BYTES`] before it is read.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// Most bytes an IDX file may hold on disk: [`MAX_IDX_BYTES`] plus 1/16 for the header
/// and for gzip's overhead on incompressible data (stored blocks add 5 bytes per 64 KiB).
pub const MAX_IDX_FILE_BYTES: u64 = MAX_IDX_BYTES + MAX_IDX_BYTES / 16;

/// The cap [`read_idx`] reads files under.
const IDX_FILE_CAP: Cap = Cap {
    limit: MAX_IDX_FILE_BYTES,
    name: "MAX_IDX_FILE_BYTES",
};

/// Which IDX file is expected: decides the accepted magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxKind {
    /// Images: magic [`IDX_IMAGES_MAGIC`], dimensions `[n, rows, cols]`.
    Images,
    /// Labels: magic [`IDX_LABELS_MAGIC`], dimensions `[n]`.
    Labels,
    /// Any `u8` IDX file: magic `0x000008DD` with any number of dimensions `DD`.
    AnyU8,
}

impl IdxKind {
    fn accepts(self, magic: u32) -> bool {
        match self {
            IdxKind::Images => magic == IDX_IMAGES_MAGIC,
            IdxKind::Labels => magic == IDX_LABELS_MAGIC,
            IdxKind::AnyU8 => magic >> 8 == u32::from(IDX_TYPE_U8),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            IdxKind::Images => "0x00000803 (u8 images, 3 dimensions)",
            IdxKind::Labels => "0x00000801 (u8 labels, 1 dimension)",
            IdxKind::AnyU8 => "0x000008DD (u8 data, DD dimensions)",
        }
    }
}

/// An IDX array of unsigned bytes: dimensions and row-major data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (e.g. `[n, rows, cols]`).
    pub dims: Vec<usize>,
    /// `Π dims` bytes, row-major (last index fastest).
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Encodes the array as an (uncompressed) IDX file.
    ///
    /// # Panics
    /// If `data.len() != Π dims`, if there are more than 255 dimensions or if a
    /// dimension exceeds `u32::MAX` (the message names the values).
    pub fn to_bytes(&self) -> Vec<u8> {
        let product: usize = self.dims.iter().product();
        assert_eq!(
            product,
            self.data.len(),
            "IdxArray::to_bytes: dims {:?} (product {product}) but data has {} bytes",
            self.dims,
            self.data.len()
        );
        let ndims = u8::try_from(self.dims.len()).unwrap_or_else(|_| {
            panic!(
                "IdxArray::to_bytes: {} dimensions, IDX allows at most 255",
                self.dims.len()
            )
        });
        let mut out = Vec::with_capacity(4 + 4 * self.dims.len() + self.data.len());
        out.extend_from_slice(&[0, 0, IDX_TYPE_U8, ndims]);
        for &d in &self.dims {
            let d = u32::try_from(d)
                .unwrap_or_else(|_| panic!("IdxArray::to_bytes: dimension {d} exceeds u32::MAX"));
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// The parsed header of an IDX stream: dimensions, header length and total length
/// (header plus `Π dims` data bytes) it announces.
struct Header {
    dims: Vec<u32>,
    header_len: usize,
    needed: u64,
}

/// Parses the header at the start of `bytes` (the data need not follow yet).
///
/// # Errors
/// [`DataError::Truncated`] when `bytes` ends inside the header, [`DataError::BadMagic`],
/// [`DataError::DimensionOverflow`], [`DataError::TooLarge`] above [`MAX_IDX_BYTES`].
fn parse_header(bytes: &[u8], file: &Path, kind: IdxKind) -> Result<Header, DataError> {
    let len = bytes.len() as u64;
    let truncated = |needed: u64| DataError::Truncated {
        file: file.to_path_buf(),
        offset: len,
        needed,
    };
    let Some(magic_bytes) = bytes.first_chunk::<4>() else {
        return Err(truncated(4));
    };
    let magic = u32::from_be_bytes(*magic_bytes);
    if !kind.accepts(magic) {
        return Err(DataError::BadMagic {
            file: file.to_path_buf(),
            found: magic,
            expected: kind.expected(),
        });
    }
    let ndims = usize::from(bytes[3]);
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(truncated(header_len as u64));
    }
    let dims: Vec<u32> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let overflow = || DataError::DimensionOverflow {
        file: file.to_path_buf(),
        dims: dims.clone(),
    };
    let mut product: u64 = 1;
    for &d in &dims {
        product = product.checked_mul(u64::from(d)).ok_or_else(overflow)?;
    }
    if product > MAX_IDX_BYTES {
        let cap = Cap {
            limit: MAX_IDX_BYTES,
            name: "MAX_IDX_BYTES",
        };
        return Err(cap.exceeded(file, "the header announces", product));
    }
    let needed = (header_len as u64)
        .checked_add(product)
        .ok_or_else(overflow)?;
    usize::try_from(needed).map_err(|_| overflow())?;
    Ok(Header {
        dims,
        header_len,
        needed,
    })
}

/// Parses an IDX stream already in memory (decompressed). `file` names it in errors.
///
/// # Errors
/// [`DataError::Truncated`] (header or data cut short), [`DataError::BadMagic`],
/// [`DataError::DimensionOverflow`], [`DataError::TooLarge`] (a header announcing more
/// than [`MAX_IDX_BYTES`]), [`DataError::TrailingBytes`] (bytes after the data the
/// dimensions announce).
pub fn parse_idx(bytes: &[u8], file: &Path, kind: IdxKind) -> Result<IdxArray, DataError> {
    let Header {
        dims,
        header_len,
        needed,
    } = parse_header(bytes, file, kind)?;
    let len = bytes.len() as u64;
    if len < needed {
        return Err(DataError::Truncated {
            file: file.to_path_buf(),
            offset: len,
            needed,
        });
    }
    if len > needed {
        return Err(DataError::TrailingBytes {
            file: file.to_path_buf(),
            offset: needed,
            extra: len - needed,
        });
    }
    Ok(IdxArray {
        // u32 → usize is lossless on the 32- and 64-bit targets Rust supports for std
        // here; the total length already fit in usize in `parse_header`.
        dims: dims.iter().map(|&d| d as usize).collect(),
        // `needed == len` fits in usize: it is the length of a slice.
        data: bytes[header_len..].to_vec(),
    })
}

/// Reads an IDX file, raw or gzip-compressed (detected by the magic `1f 8b`).
///
/// A file longer than [`MAX_IDX_FILE_BYTES`] is refused before it is read. A compressed
/// stream is inflated header first (a header announcing more than [`MAX_IDX_BYTES`] is
/// refused there), then only up to one byte past the length the header announces: memory
/// stays bounded by the announced size, whatever the stream would inflate to.
///
/// # Errors
/// [`DataError::Io`], [`DataError::TooLarge`], [`DataError::Gzip`],
/// [`DataError::TrailingData`] (a compressed stream longer than announced), and the
/// errors of [`parse_idx`].
pub fn read_idx(path: impl AsRef<Path>, kind: IdxKind) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    let raw = read_capped(path, IDX_FILE_CAP)?;
    decode_idx(&raw, path, kind)
}

/// [`parse_idx`] of `raw`, inflated first (as [`read_idx`] describes) if it starts with
/// the gzip magic. `file` names the source in errors.
pub(crate) fn decode_idx(raw: &[u8], file: &Path, kind: IdxKind) -> Result<IdxArray, DataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return parse_idx(raw, file, kind);
    }
    let mut stream = flate2::read::MultiGzDecoder::new(raw);
    let mut bytes = Vec::new();
    // `read_to_end` appends every byte read before an error, so `bytes.len()` is the
    // decompressed offset at which the stream failed.
    let mut inflate = |bytes: &mut Vec<u8>, up_to: u64| {
        let more = up_to.saturating_sub(bytes.len() as u64);
        (&mut stream)
            .take(more)
            .read_to_end(bytes)
            .map_err(|source| DataError::Gzip {
                file: file.to_path_buf(),
                offset: bytes.len() as u64,
                source,
            })
    };
    inflate(&mut bytes, 4)?;
    if let [_, _, _, ndims] = bytes[..] {
        inflate(&mut bytes, 4 + 4 * u64::from(ndims))?;
    }
    // refuses a header announcing more than MAX_IDX_BYTES before the data are inflated
    let needed = parse_header(&bytes, file, kind)?.needed;
    inflate(&mut bytes, needed.saturating_add(1))?;
    if bytes.len() as u64 > needed {
        return Err(DataError::TrailingData {
            file: file.to_path_buf(),
            offset: needed,
        });
    }
    parse_idx(&bytes, file, kind)
}

/// Writes `array` as an IDX file at `path`, gzip-compressed when `gzip` is `true`
/// (atomically: [`crate::io::write_atomic`]).
///
/// # Panics
/// As [`IdxArray::to_bytes`].
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray, gzip: bool) -> Result<(), DataError> {
    let path = path.as_ref();
    let io_err = |source| DataError::Io {
        file: path.to_path_buf(),
        source,
    };
    let raw = array.to_bytes();
    let bytes = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw).map_err(io_err)?;
        enc.finish().map_err(io_err)?
    } else {
        raw
    };
    crate::io::write_atomic(path, &bytes).map_err(|e| DataError::Io {
        file: e.path,
        source: e.source,
    })
}
