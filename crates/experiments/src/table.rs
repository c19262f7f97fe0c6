//! A small typed table and its CSV form (`metrics.csv`, one row per iterate).
//!
//! Columns are declared once with a [`ColumnType`]; every pushed row is checked against
//! them (arity and type), so a run folder never holds a ragged or mistyped CSV.
//! Floats are written so that parsing them back gives the same `f64` bit for bit
//! (Rust's shortest round-trip formatting), in plain notation for `1e-4 ≤ |x| < 1e15`
//! and in scientific notation otherwise; non-finite values are written `NaN`, `inf`,
//! `-inf` (all three parse back with `str::parse::<f64>`).

use std::fmt::Write as _;

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Signed integers (iteration counts, widths, seeds).
    Int,
    /// Floating-point values.
    Float,
    /// Free text (labels such as a model or integrator name).
    Text,
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
}

impl Cell {
    fn column_type(&self) -> ColumnType {
        match self {
            Cell::Int(_) => ColumnType::Int,
            Cell::Float(_) => ColumnType::Float,
            Cell::Text(_) => ColumnType::Text,
        }
    }

    /// The value as a float (integers converted), `None` for text.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(x) => Some(*x),
            Cell::Text(_) => None,
        }
    }
}

macro_rules! cell_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Cell {
            fn from(v: $t) -> Self {
                Cell::Int(i64::try_from(v).expect("integer cell does not fit in i64"))
            }
        }
    )*};
}
cell_from_int!(i32, i64, u32, u64, usize);

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_owned())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}

/// Builds a row (an array of [`Cell`]s) from values convertible into cells:
/// `row![iteration, loss, "euler"]`.
#[macro_export]
macro_rules! row {
    ($($v:expr),* $(,)?) => { [$($crate::table::Cell::from($v)),*] };
}

/// A row that does not fit the table's columns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The row has the wrong number of cells.
    #[error("row {row} has {got} cells, the table has {expected} columns")]
    Arity {
        /// Index the row would have had.
        row: usize,
        /// Number of columns.
        expected: usize,
        /// Number of cells given.
        got: usize,
    },
    /// A cell's type differs from its column's.
    #[error("row {row}, column `{column}`: expected {expected:?}, got {got:?}")]
    Type {
        /// Index the row would have had.
        row: usize,
        /// The column's name.
        column: String,
        /// The column's type.
        expected: ColumnType,
        /// The cell's type.
        got: ColumnType,
    },
}

/// A typed table: named, typed columns and rows checked against them.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    names: Vec<String>,
    types: Vec<ColumnType>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    ///
    /// # Panics
    /// If two columns share a name or a name is empty (the column list is written in the
    /// experiment's code, so this is a programming error).
    pub fn new(columns: &[(&str, ColumnType)]) -> Self {
        for (i, (name, _)) in columns.iter().enumerate() {
            assert!(!name.is_empty(), "table column {i} has an empty name");
            assert!(
                columns[..i].iter().all(|(n, _)| n != name),
                "table column `{name}` declared twice"
            );
        }
        Self {
            names: columns.iter().map(|(n, _)| (*n).to_owned()).collect(),
            types: columns.iter().map(|(_, t)| *t).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row after checking its arity and the type of every cell.
    pub fn push(&mut self, row: impl IntoIterator<Item = Cell>) -> Result<(), TableError> {
        let row: Vec<Cell> = row.into_iter().collect();
        let index = self.rows.len();
        if row.len() != self.names.len() {
            return Err(TableError::Arity {
                row: index,
                expected: self.names.len(),
                got: row.len(),
            });
        }
        for ((cell, ty), name) in row.iter().zip(&self.types).zip(&self.names) {
            if cell.column_type() != *ty {
                return Err(TableError::Type {
                    row: index,
                    column: name.clone(),
                    expected: *ty,
                    got: cell.column_type(),
                });
            }
        }
        self.rows.push(row);
        Ok(())
    }

    /// The column names.
    pub fn column_names(&self) -> &[String] {
        &self.names
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows.
    pub fn rows(&self) -> &[Vec<Cell>] {
        &self.rows
    }

    /// A numeric column as floats (integers converted); `None` if there is no such
    /// column or it holds text.
    pub fn column_f64(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.names.iter().position(|n| n == name)?;
        if self.types[j] == ColumnType::Text {
            return None;
        }
        Some(
            self.rows
                .iter()
                .map(|r| r[j].as_f64().unwrap_or(f64::NAN))
                .collect(),
        )
    }

    /// The CSV text: a header line, then one line per row, `\n`-terminated.
    pub fn to_csv(&self) -> String {
        let mut s = String::new();
        let header: Vec<String> = self.names.iter().map(|n| quote(n)).collect();
        s.push_str(&header.join(","));
        s.push('\n');
        for row in &self.rows {
            for (j, cell) in row.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                match cell {
                    Cell::Int(i) => write!(s, "{i}").expect("writing to a String"),
                    Cell::Float(x) => s.push_str(&format_float(*x)),
                    Cell::Text(t) => s.push_str(&quote(t)),
                }
            }
            s.push('\n');
        }
        s
    }
}

/// Formats a float so that `str::parse::<f64>` gives it back exactly.
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// RFC 4180 quoting: fields holding a comma, a quote or a line break are wrapped in
/// quotes with inner quotes doubled.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> Table {
        Table::new(&[
            ("iteration", ColumnType::Int),
            ("loss", ColumnType::Float),
            ("model", ColumnType::Text),
        ])
    }

    #[test]
    fn rows_are_checked_against_columns() {
        let mut t = table();
        t.push(row![0usize, 1.5, "rff"]).unwrap();
        assert_eq!(
            t.push(row![1usize, 1.0]),
            Err(TableError::Arity {
                row: 1,
                expected: 3,
                got: 2
            })
        );
        let err = t.push(row![1.0, 1.0, "rff"]).unwrap_err();
        assert!(matches!(err, TableError::Type { ref column, .. } if column == "iteration"));
        assert_eq!(t.len(), 1, "rejected rows are not stored");
    }

    #[test]
    fn csv_quotes_and_formats() {
        let mut t = Table::new(&[("a,b", ColumnType::Text), ("x", ColumnType::Float)]);
        t.push(row!["say \"hi\", now", 1e-300]).unwrap();
        t.push(row!["plain", f64::NEG_INFINITY]).unwrap();
        t.push(row!["zero", 0.0]).unwrap();
        assert_eq!(
            t.to_csv(),
            "\"a,b\",x\n\"say \"\"hi\"\", now\",1e-300\nplain,-inf\nzero,0\n"
        );
    }

    #[test]
    fn numeric_columns_read_back() {
        let mut t = table();
        t.push(row![3usize, 0.25, "a"]).unwrap();
        assert_eq!(t.column_f64("iteration"), Some(vec![3.0]));
        assert_eq!(t.column_f64("loss"), Some(vec![0.25]));
        assert_eq!(t.column_f64("model"), None);
        assert_eq!(t.column_f64("nope"), None);
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn duplicate_columns_panic() {
        let _ = Table::new(&[("a", ColumnType::Int), ("a", ColumnType::Float)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Every finite or infinite float survives the CSV text bit for bit.
        #[test]
        fn floats_round_trip(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            let back: f64 = format_float(x).parse().unwrap();
            if x.is_nan() {
                prop_assert!(back.is_nan());
            } else {
                prop_assert_eq!(back.to_bits(), x.to_bits());
            }
        }
    }
}
