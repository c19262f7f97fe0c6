//! The UCI optical-recognition handwritten digits, embedded, and a CSV reader for it.
//!
//! 1797 samples, 64 features (an 8×8 image, pixel counts `0..=16`, row-major), labels
//! `0..=9`. The file is the copy shipped in the scikit-learn wheel
//! (`sklearn/datasets/data/digits.csv.gz`), vendored at `data/digits.csv.gz`; origin,
//! citation (Alpaydin & Kaynak 1998, UCI ML repository), licence and checksum are in
//! `data/README.md`. Format: one sample per line, 65 comma-separated numbers, the last
//! one the label.

use std::path::Path;

use faer::Mat;

use crate::io_util::{Cap, decode_maybe_gzip, read_maybe_gzip};
use crate::{DataError, Dataset, Targets};

/// The vendored `data/digits.csv.gz`, compiled into the crate.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../data/digits.csv.gz");

/// The name errors use for the embedded file: its path in the repository.
pub const DIGITS_EMBEDDED_NAME: &str = "data/digits.csv.gz";

/// Number of samples in the digits dataset.
pub const DIGITS_N_SAMPLES: usize = 1797;
/// Number of features (8×8 pixels).
pub const DIGITS_N_FEATURES: usize = 64;
/// Number of classes (digits 0–9).
pub const DIGITS_N_CLASSES: usize = 10;
/// Samples per class `0..=9`, counted in the vendored file (sum 1797).
pub const DIGITS_CLASS_COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

/// Most bytes a CSV file read by path may hold, on disk and after decompression: 64 MiB.
/// The vendored digits file inflates to 265 kB (147 bytes a sample), so the full UCI set
/// (5620 samples) is about 0.8 MB: the maximum is 80 times any digits file, and a small
/// gzip file that would inflate to gigabytes is refused after inflating 64 MiB
/// ([`DataError::TooLarge`]).
pub const MAX_CSV_BYTES: u64 = 64 << 20;

/// The cap CSV files are read and inflated under.
const CSV_CAP: Cap = Cap {
    limit: MAX_CSV_BYTES,
    name: "MAX_CSV_BYTES",
};

/// The embedded digits: `x` is `1797 × 64` with the raw pixel counts `0..=16` (no
/// scaling: see [`crate::Standardizer`]), `y` the labels `0..=9` (10 classes).
///
/// Errors only if the embedded bytes were corrupted (it is the same parser as
/// [`load_digits_from_path`]).
///
/// ```
/// let ds = plres_data::load_digits()?;
/// assert_eq!((ds.n_samples(), ds.d_in()), (1797, 64));
/// # Ok::<(), plres_data::DataError>(())
/// ```
pub fn load_digits() -> Result<Dataset, DataError> {
    let bytes = decode_maybe_gzip(
        DIGITS_CSV_GZ.to_vec(),
        Path::new(DIGITS_EMBEDDED_NAME),
        CSV_CAP,
    )?;
    parse_labelled_csv(
        &bytes,
        Path::new(DIGITS_EMBEDDED_NAME),
        DIGITS_N_FEATURES,
        DIGITS_N_CLASSES,
    )
}

/// Reads a digits file in the same format (`.csv` or `.csv.gz`, gzip detected by the
/// magic bytes `1f 8b`): 64 features then a label in `0..10` per line.
///
/// # Errors
/// [`DataError::Io`]; [`DataError::TooLarge`] for a file, or a decompressed stream, above
/// [`MAX_CSV_BYTES`] (a compressed stream is inflated at most one byte past it);
/// [`DataError::Gzip`]; the errors of [`parse_labelled_csv`].
pub fn load_digits_from_path(path: impl AsRef<Path>) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let bytes = read_maybe_gzip(path, CSV_CAP)?;
    parse_labelled_csv(&bytes, path, DIGITS_N_FEATURES, DIGITS_N_CLASSES)
}

/// Parses a headerless CSV of `n_features` numeric columns followed by a class label in
/// `0..n_classes` (written as an integer, `3` or `3.0`). Lines are separated by `\n`
/// (a trailing `\r` is removed); blank lines are skipped. `file` names the source in
/// errors, which carry 1-based line and column numbers.
///
/// # Errors
/// [`DataError::NotUtf8`], [`DataError::ColumnCount`], [`DataError::NotNumeric`]
/// (also for `nan`/`inf`), [`DataError::LabelOutOfRange`], [`DataError::Empty`];
/// [`DataError::InvalidParameter`] for `n_features = usize::MAX` (no column count).
pub fn parse_labelled_csv(
    bytes: &[u8],
    file: &Path,
    n_features: usize,
    n_classes: usize,
) -> Result<Dataset, DataError> {
    let n_cols = n_features
        .checked_add(1)
        .ok_or_else(|| DataError::param("n_features", n_features, "below usize::MAX"))?;
    let mut features: Vec<f64> = Vec::new();
    let mut labels: Vec<usize> = Vec::new();
    for (idx, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = idx + 1;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let text = std::str::from_utf8(raw_line).map_err(|_| DataError::NotUtf8 {
            file: file.to_path_buf(),
            line,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let found = text.split(',').count();
        if found != n_cols {
            return Err(DataError::ColumnCount {
                file: file.to_path_buf(),
                line,
                expected: n_cols,
                found,
            });
        }
        for (c, field) in text.split(',').enumerate() {
            let column = c + 1;
            let value = parse_finite(field).ok_or_else(|| DataError::NotNumeric {
                file: file.to_path_buf(),
                line,
                column,
                field: field.to_string(),
            })?;
            if column <= n_features {
                features.push(value);
            } else {
                // Exact: an integral f64 below n_classes converts to usize without loss.
                if value.fract() != 0.0 || value < 0.0 || value >= n_classes as f64 {
                    return Err(DataError::LabelOutOfRange {
                        file: file.to_path_buf(),
                        location: crate::Location::Field { line, column },
                        label: field.trim().to_string(),
                        n_classes,
                    });
                }
                labels.push(value as usize);
            }
        }
    }
    if labels.is_empty() {
        return Err(DataError::Empty {
            file: file.to_path_buf(),
        });
    }
    let n = labels.len();
    let x = Mat::from_fn(n, n_features, |i, j| features[i * n_features + j]);
    Ok(Dataset {
        x,
        y: Targets::Classes { labels, n_classes },
    })
}

/// A finite `f64` from a trimmed field, or `None` (also for `nan`, `inf`, empty).
fn parse_finite(field: &str) -> Option<f64> {
    field.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}
