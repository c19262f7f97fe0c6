//! [`PlresError`]: everything a user of the estimator or of the command line can get
//! wrong, each variant naming the field, file, row/column or value at fault.

use std::path::PathBuf;

/// An error of the estimator API or the command line (module docs).
///
/// The `Display` text is one line a user can act on; the command line prints it and exits
/// with code 2 for [`PlresError::is_user_error`] errors, 1 otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlresError {
    /// A setting of the estimator is outside its domain.
    #[error("invalid setting {field} = {value}: expected {expected}")]
    InvalidSetting {
        /// The setting (`"lr"`, `"depth"`, …, the command-line flag's name).
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// The domain, in words.
        expected: String,
    },

    /// Two settings, or a setting and the data, do not go together.
    #[error("{field} = {value} cannot be used here: {reason}")]
    Incompatible {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },

    /// The data given to `fit`, `predict`, `score` or `certify` are unusable.
    #[error("{what}: {reason}")]
    BadData {
        /// Which input (`"x"`, `"targets"`, a file name, …).
        what: String,
        /// What is wrong, with the row/column and value.
        reason: String,
    },

    /// A value in the data is NaN or infinite.
    #[error("{what}: non-finite value {value} at row {row}, column {column} (0-based)")]
    NonFinite {
        /// Which input.
        what: String,
        /// Row (sample), 0-based.
        row: usize,
        /// Column, 0-based.
        column: usize,
        /// The value.
        value: f64,
    },

    /// A data file could not be read or parsed.
    #[error("{}: {location}: {reason}", file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// Where in it (`"line 3, column 2"`, `"header"`, `"byte 10"`).
        location: String,
        /// What is wrong, with the offending value.
        reason: String,
    },

    /// A checkpoint that cannot be used (missing, another model, written by another tool).
    #[error("{}: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// An output that already exists and would be overwritten (pass `--force`).
    #[error("{} already exists (pass --force to replace it)", path.display())]
    OutputExists {
        /// The output folder or file.
        path: PathBuf,
    },

    /// Writing an output failed.
    #[error("writing {}: {reason}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The OS or encoder error.
        reason: String,
    },

    /// A library below (model, optimizer, theory) failed during a run: divergence, a
    /// numerical failure. `stage` says what was being done.
    #[error("{stage}: {source}")]
    Run {
        /// What was being done (`"training"`, `"certifying iterate 10"`, …).
        stage: String,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl PlresError {
    /// Whether the error is the user's (bad input, bad setting, existing output): exit
    /// code 2 on the command line. Run failures (divergence, numerical failures) are 1.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, PlresError::Run { .. } | PlresError::Write { .. })
    }

    pub(crate) fn setting(
        field: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        PlresError::InvalidSetting {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// A [`PlresError::Run`] of `stage`.
    pub fn run(
        stage: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        PlresError::Run {
            stage: stage.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn data(what: impl Into<String>, reason: impl Into<String>) -> Self {
        PlresError::BadData {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// The one-line text of an error and its sources (`a: b: c`), for binaries.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
