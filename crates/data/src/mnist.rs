//! MNIST-format datasets (Fashion-MNIST, MNIST) read from IDX files by path.
//!
//! Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando Research, MIT licence) is
//! packaged in Debian: `sudo apt-get install dataset-fashion-mnist` installs the four
//! gzip-compressed IDX files into [`FASHION_MNIST_DEBIAN_DIR`]
//! (`/usr/share/datasets/fashion-mnist/`): `train-images-idx3-ubyte.gz`,
//! `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
//! `t10k-labels-idx1-ubyte.gz` (checked against the file list of
//! `dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb`). Nothing here is
//! downloaded: pass the directory to [`load_fashion_mnist`]. The same file names are
//! used by the original MNIST distribution, so MNIST loads the same way.

use std::path::{Path, PathBuf};

use crate::idx::{IdxArray, IdxKind, read_idx};
use crate::{DataError, Dataset, Location, Targets};

/// Where Debian's `dataset-fashion-mnist` package installs its files.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Names of the ten Fashion-MNIST classes, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Which half of an MNIST-format dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MnistSplit {
    /// `train-*` files (60 000 samples for (Fashion-)MNIST).
    Train,
    /// `t10k-*` files (10 000 samples).
    Test,
}

impl MnistSplit {
    fn prefix(self) -> &'static str {
        match self {
            MnistSplit::Train => "train",
            MnistSplit::Test => "t10k",
        }
    }
}

/// Reads an image IDX file (`n × rows × cols`, magic `0x00000803`) and a label IDX file
/// (`n`, magic `0x00000801`) into a dataset: `x` is `n × (rows·cols)` with pixels
/// scaled to `[0, 1]` (value / 255, row-major within each image), `y` the labels.
///
/// # Errors
/// The file errors of [`read_idx`]; [`DataError::ZeroDimension`] when the image file
/// announces no images, rows or columns; [`DataError::CountMismatch`] when the two files
/// disagree on `n`; [`DataError::LabelOutOfRange`] (with the label's byte offset) for a
/// label `≥ n_classes`; [`DataError::TooLarge`] for a file above
/// [`MAX_IDX_BYTES`](crate::MAX_IDX_BYTES) (see [`read_idx`]); [`DataError::OutOfMemory`]
/// when the `f64` matrix (8 bytes per pixel) cannot be allocated.
pub fn load_idx_pair(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    n_classes: usize,
) -> Result<Dataset, DataError> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let img = read_idx(images, IdxKind::Images)?;
    let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    // A zero dimension makes an empty file valid whatever the others say: refuse it
    // before a `0 × 2⁶⁴` matrix is built column by column.
    for (dim, what) in [(n, "the number of images"), (rows, "rows"), (cols, "cols")] {
        if dim == 0 {
            return Err(DataError::ZeroDimension {
                file: images.to_path_buf(),
                dims: img.dims.clone(),
                what,
            });
        }
    }
    let lab = read_idx(labels, IdxKind::Labels)?;
    let out = class_labels(&lab, n, n_classes, images, labels)?;
    // Non-zero and backed by the file's bytes (checked by `read_idx`): no overflow.
    let d = rows * cols;
    let x = crate::io_util::pixels(n, d, &img.data, images)?;
    Ok(Dataset {
        x,
        y: Targets::Classes {
            labels: out,
            n_classes,
        },
    })
}

/// The labels of the `n` images of the file `images`, from the IDX array `lab` read from
/// the file `labels`: [`DataError::CountMismatch`] unless it holds `n` labels,
/// [`DataError::LabelOutOfRange`] (with the byte offset) at the first one `≥ n_classes`.
pub(crate) fn class_labels(
    lab: &IdxArray,
    n: usize,
    n_classes: usize,
    images: &Path,
    labels: &Path,
) -> Result<Vec<usize>, DataError> {
    if lab.dims[0] != n {
        return Err(DataError::CountMismatch {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            n_images: n,
            n_labels: lab.dims[0],
        });
    }
    // The label file's header is 4 (magic) + 4 (one dimension) = 8 bytes.
    const LABEL_HEADER: u64 = 8;
    let mut out = Vec::with_capacity(n);
    for (i, &l) in lab.data.iter().enumerate() {
        if usize::from(l) >= n_classes {
            return Err(DataError::LabelOutOfRange {
                file: labels.to_path_buf(),
                location: Location::Byte(LABEL_HEADER + i as u64),
                label: l.to_string(),
                n_classes,
            });
        }
        out.push(usize::from(l));
    }
    Ok(out)
}

/// Loads one split of Fashion-MNIST (or MNIST) from `dir`: the files
/// `{train,t10k}-images-idx3-ubyte[.gz]` and `{train,t10k}-labels-idx1-ubyte[.gz]`
/// (the `.gz` name is used when it exists, else the uncompressed name), 10 classes,
/// pixels scaled to `[0, 1]` as in [`load_idx_pair`].
///
/// On Debian, after `apt-get install dataset-fashion-mnist`, pass
/// [`FASHION_MNIST_DEBIAN_DIR`].
///
/// ```no_run
/// use plres_data::{load_fashion_mnist, MnistSplit, FASHION_MNIST_DEBIAN_DIR};
/// let test = load_fashion_mnist(FASHION_MNIST_DEBIAN_DIR, MnistSplit::Test)?;
/// assert_eq!((test.n_samples(), test.d_in()), (10_000, 784));
/// # Ok::<(), plres_data::DataError>(())
/// ```
pub fn load_fashion_mnist(dir: impl AsRef<Path>, split: MnistSplit) -> Result<Dataset, DataError> {
    let dir = dir.as_ref();
    let images = pick(dir, &format!("{}-images-idx3-ubyte", split.prefix()));
    let labels = pick(dir, &format!("{}-labels-idx1-ubyte", split.prefix()));
    load_idx_pair(images, labels, 10)
}

/// `dir/name.gz` if it exists, else `dir/name` (whose absence is then reported by the
/// reader with that path).
fn pick(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() { gz } else { dir.join(name) }
}
