//! NumPy arrays in and out, and Rust errors out as Python exceptions.
//!
//! **In.** A 2-D `float64` array becomes a faer `MatRef` *without a copy* when it is C- or
//! Fortran-contiguous (a row-major resp. column-major view of NumPy's buffer); any other
//! layout (a strided slice, a negative step) is copied once into a column-major `Mat`.
//! The feature maps are the exception: their fused kernels round differently on a
//! row-major view, so they take [`matrix_col_major`], which copies C-ordered input (an
//! `N×d` copy beside the `N×p` output) to give the Rust API's bits on a column-major `Mat`.
//! Anything else is a `ValueError` that names the argument, what was expected and what was
//! given: not an array, a dtype other than `float64`, the wrong number of dimensions. Empty
//! and non-finite input is rejected by plres-kernels' `check_batch`, so the message is the
//! Rust one (`"X holds the non-finite value NaN at (2, 0)"`).
//!
//! **Out.** Results are written straight into a freshly allocated Fortran-ordered NumPy
//! array (a column-major `MatMut` over its buffer): the layout the Rust API returns, so the
//! bits are the Rust API's.

use faer::{Mat, MatMut, MatRef};
use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A validated 2-D `float64` input: a view of NumPy's buffer, or a column-major copy when
/// the layout is neither C- nor Fortran-contiguous.
pub(crate) struct Matrix<'py> {
    array: PyReadonlyArray2<'py, f64>,
    copy: Option<Mat<f64>>,
    row_major: bool,
}

impl Matrix<'_> {
    /// The matrix as faer sees it (no copy for contiguous input).
    pub(crate) fn view(&self) -> MatRef<'_, f64> {
        if let Some(copy) = &self.copy {
            return copy.as_ref();
        }
        let (n, d) = (self.array.shape()[0], self.array.shape()[1]);
        let slice = self
            .array
            .as_slice()
            .expect("contiguity checked when the Matrix was built");
        if self.row_major {
            MatRef::from_row_major_slice(slice, n, d)
        } else {
            MatRef::from_column_major_slice(slice, n, d)
        }
    }

    /// Whether `view` borrows NumPy's buffer (true) or a private copy (false).
    pub(crate) fn is_borrowed(&self) -> bool {
        self.copy.is_none()
    }
}

/// `what`: a value error `"{name}: {message}"`.
pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// Converts any Rust error into a `ValueError` carrying its `Display` message.
pub(crate) fn to_py<E: std::fmt::Display>(e: E) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Describes a Python object for an error message: `"a 1-D float64 array of shape (5,)"`,
/// `"an int64 array …"`, `"a list"`.
fn describe(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        let dtype = arr
            .dtype()
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "?".into());
        let shape: Vec<String> = arr.shape().iter().map(|s| s.to_string()).collect();
        let shape = if shape.len() == 1 {
            format!("({},)", shape[0])
        } else {
            format!("({})", shape.join(", "))
        };
        format!("a {}-D {dtype} array of shape {shape}", arr.ndim())
    } else {
        let ty = obj
            .get_type()
            .name()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "?".into());
        format!("an object of type {ty}")
    }
}

/// The 2-D `float64` array `obj`, validated (non-empty, finite) under the name `name`.
///
/// # Errors
/// `ValueError` naming `name` for a non-array, a dtype other than float64, `ndim ≠ 2`, an
/// empty array or a non-finite entry.
pub(crate) fn matrix<'py>(name: &'static str, obj: &Bound<'py, PyAny>) -> PyResult<Matrix<'py>> {
    matrix_in(name, obj, false)
}

/// As [`matrix`], but always column-major: a C-ordered array with more than one row and
/// column is copied. For the routines whose rounding depends on the layout (the fused
/// feature kernels read `x` row by row or column by column), so that the bits are those
/// of the Rust API on a column-major `Mat` whatever NumPy's order.
///
/// # Errors
/// As [`matrix`].
pub(crate) fn matrix_col_major<'py>(
    name: &'static str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Matrix<'py>> {
    matrix_in(name, obj, true)
}

fn matrix_in<'py>(
    name: &'static str,
    obj: &Bound<'py, PyAny>,
    col_major: bool,
) -> PyResult<Matrix<'py>> {
    let Ok(array) = obj.cast::<PyArray2<f64>>() else {
        return Err(value_error(format!(
            "{name}: expected a 2-D float64 NumPy array (n_samples, n_features), got {} \
             (convert with np.asarray({name}, dtype=np.float64), and reshape a single \
             column with .reshape(-1, 1))",
            describe(obj)
        )));
    };
    let array = array.readonly();
    let (row_major, copy) = if array.is_fortran_contiguous() {
        (false, None)
    } else if array.is_c_contiguous() && !col_major {
        (true, None)
    } else {
        // other strides, or C order where column-major is required: one copy
        let v = array.as_array();
        let (n, d) = v.dim();
        (false, Some(Mat::from_fn(n, d, |i, j| v[[i, j]])))
    };
    let m = Matrix {
        array,
        copy,
        row_major,
    };
    plres_kernels::validate::check_batch(name, m.view()).map_err(to_py)?;
    Ok(m)
}

/// A new Fortran-ordered `n × m` NumPy array, filled by `fill` through a column-major
/// `MatMut` over its buffer. `fill` runs with the GIL released.
pub(crate) fn output<'py>(
    py: Python<'py>,
    n: usize,
    m: usize,
    fill: impl FnOnce(MatMut<'_, f64>) + Send,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let out = PyArray2::<f64>::zeros(py, [n, m], true);
    {
        let mut rw = out.readwrite();
        let slice = rw.as_slice_mut().map_err(to_py)?;
        let mat = MatMut::from_column_major_slice_mut(slice, n, m);
        py.detach(move || fill(mat));
    }
    Ok(out)
}

/// Copies a faer matrix into a new Fortran-ordered NumPy array (parameters, small results).
pub(crate) fn to_numpy<'py>(py: Python<'py>, m: MatRef<'_, f64>) -> Bound<'py, PyArray2<f64>> {
    output(py, m.nrows(), m.ncols(), |mut out| out.copy_from(m)).expect("fresh array is contiguous")
}
