//! The [`Dataset`] type: inputs `X ∈ R^{N×d_in}` (one sample per row, docs/theory.md §2) and
//! their [`Targets`], the one target type of the workspace, with its borrowed view
//! [`TargetsRef`] (what a loss or a training problem reads; the variant chooses the loss:
//! squared loss on regression targets, softmax cross-entropy on class labels).

use faer::{Mat, MatRef};

use crate::DataError;

/// Targets of a dataset: regression vectors or class labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Real targets `y_i ∈ R^{d_out}`, one per row of the matrix (`N × d_out`).
    Regression(Mat<f64>),
    /// Class labels `y_i ∈ {0, …, n_classes − 1}`.
    Classes {
        /// One label per sample, each `< n_classes`.
        labels: Vec<usize>,
        /// Number of classes.
        n_classes: usize,
    },
}

/// A borrowed view of [`Targets`] (or of any matrix / label slice): what losses, models
/// and training problems take, so that nothing is copied. The variant chooses the loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TargetsRef<'a> {
    /// Real targets `Y ∈ R^{N×d_out}`, one sample per row: squared loss `½‖z − y‖²`.
    Regression(MatRef<'a, f64>),
    /// Class labels, one per sample: softmax cross-entropy with the output as logits.
    Classes(&'a [usize]),
}

impl TargetsRef<'_> {
    /// Number of samples the targets describe.
    pub fn n_samples(&self) -> usize {
        match self {
            TargetsRef::Regression(y) => y.nrows(),
            TargetsRef::Classes(labels) => labels.len(),
        }
    }
}

impl Targets {
    /// The borrowed view (the number of classes is dropped: a model checks labels against
    /// its own output dimension).
    pub fn as_ref(&self) -> TargetsRef<'_> {
        match self {
            Targets::Regression(y) => TargetsRef::Regression(y.as_ref()),
            Targets::Classes { labels, .. } => TargetsRef::Classes(labels),
        }
    }

    /// Number of samples the targets describe.
    pub fn len(&self) -> usize {
        match self {
            Targets::Regression(y) => y.nrows(),
            Targets::Classes { labels, .. } => labels.len(),
        }
    }

    /// `true` when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of the matrix [`Targets::to_matrix`] returns: `d_out` for regression,
    /// `n_classes` for classes.
    pub fn n_outputs(&self) -> usize {
        match self {
            Targets::Regression(y) => y.ncols(),
            Targets::Classes { n_classes, .. } => *n_classes,
        }
    }

    /// The targets as a matrix for the squared loss: the regression matrix itself, or
    /// the one-hot encoding of the labels (see [`one_hot`]).
    pub fn to_matrix(&self) -> Mat<f64> {
        match self {
            Targets::Regression(y) => y.clone(),
            Targets::Classes { labels, n_classes } => one_hot(labels, *n_classes),
        }
    }

    /// The labels, if these are class targets.
    pub fn labels(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Regression(_) => None,
        }
    }

    /// Number of samples of each class, if these are class targets.
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        match self {
            Targets::Classes { labels, n_classes } => {
                let mut counts = vec![0; *n_classes];
                for &l in labels {
                    counts[l] += 1;
                }
                Some(counts)
            }
            Targets::Regression(_) => None,
        }
    }

    /// The targets of the samples `indices`, in that order.
    ///
    /// # Panics
    /// If an index is `≥ self.len()`.
    pub fn select(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Regression(y) => {
                Targets::Regression(Mat::from_fn(indices.len(), y.ncols(), |i, j| {
                    y[(indices[i], j)]
                }))
            }
            Targets::Classes { labels, n_classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
        }
    }
}

/// One-hot encoding: row `i` is the basis vector `e_{labels[i]} ∈ R^{n_classes}`.
///
/// # Panics
/// If a label is `≥ n_classes` (the message names the label, its index and `n_classes`).
///
/// ```
/// let y = plres_data::one_hot(&[2, 0], 3);
/// assert_eq!((y[(0, 2)], y[(0, 0)], y[(1, 0)]), (1.0, 0.0, 1.0));
/// ```
pub fn one_hot(labels: &[usize], n_classes: usize) -> Mat<f64> {
    let mut y = Mat::zeros(labels.len(), n_classes);
    for (i, &l) in labels.iter().enumerate() {
        assert!(
            l < n_classes,
            "one_hot: label {l} at index {i} is not below n_classes = {n_classes}"
        );
        y[(i, l)] = 1.0;
    }
    y
}

/// A dataset: inputs `x` (`N × d_in`, one sample per row) and targets `y` (`N` of them).
///
/// The fields are public for convenience; [`Dataset::new`] checks the invariants
/// (same number of rows, labels below `n_classes`), and every constructor of this crate
/// upholds them.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Inputs, `N × d_in`.
    pub x: Mat<f64>,
    /// Targets, `N` of them.
    pub y: Targets,
}

impl Dataset {
    /// A dataset, after checking that `x` and `y` describe the same number of samples
    /// and that every label is below `n_classes`.
    pub fn new(x: Mat<f64>, y: Targets) -> Result<Self, DataError> {
        if x.nrows() != y.len() {
            return Err(DataError::RowMismatch {
                x_rows: x.nrows(),
                y_rows: y.len(),
            });
        }
        if let Targets::Classes { labels, n_classes } = &y
            && let Some(&bad) = labels.iter().find(|&&l| l >= *n_classes)
        {
            return Err(DataError::param("label", bad, "a label below n_classes"));
        }
        Ok(Dataset { x, y })
    }

    /// Number of samples `N`.
    pub fn n_samples(&self) -> usize {
        self.x.nrows()
    }

    /// Input dimension `d_in`.
    pub fn d_in(&self) -> usize {
        self.x.ncols()
    }

    /// The samples `indices`, in that order.
    ///
    /// # Panics
    /// If an index is `≥ self.n_samples()`.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let x = Mat::from_fn(indices.len(), self.x.ncols(), |i, j| {
            self.x[(indices[i], j)]
        });
        Dataset {
            x,
            y: self.y.select(indices),
        }
    }
}
