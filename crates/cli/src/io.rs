//! Data files in and out: CSV with a header, NumPy `.npy` (format versions 1–3,
//! little- or big-endian `f8`, `f4` and integer dtypes, C or Fortran order, 1-D or 2-D)
//! and IDX (MNIST's format, raw or gzip; images are flattened to one row each), and
//! their selection into inputs and targets; CSV and `.npy` (`<f8`, C order) out, each
//! written atomically ([`plres_data::io::write_atomic`]: nothing half-written).
//!
//! Every problem is a [`PlresError::File`] naming the file, the place (`line 4, column 2
//! (name)`, `element 7 (row 3, column 1)`, `header`) and the offending value: ragged or
//! non-numeric CSV lines, NaN or infinite values, target columns that do not exist,
//! labels that are not non-negative integers.

use std::path::{Path, PathBuf};

use faer::Mat;
use plres_data::{IdxKind, Targets};

use crate::error::PlresError;

/// A numeric table read from a file: column names and values (one sample per row).
#[derive(Clone, Debug, PartialEq)]
pub struct DataTable {
    /// The file.
    pub path: PathBuf,
    /// Column names (the CSV header; `"0"`, `"1"`, … for `.npy` and IDX).
    pub names: Vec<String>,
    /// The values, `N × columns`, all finite.
    pub values: Mat<f64>,
    /// Whether rows are CSV lines (row `i` is line `i + 2`) for error messages.
    csv: bool,
}

fn file_err(path: &Path, location: impl Into<String>, reason: impl Into<String>) -> PlresError {
    PlresError::File {
        file: path.to_path_buf(),
        location: location.into(),
        reason: reason.into(),
    }
}

impl DataTable {
    /// Where row `i`, column `j` is in the file, in words.
    pub fn locate(&self, i: usize, j: usize) -> String {
        if self.csv {
            format!("line {}, column {} ({})", i + 2, j + 1, self.names[j])
        } else {
            format!("row {i}, column {j}")
        }
    }

    /// The index of a column given by name or by 0-based index.
    ///
    /// # Errors
    /// [`PlresError::File`] naming the column and the columns that exist.
    pub fn column(&self, key: &str) -> Result<usize, PlresError> {
        let key = key.trim();
        if let Some(j) = self.names.iter().position(|n| n == key) {
            return Ok(j);
        }
        if let Ok(j) = key.parse::<usize>()
            && j < self.names.len()
        {
            return Ok(j);
        }
        let shown: Vec<&str> = self.names.iter().take(12).map(String::as_str).collect();
        Err(file_err(
            &self.path,
            "header",
            format!(
                "no column {key:?} (columns: {}{}; or an index 0..{})",
                shown.join(", "),
                if self.names.len() > 12 { ", …" } else { "" },
                self.names.len()
            ),
        ))
    }

    /// Splits into inputs and regression targets: the columns in `keys` (names or
    /// indices, comma-separated lists allowed) are the targets, the others the inputs.
    ///
    /// # Errors
    /// A missing column; no input column left.
    pub fn split_regression(&self, keys: &[String]) -> Result<(Mat<f64>, Targets), PlresError> {
        let cols = self.columns(keys)?;
        let inputs = self.inputs_without(&cols)?;
        let y = Mat::from_fn(self.values.nrows(), cols.len(), |i, c| {
            self.values[(i, cols[c])]
        });
        Ok((inputs, Targets::Regression(y)))
    }

    /// Splits into inputs and class labels: column `key` holds the labels (non-negative
    /// integers), the others are the inputs.
    ///
    /// # Errors
    /// A missing column; a label that is not a non-negative integer (naming line and
    /// value); no input column left.
    pub fn split_labels(&self, key: &str) -> Result<(Mat<f64>, Targets), PlresError> {
        let j = self.column(key)?;
        let labels = self.labels_of(j)?;
        let inputs = self.inputs_without(&[j])?;
        let n_classes = labels.iter().copied().max().unwrap_or(0) + 1;
        Ok((inputs, Targets::Classes { labels, n_classes }))
    }

    /// The whole table as inputs.
    pub fn into_inputs(self) -> Mat<f64> {
        self.values
    }

    /// Column `j` as labels.
    ///
    /// # Errors
    /// A value that is not a non-negative integer.
    pub fn labels_of(&self, j: usize) -> Result<Vec<usize>, PlresError> {
        (0..self.values.nrows())
            .map(|i| {
                let v = self.values[(i, j)];
                if v >= 0.0 && v.fract() == 0.0 && v < 1e15 {
                    Ok(v as usize)
                } else {
                    Err(file_err(
                        &self.path,
                        self.locate(i, j),
                        format!("label {v} is not a non-negative integer"),
                    ))
                }
            })
            .collect()
    }

    fn columns(&self, keys: &[String]) -> Result<Vec<usize>, PlresError> {
        let mut cols = Vec::new();
        for k in keys.iter().flat_map(|k| k.split(',')) {
            if k.trim().is_empty() {
                continue;
            }
            let j = self.column(k)?;
            if !cols.contains(&j) {
                cols.push(j);
            }
        }
        if cols.is_empty() {
            return Err(file_err(&self.path, "header", "no target column given"));
        }
        Ok(cols)
    }

    fn inputs_without(&self, cols: &[usize]) -> Result<Mat<f64>, PlresError> {
        let keep: Vec<usize> = (0..self.values.ncols())
            .filter(|j| !cols.contains(j))
            .collect();
        if keep.is_empty() {
            return Err(file_err(
                &self.path,
                "header",
                "every column is a target: no input column left",
            ));
        }
        Ok(Mat::from_fn(self.values.nrows(), keep.len(), |i, c| {
            self.values[(i, keep[c])]
        }))
    }
}

/// The format of a data file, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.csv` (also `.txt`): comma-separated with a header line.
    Csv,
    /// `.npy`.
    Npy,
    /// IDX (`*idx*`, `*ubyte*`, `.idx`, optionally `.gz`).
    Idx,
}

impl Format {
    /// Guesses from the file name.
    ///
    /// # Errors
    /// [`PlresError::File`] for another extension.
    pub fn of(path: &Path) -> Result<Self, PlresError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".csv") || name.ends_with(".txt") {
            Ok(Format::Csv)
        } else if name.ends_with(".npy") {
            Ok(Format::Npy)
        } else if name.contains("idx") || name.contains("ubyte") {
            Ok(Format::Idx)
        } else {
            Err(file_err(
                path,
                "file name",
                "unknown format: expected .csv, .npy or an IDX file (*idx*-ubyte[.gz])",
            ))
        }
    }
}

/// Reads a data file of any supported [`Format`].
///
/// # Errors
/// [`PlresError::File`] (module docs).
pub fn read_table(path: &Path) -> Result<DataTable, PlresError> {
    match Format::of(path)? {
        Format::Csv => read_csv(path),
        Format::Npy => read_npy(path),
        Format::Idx => read_idx_table(path),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, PlresError> {
    std::fs::read(path).map_err(|e| file_err(path, "open", e.to_string()))
}

/// Reads a CSV file with a header line (column names), every other line one sample of
/// finite numbers. Blank lines are skipped; fields are trimmed.
///
/// # Errors
/// [`PlresError::File`]: not UTF-8, no header, no data line, a line with another number
/// of fields than the header, a field that is not a number, NaN or infinite.
pub fn read_csv(path: &Path) -> Result<DataTable, PlresError> {
    let bytes = read_bytes(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        file_err(path, format!("line {line}"), "not valid UTF-8")
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| file_err(path, "line 1", "empty file: expected a header line"))?;
    let names: Vec<String> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    let width = names.len();
    let mut data: Vec<f64> = Vec::new();
    let mut n = 0;
    for (ln, line) in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != width {
            return Err(file_err(
                path,
                format!("line {}", ln + 1),
                format!("{} fields, the header has {width}", fields.len()),
            ));
        }
        for (c, f) in fields.iter().enumerate() {
            let t = f.trim().trim_matches('"');
            let v: f64 = t.parse().map_err(|_| {
                file_err(
                    path,
                    format!("line {}, column {} ({})", ln + 1, c + 1, names[c]),
                    format!("{t:?} is not a number"),
                )
            })?;
            if !v.is_finite() {
                return Err(file_err(
                    path,
                    format!("line {}, column {} ({})", ln + 1, c + 1, names[c]),
                    format!("{t:?} is not a finite number (NaN and infinities are not data)"),
                ));
            }
            data.push(v);
        }
        n += 1;
    }
    if n == 0 {
        return Err(file_err(path, "line 2", "no data line after the header"));
    }
    Ok(DataTable {
        path: path.to_path_buf(),
        names,
        values: Mat::from_fn(n, width, |i, j| data[i * width + j]),
        csv: true,
    })
}

/// Reads an IDX file of `u8` data (any number of dimensions): `N` samples, each the
/// flattening of the other dimensions (`N × 1` for a labels file).
///
/// # Errors
/// [`PlresError::File`] with plres-data's message (magic, truncation, …).
pub fn read_idx_table(path: &Path) -> Result<DataTable, PlresError> {
    let a = plres_data::read_idx(path, IdxKind::AnyU8)
        .map_err(|e| file_err(path, "IDX", e.to_string()))?;
    let n = a.dims.first().copied().unwrap_or(0);
    if n == 0 {
        return Err(file_err(path, "header", "no samples"));
    }
    let width: usize = a.dims[1..].iter().product::<usize>().max(1);
    Ok(DataTable {
        path: path.to_path_buf(),
        names: (0..width).map(|j| j.to_string()).collect(),
        values: Mat::from_fn(n, width, |i, j| f64::from(a.data[i * width + j])),
        csv: false,
    })
}

/// Element types of `.npy` files read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NpyType {
    F(usize),
    I(usize),
    U(usize),
}

/// Reads a `.npy` file (module docs): a 1-D array is one column, a 2-D array one sample
/// per row.
///
/// # Errors
/// [`PlresError::File`]: bad magic or header, an unsupported dtype (complex, object,
/// strings) or rank, a length that does not match the shape, NaN or infinite values
/// (naming the element's row and column).
pub fn read_npy(path: &Path) -> Result<DataTable, PlresError> {
    parse_npy(&read_bytes(path)?, path)
}

/// [`read_npy`] on bytes (`path` names them in errors).
///
/// # Errors
/// As [`read_npy`].
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<DataTable, PlresError> {
    let herr = |reason: String| file_err(path, "header", reason);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(file_err(
            path,
            "byte 0",
            "not a .npy file (magic \\x93NUMPY missing)",
        ));
    }
    let major = bytes[6];
    let (hlen, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(herr("truncated".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(herr(format!(
                "format version {v} is not supported (1, 2 or 3)"
            )));
        }
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            herr(format!(
                "header of {hlen} bytes runs past the end of the file"
            ))
        })?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| herr("header is not text".into()))?;
    let field = |key: &str| -> Result<&str, PlresError> {
        let k = format!("'{key}'");
        let at = header
            .find(&k)
            .ok_or_else(|| herr(format!("no {k} in {header:?}")))?;
        let rest = header[at + k.len()..].trim_start();
        Ok(rest.strip_prefix(':').unwrap_or(rest).trim_start())
    };
    let descr_s = field("descr")?;
    let descr = descr_s
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| herr(format!("descr {descr_s:?} is not a simple dtype string")))?;
    let (endian, ty) = descr.split_at(1);
    let big = match endian {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => return Err(herr(format!("dtype {descr:?}: unknown byte order"))),
    };
    let size: usize = ty[1..]
        .parse()
        .map_err(|_| herr(format!("dtype {descr:?} is not supported")))?;
    let ty = match (&ty[..1], size) {
        ("f", 4 | 8) => NpyType::F(size),
        ("i", 1 | 2 | 4 | 8) => NpyType::I(size),
        ("u", 1 | 2 | 4 | 8) => NpyType::U(size),
        ("b", 1) => NpyType::U(1),
        _ => {
            return Err(herr(format!(
                "dtype {descr:?} is not supported (float32/64 or integers)"
            )));
        }
    };
    let fortran = field("fortran_order")?.starts_with("True");
    let shape_s = field("shape")?;
    let inner = shape_s
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| herr(format!("shape {shape_s:?} is not a tuple")))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| herr(format!("shape ({inner}) is not a tuple of integers")))?;
    let (n, width) = match shape[..] {
        [n] => (n, 1),
        [n, d] => (n, d),
        _ => {
            return Err(herr(format!(
                "shape {shape:?}: expected a 1-D or 2-D array (samples × columns)"
            )));
        }
    };
    if n == 0 || width == 0 {
        return Err(herr(format!("shape {shape:?} holds no data")));
    }
    let count = n
        .checked_mul(width)
        .filter(|c| c.checked_mul(size).is_some())
        .ok_or_else(|| herr(format!("shape {shape:?} overflows")))?;
    let body = &bytes[end..];
    if body.len() != count * size {
        return Err(file_err(
            path,
            format!("byte {end}"),
            format!(
                "the shape {shape:?} of {descr} needs {} bytes of data, the file has {}",
                count * size,
                body.len()
            ),
        ));
    }
    let mut values = Mat::<f64>::zeros(n, width);
    for k in 0..count {
        let b = &body[k * size..(k + 1) * size];
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(b);
        if big {
            buf[..size].reverse();
        }
        let v = match ty {
            NpyType::F(8) => f64::from_le_bytes(buf),
            NpyType::F(_) => f64::from(f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])),
            NpyType::U(_) => u64::from_le_bytes(buf) as f64,
            NpyType::I(s) => {
                // sign-extend from s bytes
                let raw = u64::from_le_bytes(buf);
                let shift = 64 - 8 * s as u32;
                (((raw << shift) as i64) >> shift) as f64
            }
        };
        let (i, j) = if fortran {
            (k % n, k / n)
        } else {
            (k / width, k % width)
        };
        if !v.is_finite() {
            return Err(file_err(
                path,
                format!("element {k} (row {i}, column {j})"),
                format!("{v} is not a finite number (NaN and infinities are not data)"),
            ));
        }
        values[(i, j)] = v;
    }
    Ok(DataTable {
        path: path.to_path_buf(),
        names: (0..width).map(|j| j.to_string()).collect(),
        values,
        csv: false,
    })
}

/// The `.npy` bytes (format 1.0, `<f8`, C order) of a matrix.
pub fn npy_bytes(m: &Mat<f64>) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        m.nrows(),
        m.ncols()
    );
    // magic (6) + version (2) + length (2) + dict + padding + '\n', a multiple of 64
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let hlen = total - 10;
    let mut out = Vec::with_capacity(total + 8 * m.nrows() * m.ncols());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(hlen as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            out.extend_from_slice(&m[(i, j)].to_le_bytes());
        }
    }
    out
}

/// CSV text: a header and one line per row, full precision (`{:?}` round-trips).
pub fn csv_text(names: &[String], m: &Mat<f64>) -> String {
    let mut s = names.join(",");
    s.push('\n');
    for i in 0..m.nrows() {
        let line: Vec<String> = (0..m.ncols()).map(|j| format!("{:?}", m[(i, j)])).collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

/// Writes `m` to `path` as CSV (with `names` as header) or `.npy`, by extension,
/// atomically.
///
/// # Errors
/// [`PlresError::File`] for another extension, [`PlresError::Write`].
pub fn write_matrix(path: &Path, names: &[String], m: &Mat<f64>) -> Result<(), PlresError> {
    let bytes = match Format::of(path)? {
        Format::Csv => csv_text(names, m).into_bytes(),
        Format::Npy => npy_bytes(m),
        Format::Idx => {
            return Err(file_err(path, "file name", "outputs are .csv or .npy"));
        }
    };
    write_file(path, &bytes)
}

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// [`PlresError::Write`] naming the path.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PlresError> {
    plres_data::io::write_atomic(path, bytes).map_err(|e| PlresError::Write {
        path: path.to_path_buf(),
        reason: crate::error::error_chain(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_is_bitwise() {
        let m = Mat::from_fn(3, 2, |i, j| (i as f64 - 1.3) * (j as f64 + 0.1) / 7.0);
        let t = parse_npy(&npy_bytes(&m), Path::new("m.npy")).unwrap();
        assert_eq!(t.values.nrows(), 3);
        for i in 0..3 {
            for j in 0..2 {
                assert_eq!(t.values[(i, j)].to_bits(), m[(i, j)].to_bits());
            }
        }
        assert_eq!(npy_bytes(&m).len() % 8, 0);
    }

    /// A hand-written file: big-endian int16, Fortran order, version 2.
    #[test]
    fn npy_dtypes_orders_versions() {
        let dict = b"{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }\n";
        let mut b = b"\x93NUMPY\x02\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        b.extend_from_slice(dict);
        // column-major values of [[1, -2, 3], [4, 5, -6]]
        for v in [1i16, 4, -2, 5, 3, -6] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let t = parse_npy(&b, Path::new("x.npy")).unwrap();
        let want = [[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]];
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(t.values[(i, j)], want[i][j]);
            }
        }
    }

    #[test]
    fn npy_errors_name_the_place() {
        let m = Mat::from_fn(2, 2, |i, j| if (i, j) == (1, 0) { f64::NAN } else { 1.0 });
        let e = parse_npy(&npy_bytes(&m), Path::new("n.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 0") && e.contains("NaN"), "{e}");
        let mut short = npy_bytes(&Mat::from_fn(2, 2, |_, _| 1.0));
        short.pop();
        let e = parse_npy(&short, Path::new("s.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs 32 bytes") && e.contains("has 31"), "{e}");
    }
}
