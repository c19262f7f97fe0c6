//! The crate's error type: every way a file or a parameter can be wrong.
//!
//! File errors name the file and where in it the problem is ([`Location`]): a byte
//! offset for binary formats (IDX), a line (and column) for CSV. For gzip-compressed
//! files, byte offsets count bytes of the *decompressed* stream, which is the stream
//! the format describes.

use std::fmt;
use std::path::PathBuf;

/// Where in a file a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Byte offset from the start of the (decompressed) stream, 0-based.
    Byte(u64),
    /// Line number, 1-based.
    Line(usize),
    /// Line and field (column), both 1-based.
    Field {
        /// Line number, 1-based.
        line: usize,
        /// Column (comma-separated field) number, 1-based.
        column: usize,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Byte(b) => write!(f, "byte {b}"),
            Location::Line(l) => write!(f, "line {l}"),
            Location::Field { line, column } => write!(f, "line {line}, column {column}"),
        }
    }
}

/// Everything that can go wrong when loading, generating or preprocessing data.
///
/// File variants carry the file's path (for the embedded digits, the path of the
/// vendored file in the repository, `data/digits.csv.gz`) and the offending values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// The file starts with the gzip magic `1f 8b` but its stream is corrupt or cut short.
    #[error(
        "{}: corrupt or truncated gzip stream after {offset} decompressed bytes: {source}",
        file.display()
    )]
    Gzip {
        /// The file.
        file: PathBuf,
        /// Number of bytes decompressed successfully before the failure.
        offset: u64,
        /// The decoder's error.
        source: std::io::Error,
    },

    /// An IDX file's 4-byte magic number (at byte 0) is not the expected one.
    #[error("{}: byte 0: wrong IDX magic 0x{found:08x}, expected {expected}", file.display())]
    BadMagic {
        /// The file.
        file: PathBuf,
        /// The magic number found (big-endian `u32` of bytes 0..4).
        found: u32,
        /// What was expected, in words (e.g. `0x00000803 (u8 images, 3 dims)`).
        expected: &'static str,
    },

    /// The file ends before the data its header announces.
    #[error(
        "{}: truncated at byte {offset}: the header announces {needed} bytes in total",
        file.display()
    )]
    Truncated {
        /// The file.
        file: PathBuf,
        /// Length of the (decompressed) content, i.e. where it stops.
        offset: u64,
        /// Length the header requires.
        needed: u64,
    },

    /// The file continues after the data its header announces: the dimensions in the
    /// header disagree with the file's length.
    #[error(
        "{}: {extra} unexpected bytes from byte {offset} on: the header's dimensions do not match the file length",
        file.display()
    )]
    TrailingBytes {
        /// The file.
        file: PathBuf,
        /// Where the announced data ends.
        offset: u64,
        /// How many bytes follow.
        extra: u64,
    },

    /// A gzip-compressed file inflates to more bytes than its header announces.
    /// Decompression stops one byte past the announced end (so a small file that
    /// inflates to gigabytes is never inflated in full); how many bytes follow is not
    /// counted.
    #[error(
        "{}: the decompressed stream continues past byte {offset}, where the data the header announces end",
        file.display()
    )]
    TrailingData {
        /// The file.
        file: PathBuf,
        /// Where the announced data end (in decompressed bytes).
        offset: u64,
    },

    /// A file, the data its header announces, or the stream it inflates to is larger
    /// than the reader accepts ([`crate::MAX_IDX_BYTES`], [`crate::MAX_CSV_BYTES`]).
    /// Checked before the data are read or inflated in full: a small gzip file that
    /// inflates to gigabytes is refused after inflating at most one byte past the limit.
    #[error(
        "{}: {what} {size} bytes, more than the maximum of {limit} bytes ({limit_name})",
        file.display()
    )]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// Whose size, in words (`"the header announces"`, `"the file holds"`,
        /// `"the stream inflates to at least"`).
        what: &'static str,
        /// The size found (or announced, or reached when inflation stopped).
        size: u64,
        /// The maximum.
        limit: u64,
        /// The public constant documenting the maximum.
        limit_name: &'static str,
    },

    /// The matrix a file describes could not be allocated.
    #[error("{}: cannot allocate {bytes} bytes for its data: out of memory", file.display())]
    OutOfMemory {
        /// The file.
        file: PathBuf,
        /// Bytes asked for.
        bytes: u64,
    },

    /// A dataset file announces a zero dimension (no samples or no features); with a
    /// huge other dimension this would describe an empty matrix with billions of rows
    /// or columns.
    #[error("{}: IDX dimensions {dims:?}: {what} is zero, the dataset would be empty", file.display())]
    ZeroDimension {
        /// The file.
        file: PathBuf,
        /// The dimensions read from the header.
        dims: Vec<usize>,
        /// Which dimension is zero (`"the number of images"`, `"rows"`, `"cols"`).
        what: &'static str,
    },

    /// The product of an IDX file's dimensions does not fit in memory addressing.
    #[error("{}: IDX dimensions {dims:?} overflow", file.display())]
    DimensionOverflow {
        /// The file.
        file: PathBuf,
        /// The dimensions read from the header.
        dims: Vec<u32>,
    },

    /// The number of images and the number of labels disagree.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels",
        images.display(),
        labels.display()
    )]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },

    /// A CSV field is not a finite number.
    #[error("{}: line {line}, column {column}: {field:?} is not a finite number", file.display())]
    NotNumeric {
        /// The file.
        file: PathBuf,
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
        /// The field's text.
        field: String,
    },

    /// A CSV line has the wrong number of fields.
    #[error("{}: line {line}: {found} columns, expected {expected}", file.display())]
    ColumnCount {
        /// The file.
        file: PathBuf,
        /// Line, 1-based.
        line: usize,
        /// Expected number of columns.
        expected: usize,
        /// Number of columns found.
        found: usize,
    },

    /// A line of a text file is not valid UTF-8.
    #[error("{}: line {line} is not valid UTF-8", file.display())]
    NotUtf8 {
        /// The file.
        file: PathBuf,
        /// Line, 1-based.
        line: usize,
    },

    /// A class label is not an integer in `0..n_classes`.
    #[error("{}: {location}: label {label} is not an integer in 0..{n_classes}", file.display())]
    LabelOutOfRange {
        /// The file.
        file: PathBuf,
        /// Where the label is.
        location: Location,
        /// The label's text.
        label: String,
        /// Number of classes.
        n_classes: usize,
    },

    /// The file holds no samples.
    #[error("{}: no samples", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },

    /// Rejection sampling could not place `n` points with pairwise distance `≥ delta`
    /// in the ball of radius `radius` in `R^dim` within the try budget.
    #[error(
        "cannot place {n} points with separation {delta} in a ball of radius {radius} in R^{dim}: \
         placed {placed} after {tries} tries{}",
        if *provably { " (impossible by the packing bound)" } else { "" }
    )]
    Infeasible {
        /// Requested number of points.
        n: usize,
        /// Requested minimum separation.
        delta: f64,
        /// Radius of the ball.
        radius: f64,
        /// Dimension.
        dim: usize,
        /// Points placed before giving up.
        placed: usize,
        /// Candidate draws used.
        tries: usize,
        /// `true` when the packing bound proves the request impossible (no draw made).
        provably: bool,
    },

    /// An input matrix holds NaN or ±∞ where finite values are needed.
    #[error("{what}: non-finite value {value} at row {row}, column {column} (0-based)")]
    NonFinite {
        /// Which input, e.g. `"standardizer fit input"`.
        what: &'static str,
        /// Row (sample), 0-based.
        row: usize,
        /// Column, 0-based.
        column: usize,
        /// The value.
        value: f64,
    },

    /// A parameter is outside its domain.
    #[error("invalid parameter {name} = {value}: expected {expected}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// Its value, formatted.
        value: String,
        /// The domain, in words.
        expected: &'static str,
    },

    /// plres-rff refused the teacher's feature map (non-finite frequencies or phases).
    #[error("teacher feature map: {0}")]
    TeacherFeatures(#[from] plres_rff::RffError),

    /// Integrating the teacher flow failed: a state became non-finite (non-finite
    /// inputs) or the time span is zero or not finite.
    #[error("teacher flow: {0}")]
    TeacherFlow(#[from] plres_ode::OdeError),

    /// Inputs and targets have different numbers of rows, or the matrix is empty
    /// where samples are needed.
    #[error("inputs have {x_rows} rows but targets have {y_rows}")]
    RowMismatch {
        /// Rows of the inputs.
        x_rows: usize,
        /// Rows (length) of the targets.
        y_rows: usize,
    },
}

impl DataError {
    /// Shorthand for [`DataError::InvalidParameter`].
    pub(crate) fn param(
        name: &'static str,
        value: impl fmt::Display,
        expected: &'static str,
    ) -> Self {
        DataError::InvalidParameter {
            name,
            value: value.to_string(),
            expected,
        }
    }
    /// `Ok(())` if `value` is finite and `> 0`, else [`DataError::InvalidParameter`] for
    /// `name` expecting "a finite number > 0".
    pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<(), Self> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Self::param(name, value, "a finite number > 0"))
        }
    }

    /// `Ok(())` if `value` is finite and `≥ 0`, else [`DataError::InvalidParameter`] for
    /// `name` expecting "a finite number ≥ 0".
    pub(crate) fn check_nonnegative(name: &'static str, value: f64) -> Result<(), Self> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Self::param(name, value, "a finite number ≥ 0"))
        }
    }
}
