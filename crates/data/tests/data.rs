//! Integration tests of plres-data: file formats (IDX, CSV) and their errors, the
//! embedded digits, the synthetic generators' guarantees, and preprocessing.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use faer::Mat;
use plres_data::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const EPS: f64 = f64::EPSILON;

/// Proptest case count: `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A fresh empty directory for one test (removed by the test at the end).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plres-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn tiny_images() -> IdxArray {
    // 3 images of 2×4 pixels, every byte value distinct.
    IdxArray {
        dims: vec![3, 2, 4],
        data: (0..24u8).map(|b| b * 11).collect(),
    }
}

fn tiny_labels() -> IdxArray {
    IdxArray {
        dims: vec![3],
        data: vec![7, 0, 9],
    }
}

// ---------------------------------------------------------------- IDX format

#[test]
fn idx_round_trip_raw_and_gzip() {
    let dir = scratch("idx-round-trip");
    for gz in [false, true] {
        let (ip, lp) = (dir.join(format!("img-{gz}")), dir.join(format!("lab-{gz}")));
        write_idx(&ip, &tiny_images(), gz).unwrap();
        write_idx(&lp, &tiny_labels(), gz).unwrap();
        let on_disk = std::fs::read(&ip).unwrap();
        assert_eq!(
            on_disk.starts_with(&[0x1f, 0x8b]),
            gz,
            "gzip magic iff compressed"
        );
        if !gz {
            // Header: magic 00 00 08 03, then dims 3, 2, 4 as big-endian u32.
            assert_eq!(
                &on_disk[..16],
                &[0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4]
            );
        }
        assert_eq!(read_idx(&ip, IdxKind::Images).unwrap(), tiny_images());
        assert_eq!(read_idx(&ip, IdxKind::AnyU8).unwrap(), tiny_images());
        assert_eq!(read_idx(&lp, IdxKind::Labels).unwrap(), tiny_labels());

        let ds = load_idx_pair(&ip, &lp, 10).unwrap();
        assert_eq!((ds.n_samples(), ds.d_in()), (3, 8));
        assert_eq!(ds.y.labels().unwrap(), &[7, 0, 9]);
        for i in 0..3 {
            for j in 0..8 {
                // value/255 is one correctly rounded division: bitwise equal.
                assert_eq!(
                    ds.x[(i, j)],
                    f64::from(tiny_images().data[i * 8 + j]) / 255.0
                );
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn idx_malformed_files_give_typed_errors_with_offsets() {
    let f = Path::new("mem.idx");
    let good = tiny_images().to_bytes(); // 16 header + 24 data bytes

    // Wrong magic: a label file where images are expected, and garbage.
    match parse_idx(&tiny_labels().to_bytes(), f, IdxKind::Images) {
        Err(DataError::BadMagic { found, .. }) => assert_eq!(found, 0x0000_0801),
        other => panic!("expected BadMagic, got {other:?}"),
    }
    let mut bad = good.clone();
    bad[2] = 0x0d; // float32 type code
    assert!(matches!(
        parse_idx(&bad, f, IdxKind::AnyU8),
        Err(DataError::BadMagic {
            found: 0x0000_0d03,
            ..
        })
    ));

    // Truncated inside the magic, inside the dimensions, inside the data.
    for (len, needed) in [(3usize, 4u64), (10, 16), (30, 40)] {
        match parse_idx(&good[..len], f, IdxKind::Images) {
            Err(DataError::Truncated {
                offset, needed: nd, ..
            }) => {
                assert_eq!((offset, nd), (len as u64, needed));
            }
            other => panic!("len {len}: expected Truncated, got {other:?}"),
        }
    }

    // Dimensions that disagree with the length: trailing bytes.
    let mut long = good.clone();
    long.extend_from_slice(&[1, 2, 3]);
    match parse_idx(&long, f, IdxKind::Images) {
        Err(DataError::TrailingBytes { offset, extra, .. }) => assert_eq!((offset, extra), (40, 3)),
        other => panic!("expected TrailingBytes, got {other:?}"),
    }

    // Dimensions whose product overflows u64.
    let huge = [
        0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    ];
    assert!(matches!(
        parse_idx(&huge, f, IdxKind::Images),
        Err(DataError::DimensionOverflow { .. })
    ));

    // The message names the file and the position.
    let msg = parse_idx(&good[..30], f, IdxKind::Images)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("mem.idx") && msg.contains("byte 30"), "{msg}");
}

#[test]
fn idx_file_errors_name_the_file() {
    let dir = scratch("idx-errors");
    let (ip, lp) = (dir.join("images.idx"), dir.join("labels.idx.gz"));
    write_idx(&ip, &tiny_images(), false).unwrap();

    // Image and label counts disagree.
    write_idx(
        &lp,
        &IdxArray {
            dims: vec![2],
            data: vec![1, 2],
        },
        true,
    )
    .unwrap();
    match load_idx_pair(&ip, &lp, 10) {
        Err(DataError::CountMismatch {
            n_images, n_labels, ..
        }) => assert_eq!((n_images, n_labels), (3, 2)),
        other => panic!("expected CountMismatch, got {other:?}"),
    }

    // A label out of range: the third label, at byte 8 + 2 of the label stream.
    write_idx(
        &lp,
        &IdxArray {
            dims: vec![3],
            data: vec![1, 2, 10],
        },
        true,
    )
    .unwrap();
    match load_idx_pair(&ip, &lp, 10) {
        Err(DataError::LabelOutOfRange {
            file,
            location,
            label,
            n_classes,
        }) => {
            assert_eq!(
                (file, location, label.as_str(), n_classes),
                (lp.clone(), Location::Byte(10), "10", 10)
            );
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }

    // A gzip stream cut short.
    let gz = gzip(&tiny_images().to_bytes());
    let cut = dir.join("cut.gz");
    std::fs::write(&cut, &gz[..gz.len() - 6]).unwrap();
    let err = read_idx(&cut, IdxKind::Images).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.gz"));

    // A missing file.
    let missing = dir.join("nope");
    match read_idx(&missing, IdxKind::Images) {
        Err(DataError::Io { file, .. }) => assert_eq!(file, missing),
        other => panic!("expected Io, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs `f` on a helper thread and fails the test (instead of hanging it) when no answer
/// comes within `secs` seconds.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("no answer within {secs} s ({e}): the call hangs"))
}

/// Issue 19, case 1: an image header announcing no images of `4 294 967 295²` pixels
/// (16 bytes, no data) with a label file of no labels used to hang in `Mat::from_fn`;
/// `65536²` pixels took seconds and returned a `0 × 2³²` dataset. A zero dimension is
/// now refused before anything is allocated, naming the file and the dimensions.
#[test]
fn idx_zero_dimension_beside_a_huge_one_is_refused_at_once() {
    let dir = scratch("idx-zero-dim");
    let (ip, lp) = (dir.join("images.idx"), dir.join("labels.idx"));
    std::fs::write(&lp, [0, 0, 8, 1, 0, 0, 0, 0]).unwrap();
    for side in [u32::MAX, 65_536, 0] {
        let mut header = vec![0, 0, 8, 3, 0, 0, 0, 0];
        header.extend_from_slice(&side.to_be_bytes());
        header.extend_from_slice(&side.to_be_bytes());
        std::fs::write(&ip, &header).unwrap();
        let (i2, l2) = (ip.clone(), lp.clone());
        match within(10, move || load_idx_pair(&i2, &l2, 10)) {
            Err(e @ DataError::ZeroDimension { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("images.idx") && msg.contains(&format!("[0, {side}, {side}]")),
                    "{msg}"
                );
            }
            other => panic!("side {side}: expected ZeroDimension, got {other:?}"),
        }
    }
    // Images with no pixels but a sample count backed by labels are refused too.
    std::fs::write(&ip, [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
    std::fs::write(&lp, [0, 0, 8, 1, 0, 0, 0, 2, 1, 1]).unwrap();
    assert!(matches!(
        load_idx_pair(&ip, &lp, 10),
        Err(DataError::ZeroDimension { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Issue 19, case 2: a gzip stream that inflates far beyond what its IDX header announces
/// (a one-pixel image followed by 256 MiB of zeros, 260 kB compressed) is refused after
/// inflating at most the announced size plus one byte, not inflated in full first.
/// The bytes after the 256 MiB are a corrupt deflate block: a reader that inflates
/// everything reports that corruption, one that stops at the header's size never sees it.
#[test]
fn idx_gzip_inflating_past_its_header_stops_at_the_announced_size() {
    let dir = scratch("idx-gzip-bomb");
    let path = dir.join("bomb.idx.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&[0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 42])
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&zeros).unwrap();
    }
    let mut gz = enc.finish().unwrap();
    gz.truncate(gz.len() - 8); // drop CRC and length: the full stream is corrupt
    std::fs::write(&path, &gz).unwrap();
    match read_idx(&path, IdxKind::Images) {
        Err(e @ DataError::TrailingData { offset: 17, .. }) => {
            assert_message_names(&e, "bomb.idx.gz", "byte 17");
        }
        other => panic!("expected TrailingData at byte 17, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Asserts that the message of `e` names the file `file` and contains `detail`.
fn assert_message_names(e: &DataError, file: &str, detail: &str) {
    let msg = e.to_string();
    assert!(msg.contains(file) && msg.contains(detail), "{msg}");
}

/// `len` zero bytes after `head`, gzip-compressed (fast level: a few hundred ms for
/// 80 MB, about 1/1000 of it on disk); nothing large is committed.
fn gzip_bomb(head: &[u8], len: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let k = left.min(zeros.len());
        enc.write_all(&zeros[..k]).unwrap();
        left -= k;
    }
    enc.finish().unwrap()
}

/// Issue 19, case 2: an IDX header that announces more than `MAX_IDX_BYTES` (here
/// 2¹⁴ × 2⁸ × 2⁹ = 2 GiB) is refused as soon as the header is read, before the 50 MB of
/// zeros behind it are inflated; before the fix the reader inflated whatever the stream
/// held (up to ~1000× the file) and only then reported truncation. The pair loader
/// reports the same error.
#[test]
fn idx_header_announcing_more_than_the_maximum_is_refused_before_inflating() {
    let dir = scratch("idx-huge-header");
    let path = dir.join("huge.idx.gz");
    let header = [0, 0, 8, 3, 0, 0, 0x40, 0, 0, 0, 1, 0, 0, 0, 2, 0];
    std::fs::write(&path, gzip_bomb(&header, 50 << 20)).unwrap();
    let announced = 1u64 << 31;
    match read_idx(&path, IdxKind::Images) {
        Err(e @ DataError::TooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (announced, MAX_IDX_BYTES));
            let msg = e.to_string();
            assert!(
                msg.contains("huge.idx.gz") && msg.contains(&announced.to_string()),
                "{msg}"
            );
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let labels = dir.join("labels.idx");
    std::fs::write(&labels, [0, 0, 8, 1, 0, 0, 0, 0]).unwrap();
    assert!(matches!(
        load_idx_pair(&path, &labels, 10),
        Err(DataError::TooLarge { size, .. }) if size == announced
    ));
    // The same header uncompressed, in memory.
    assert!(matches!(
        parse_idx(&header, Path::new("huge.idx"), IdxKind::Images),
        Err(DataError::TooLarge { size, .. }) if size == announced
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A raw file longer than the maximum is refused from its length, before it is read
/// (sparse files: nothing is written to disk).
#[test]
fn files_longer_than_the_maximum_are_refused_unread() {
    let dir = scratch("sparse");
    let idx = dir.join("big.idx");
    let f = std::fs::File::create(&idx).unwrap();
    f.set_len(MAX_IDX_FILE_BYTES + 1).unwrap();
    assert!(matches!(
        read_idx(&idx, IdxKind::AnyU8),
        Err(DataError::TooLarge { size, limit, .. })
            if (size, limit) == (MAX_IDX_FILE_BYTES + 1, MAX_IDX_FILE_BYTES)
    ));
    let csv = dir.join("big.csv");
    let f = std::fs::File::create(&csv).unwrap();
    f.set_len(MAX_CSV_BYTES + 1).unwrap();
    assert!(matches!(
        load_digits_from_path(&csv),
        Err(DataError::TooLarge { size, limit, .. })
            if (size, limit) == (MAX_CSV_BYTES + 1, MAX_CSV_BYTES)
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Issue 19, case 2: a gzipped CSV (80 MB of zero bytes, ~80 kB compressed) is inflated
/// at most one byte past `MAX_CSV_BYTES` and refused with an error naming the file and
/// the limit; before the fix it was inflated in full (any size) before parsing.
#[test]
fn csv_gzip_bomb_is_refused_at_the_maximum() {
    let dir = scratch("csv-bomb");
    let path = dir.join("bomb.csv.gz");
    let bomb = gzip_bomb(b"", 80 << 20);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    std::fs::write(&path, &bomb).unwrap();
    match load_digits_from_path(&path) {
        Err(e @ DataError::TooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (MAX_CSV_BYTES + 1, MAX_CSV_BYTES));
            assert_message_names(&e, "bomb.csv.gz", "MAX_CSV_BYTES");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fashion_mnist_loader_reads_raw_and_gzip_names() {
    let dir = scratch("fashion");
    // Train split gzip-compressed, test split raw: both names are accepted.
    write_idx(dir.join("train-images-idx3-ubyte.gz"), &tiny_images(), true).unwrap();
    write_idx(dir.join("train-labels-idx1-ubyte.gz"), &tiny_labels(), true).unwrap();
    write_idx(dir.join("t10k-images-idx3-ubyte"), &tiny_images(), false).unwrap();
    write_idx(dir.join("t10k-labels-idx1-ubyte"), &tiny_labels(), false).unwrap();
    let train = load_fashion_mnist(&dir, MnistSplit::Train).unwrap();
    let test = load_fashion_mnist(&dir, MnistSplit::Test).unwrap();
    assert_eq!(train, test);
    assert_eq!(train.y.labels().unwrap(), &[7, 0, 9]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs on the real files when present: `PLRES_FASHION_MNIST_DIR`, else Debian's
/// install directory; skipped (with a note) otherwise.
#[test]
fn real_fashion_mnist_when_installed() {
    let dir = std::env::var("PLRES_FASHION_MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(FASHION_MNIST_DEBIAN_DIR));
    if !dir.join("t10k-labels-idx1-ubyte.gz").exists() {
        eprintln!("note: no Fashion-MNIST in {}, skipped", dir.display());
        return;
    }
    let test = load_fashion_mnist(&dir, MnistSplit::Test).unwrap();
    assert_eq!((test.n_samples(), test.d_in()), (10_000, 784));
    // The Fashion-MNIST test set is balanced: 1000 per class.
    assert_eq!(test.y.class_counts().unwrap(), vec![1000; 10]);
}

// ---------------------------------------------------------------- digits / CSV

#[test]
fn embedded_digits_have_the_known_shape_and_class_counts() {
    let ds = load_digits().unwrap();
    assert_eq!(
        (ds.n_samples(), ds.d_in()),
        (DIGITS_N_SAMPLES, DIGITS_N_FEATURES)
    );
    // Counted with `zcat data/digits.csv.gz | awk -F, '{print $NF}' | sort | uniq -c`.
    assert_eq!(ds.y.class_counts().unwrap(), DIGITS_CLASS_COUNTS.to_vec());
    assert_eq!(DIGITS_CLASS_COUNTS.iter().sum::<usize>(), 1797);
    for i in 0..ds.n_samples() {
        for j in 0..ds.d_in() {
            let v = ds.x[(i, j)];
            assert!(
                v.fract() == 0.0 && (0.0..=16.0).contains(&v),
                "x[{i},{j}] = {v}"
            );
        }
    }
    // First line of the file: 0,0,5,13,9,1,0,0,… label 0.
    assert_eq!(
        (0..8).map(|j| ds.x[(0, j)]).collect::<Vec<_>>(),
        [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(ds.y.labels().unwrap()[..3], [0, 1, 2]);
}

#[test]
fn digits_from_path_match_embedded_gzip_and_plain() {
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits.csv.gz");
    let embedded = load_digits().unwrap();
    assert_eq!(load_digits_from_path(&vendored).unwrap(), embedded);

    let dir = scratch("digits");
    let plain = dir.join("digits.csv");
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&std::fs::read(&vendored).unwrap()[..]),
        &mut text,
    )
    .unwrap();
    // CRLF line ends are accepted too.
    let crlf: Vec<u8> = text
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    std::fs::write(&plain, crlf).unwrap();
    assert_eq!(load_digits_from_path(&plain).unwrap(), embedded);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn csv_malformed_lines_give_typed_errors_with_line_and_column() {
    let f = Path::new("small.csv");
    let parse = |s: &str| parse_labelled_csv(s.as_bytes(), f, 2, 3);
    assert_eq!(parse("1,2,0\n\n3.5,-4,2\n").unwrap().n_samples(), 2);

    match parse("1,2,0\n1,x,1\n") {
        Err(DataError::NotNumeric {
            line,
            column,
            field,
            ..
        }) => {
            assert_eq!((line, column, field.as_str()), (2, 2, "x"));
        }
        other => panic!("expected NotNumeric, got {other:?}"),
    }
    for (text, col) in [("nan,1,0\n", 1), ("1,inf,0\n", 2), ("1,,0\n", 2)] {
        assert!(
            matches!(
                parse(text),
                Err(DataError::NotNumeric { line: 1, column, .. }) if column == col
            ),
            "{text:?}"
        );
    }
    match parse("1,2,0\n1,2\n") {
        Err(DataError::ColumnCount {
            line,
            expected,
            found,
            ..
        }) => assert_eq!((line, expected, found), (2, 3, 2)),
        other => panic!("expected ColumnCount, got {other:?}"),
    }
    assert!(matches!(
        parse("1,2,0,4\n"),
        Err(DataError::ColumnCount {
            line: 1,
            found: 4,
            ..
        })
    ));
    for bad in ["3", "-1", "2.5"] {
        match parse(&format!("1,2,{bad}\n")) {
            Err(DataError::LabelOutOfRange {
                location,
                label,
                n_classes,
                ..
            }) => {
                assert_eq!(
                    (location, label.as_str(), n_classes),
                    (Location::Field { line: 1, column: 3 }, bad, 3)
                );
            }
            other => panic!("label {bad}: expected LabelOutOfRange, got {other:?}"),
        }
    }
    assert!(matches!(parse("\n\n"), Err(DataError::Empty { .. })));
    assert!(matches!(
        parse_labelled_csv(b"1,2,0\n1,\xff,0\n", f, 2, 3),
        Err(DataError::NotUtf8 { line: 2, .. })
    ));
    let msg = parse("1,2,0\n1,x,1\n").unwrap_err().to_string();
    assert!(
        msg.contains("small.csv") && msg.contains("line 2, column 2"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- dataset

#[test]
fn dataset_checks_and_one_hot() {
    let x = Mat::<f64>::zeros(3, 2);
    assert!(matches!(
        Dataset::new(
            x.clone(),
            Targets::Classes {
                labels: vec![0, 1],
                n_classes: 2
            }
        ),
        Err(DataError::RowMismatch {
            x_rows: 3,
            y_rows: 2
        })
    ));
    assert!(
        Dataset::new(
            x.clone(),
            Targets::Classes {
                labels: vec![0, 1, 2],
                n_classes: 2
            }
        )
        .is_err()
    );
    let ds = Dataset::new(
        x,
        Targets::Classes {
            labels: vec![1, 0, 1],
            n_classes: 2,
        },
    )
    .unwrap();
    let y = ds.y.to_matrix();
    // Each row of a one-hot matrix sums to 1, with its 1 at the label.
    for (i, &l) in [1usize, 0, 1].iter().enumerate() {
        assert_eq!((y[(i, l)], y[(i, 1 - l)]), (1.0, 0.0));
    }
    assert_eq!(ds.select(&[2, 0]).y.labels().unwrap(), &[1, 1]);
}

// ---------------------------------------------------------------- synthetic

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    /// The sampler's guarantee: every pairwise distance ≥ δ (exactly, no tolerance) and
    /// every point in the closed ball of radius r. δ is taken well below the packing
    /// scale r·N^{-1/d} so that rejection sampling succeeds.
    #[test]
    fn separated_ball_guarantees_separation(
        n in 1usize..40, d in 1usize..5, r in 0.5f64..2.0, f in 0.05f64..0.4, seed: u64,
    ) {
        let delta = f * r * (n as f64).powf(-1.0 / d as f64);
        let cfg = SeparatedBallConfig::new(n, d, r, delta);
        let ds = separated_ball(&cfg, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        prop_assert_eq!((ds.n_samples(), ds.d_in()), (n, d));
        prop_assert!(plres_kernels::spectral::min_separation(ds.x.as_ref()) >= delta);
        for i in 0..n {
            let norm = (0..d).map(|k| ds.x[(i, k)].powi(2)).sum::<f64>().sqrt();
            prop_assert!(norm <= r, "‖x_{}‖ = {} > r = {}", i, norm, r);
        }
    }

    /// A split is a partition of 0..N with round(f·N) test samples, determined by the seed,
    /// and each part holds the rows it names.
    #[test]
    fn split_is_a_deterministic_partition(n in 0usize..120, frac in 0.0f64..=1.0, seed: u64) {
        let x = Mat::from_fn(n, 2, |i, j| (i * 2 + j) as f64);
        let ds = Dataset { x, y: Targets::Classes { labels: (0..n).map(|i| i % 3).collect(), n_classes: 3 } };
        let s = train_test_split(&ds, frac, seed).unwrap();
        prop_assert_eq!(s.test_indices.len(), (frac * n as f64).round() as usize);
        let mut all: Vec<usize> = s.train_indices.iter().chain(&s.test_indices).copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        for (part, idx) in [(&s.train, &s.train_indices), (&s.test, &s.test_indices)] {
            for (r, &i) in idx.iter().enumerate() {
                prop_assert_eq!(part.x[(r, 0)], (2 * i) as f64);
                prop_assert_eq!(part.y.labels().unwrap()[r], i % 3);
            }
        }
        let again = train_test_split(&ds, frac, seed).unwrap();
        prop_assert_eq!(again, s);
    }

    /// Standardised training columns have mean 0 and (population) variance 1 up to
    /// rounding. Error budget: the computed mean m is off by ≤ N·ε·max|x| (recursive
    /// summation), i.e. ≤ N·ε·max|x|/s in standardised units, which shifts every z_i
    /// alike; the test's own sums add ≤ N·ε·max|z|: |mean z| ≤ 4 N ε (max|x|/s + max|z|).
    /// The variance is shift-invariant: each x_i − m is one correctly rounded
    /// subtraction (relative error ε/2), s has relative error ≲ N ε (sum of squares,
    /// with the centring correction), the test's sums add N ε max|z|²:
    /// |var z − 1| ≤ 8 N ε max|z|², independent of the offset.
    #[test]
    fn standardisation_gives_zero_mean_unit_variance(
        n in 2usize..200, d in 1usize..5, offset in -1e4f64..1e4, scale in 1e-3f64..1e3, seed: u64,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Mat::from_fn(n, d, |_, j| offset * j as f64 + scale * rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng));
        let st = Standardizer::fit(x.as_ref()).unwrap();
        let z = st.transform(x.as_ref());
        let nf = n as f64;
        for j in 0..d {
            prop_assume!(!st.constant[j]);
            let max_x = (0..n).map(|i| x[(i, j)].abs()).fold(0.0, f64::max);
            let max_z = (0..n).map(|i| z[(i, j)].abs()).fold(0.0, f64::max);
            let k = max_x / st.scale[j] + max_z;
            let mean = (0..n).map(|i| z[(i, j)]).sum::<f64>() / nf;
            let var = (0..n).map(|i| (z[(i, j)] - mean).powi(2)).sum::<f64>() / nf;
            prop_assert!(mean.abs() <= 4.0 * nf * EPS * k, "mean {} tol {}", mean, 4.0 * nf * EPS * k);
            let tol_var = 8.0 * nf * EPS * max_z * max_z;
            prop_assert!((var - 1.0).abs() <= tol_var, "var {} tol {}", var, tol_var);
        }
    }
}

#[test]
fn separated_ball_refuses_infeasible_requests_without_looping() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // Packing bound (1 + 2r/δ)^d = 3 < 10 points: refused before any draw.
    match separated_ball(&SeparatedBallConfig::new(10, 1, 1.0, 1.0), &mut rng) {
        Err(DataError::Infeasible {
            provably, tries, ..
        }) => assert!(provably && tries == 0),
        other => panic!("expected Infeasible, got {other:?}"),
    }
    // 3 points pairwise ≥ 1.9 apart in the unit disc: impossible (the best is √3 ≈ 1.73,
    // the inscribed equilateral triangle) but within the packing bound 4.2: the try
    // budget ends it.
    let mut cfg = SeparatedBallConfig::new(3, 2, 1.0, 1.9);
    cfg.max_tries = 5_000;
    match separated_ball(&cfg, &mut rng) {
        Err(DataError::Infeasible {
            provably,
            tries,
            placed,
            ..
        }) => {
            assert!(!provably && tries == 5_000 && placed < 3);
        }
        other => panic!("expected Infeasible, got {other:?}"),
    }
    assert!(matches!(
        separated_ball(&SeparatedBallConfig::new(3, 0, 1.0, 0.1), &mut rng),
        Err(DataError::InvalidParameter { name: "dim", .. })
    ));
    assert!(matches!(
        separated_ball(&SeparatedBallConfig::new(3, 2, 1.0, f64::NAN), &mut rng),
        Err(DataError::InvalidParameter { name: "delta", .. })
    ));
}

#[test]
fn synthetic_data_is_reproducible_per_seed() {
    let make_all = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ball = separated_ball(&SeparatedBallConfig::new(30, 3, 1.0, 0.2), &mut rng).unwrap();
        let moons = two_moons(21, 0.1, &mut rng).unwrap();
        let circ = circles(21, 0.5, 0.05, &mut rng).unwrap();
        let sph = unit_sphere(7, 4, &mut rng).unwrap();
        (ball, moons, circ, sph)
    };
    assert_eq!(make_all(5), make_all(5));
    assert_ne!(make_all(5).0, make_all(6).0);
}

#[test]
fn sphere_targets_and_sphere_points_have_unit_norm() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut cfg = SeparatedBallConfig::new(25, 5, 1.0, 0.2);
    cfg.targets = BallTargets::Sphere { radius: 2.0 };
    let ds = separated_ball(&cfg, &mut rng).unwrap();
    let Targets::Regression(y) = &ds.y else {
        panic!("regression targets expected")
    };
    let x = unit_sphere(50, 5, &mut rng).unwrap();
    // A normalised d-vector has norm 1 up to (d + 2)·ε/2 (sum of squares, sqrt, division).
    let tol = 8.0 * EPS;
    for i in 0..25 {
        let ny = (0..5).map(|k| y[(i, k)].powi(2)).sum::<f64>().sqrt();
        assert!((ny - 2.0).abs() <= 2.0 * tol, "‖y_{i}‖ = {ny}");
    }
    for i in 0..50 {
        let nx = (0..5).map(|k| x[(i, k)].powi(2)).sum::<f64>().sqrt();
        assert!((nx - 1.0).abs() <= tol, "‖x_{i}‖ = {nx}");
    }
    assert!(unit_sphere(3, 0, &mut rng).is_err());
}

#[test]
fn moons_and_circles_without_noise_lie_on_their_curves() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let c = circles(41, 0.3, 0.0, &mut rng).unwrap();
    assert_eq!(c.y.class_counts().unwrap(), vec![20, 21]);
    for (i, &l) in c.y.labels().unwrap().iter().enumerate() {
        let r = c.x[(i, 0)].hypot(c.x[(i, 1)]);
        let want = if l == 0 { 1.0 } else { 0.3 };
        assert!(
            (r - want).abs() <= 4.0 * EPS,
            "sample {i}: radius {r}, class {l}"
        );
    }
    let m = two_moons(40, 0.0, &mut rng).unwrap();
    assert_eq!(m.y.class_counts().unwrap(), vec![20, 20]);
    for (i, &l) in m.y.labels().unwrap().iter().enumerate() {
        // Class 0 on the unit circle, upper half; class 1 on the circle of radius 1
        // centred at (1, 1/2), lower half.
        let (cx, cy) = if l == 0 { (0.0, 0.0) } else { (1.0, 0.5) };
        let (dx, dy) = (m.x[(i, 0)] - cx, m.x[(i, 1)] - cy);
        assert!((dx.hypot(dy) - 1.0).abs() <= 4.0 * EPS, "sample {i}");
        assert!(if l == 0 { dy >= -EPS } else { dy <= EPS });
    }
    assert!(circles(10, 1.0, 0.0, &mut rng).is_err());
    assert!(two_moons(10, -0.1, &mut rng).is_err());
}

// ---------------------------------------------------------------- teacher flow

#[test]
fn teacher_targets_are_bitwise_reproducible_per_seed() {
    let make = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = unit_sphere(40, 3, &mut rng).unwrap();
        teacher_dataset(
            x,
            &TeacherConfig {
                steps: 50,
                ..TeacherConfig::default()
            },
            &mut rng,
        )
        .unwrap()
    };
    let (a, ta) = make(11);
    let (b, tb) = make(11);
    let Targets::Regression(ya) = &a.y else {
        unreachable!()
    };
    let Targets::Regression(yb) = &b.y else {
        unreachable!()
    };
    for i in 0..40 {
        for k in 0..3 {
            assert_eq!(ya[(i, k)].to_bits(), yb[(i, k)].to_bits());
        }
    }
    assert_eq!(ta, tb);
    assert_ne!(make(12).0, a);
}

/// ẋ = a cos(ωx + b) in 1-D has the closed form (u = ωx + b, u̇ = aω cos u):
/// atanh(sin u(t)) = atanh(sin u(0)) + aω t, for u(0) ∈ (−π/2, π/2).
/// RK4's global error is C·h⁴: halving h divides it by 16.
#[test]
fn teacher_rk4_matches_closed_form_with_fourth_order() {
    let (a, w, b): (f64, f64, f64) = (0.8, 1.3, 0.2);
    let flow = |steps| {
        TeacherFlow::from_parts(
            plres_rff::RandomFourierFeatures::from_parts(
                Mat::from_fn(1, 1, |_, _| w),
                vec![b],
                &plres_kernels::KernelSpec::Gaussian { sigma: 1.0 / w },
                plres_rff::FourierVariant::CosineWithPhase,
            )
            .unwrap(),
            Mat::from_fn(1, 1, |_, _| a),
            steps,
        )
    };
    let x0s = [-0.9, -0.3, 0.0, 0.4, 0.9];
    let exact = |x0: f64| (((w * x0 + b).sin().atanh() + a * w).tanh().asin() - b) / w;
    let err = |steps| {
        let x = Mat::from_fn(5, 1, |i, _| x0s[i]);
        let y = flow(steps).flow(x.as_ref()).unwrap();
        (0..5)
            .map(|i| (y[(i, 0)] - exact(x0s[i])).abs())
            .fold(0.0, f64::max)
    };
    let (e10, e20, e400) = (err(10), err(20), err(400));
    let ratio = e10 / e20;
    assert!(
        (12.0..20.0).contains(&ratio),
        "error ratio {ratio}, expected ≈ 16 (order 4)"
    );
    // At h = 1/400 the truncation error e10·(10/400)⁴ ≈ 4e-7·e10 is below rounding;
    // rounding accumulates ≲ steps·ε·|x|.
    assert!(
        e400 <= e10 * (10.0f64 / 400.0).powi(4) * 2.0 + 400.0 * EPS,
        "e400 = {e400}"
    );
}

#[test]
fn teacher_field_is_the_rff_expansion_and_the_flow_inverts() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let cfg = TeacherConfig {
        features: 16,
        steps: 100,
        ..TeacherConfig::default()
    };
    let t = TeacherFlow::sample(3, &cfg, &mut rng).unwrap();
    let x = unit_sphere(12, 3, &mut rng).unwrap();

    // v(x) = U* φ(x), φ(x) = √(2/m) cos(Ωx + b): same sums in another order, so agree to
    // m·ε·Σ_j |U*_kj||φ_j| ≤ m·ε·‖U*‖_F·√2.
    let v = t.field(x.as_ref());
    let u = t.rff_weights();
    let m = 16.0f64;
    let u_norm = (0..3)
        .flat_map(|k| (0..16).map(move |j| (k, j)))
        .map(|(k, j)| u[(k, j)].powi(2))
        .sum::<f64>()
        .sqrt();
    for i in 0..12 {
        for k in 0..3 {
            let mut s = 0.0;
            for j in 0..16 {
                let z: f64 =
                    (0..3).map(|l| t.omega()[(j, l)] * x[(i, l)]).sum::<f64>() + t.bias()[j];
                s += u[(k, j)] * (2.0 / m).sqrt() * z.cos();
            }
            assert!(
                (s - v[(i, k)]).abs() <= 4.0 * m * EPS * u_norm * 2f64.sqrt(),
                "{s} vs {}",
                v[(i, k)]
            );
        }
    }

    // Lipschitz bound: ‖v(x) − v(y)‖ ≤ L ‖x − y‖ for every pair.
    let lip = t.lipschitz_bound();
    for i in 0..12 {
        for j in 0..i {
            let dv = (0..3)
                .map(|k| (v[(i, k)] - v[(j, k)]).powi(2))
                .sum::<f64>()
                .sqrt();
            let dx = (0..3)
                .map(|k| (x[(i, k)] - x[(j, k)]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                dv <= lip * dx * (1.0 + 1e-12),
                "pair ({i},{j}): {dv} > {lip}·{dx}"
            );
        }
    }

    // Running the flow backwards undoes it. Each leg has RK4's global error O(h⁴), so the
    // round-trip error falls at least 16-fold per halving of h (in fact ~32-fold: the
    // leading h⁵ local terms of the forward and backward steps cancel). From h = 1/5 to
    // h = 1/100 the error must then shrink at least by 20⁴, down to rounding
    // (≲ 2·steps·ε·max|x| with |x| ≤ 1 + displacement ≤ 2).
    let round_trip = |steps| {
        let mut y = x.clone();
        t.integrate_in_place(y.as_mut(), 1.0, steps).unwrap();
        t.integrate_in_place(y.as_mut(), -1.0, steps).unwrap();
        (0..12)
            .flat_map(|i| (0..3).map(move |k| (i, k)))
            .map(|(i, k)| (y[(i, k)] - x[(i, k)]).abs())
            .fold(0.0, f64::max)
    };
    let (e5, e10, e100) = (round_trip(5), round_trip(10), round_trip(100));
    assert!(
        e5 / e10 >= 12.0,
        "round trip error ratio {} below fourth order",
        e5 / e10
    );
    assert!(
        e100 <= e5 / 20f64.powi(4) + 2.0 * 100.0 * EPS * 2.0,
        "e100 = {e100}, e5 = {e5}"
    );
    // ...and the teacher moves points (the targets are not the inputs).
    let moved = t.flow(x.as_ref()).unwrap();
    assert!((0..12).any(|i| (moved[(i, 0)] - x[(i, 0)]).abs() > 1e-3));

    assert!(
        TeacherFlow::sample(
            3,
            &TeacherConfig {
                bandwidth: 0.0,
                ..cfg.clone()
            },
            &mut rng
        )
        .is_err()
    );
    assert!(TeacherFlow::sample(0, &cfg, &mut rng).is_err());
}

// ---------------------------------------------------------------- preprocessing

/// Issue 19, case 5: fitting on data with a NaN (or ±∞) used to return NaN means and
/// scales silently; it is a typed error naming the first such entry.
#[test]
fn standardiser_refuses_non_finite_data_naming_row_and_column() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let x = Mat::from_fn(4, 3, |i, j| {
            if (i, j) == (2, 1) {
                bad
            } else {
                (i + j) as f64
            }
        });
        match Standardizer::fit(x.as_ref()) {
            Err(
                e @ DataError::NonFinite {
                    row: 2, column: 1, ..
                },
            ) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("row 2, column 1") && msg.contains(&bad.to_string()),
                    "{msg}"
                );
            }
            other => panic!("{bad}: expected NonFinite at (2, 1), got {other:?}"),
        }
    }
}

#[test]
fn standardiser_handles_constant_columns_and_applies_train_statistics_to_test() {
    let n = 50;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = Mat::from_fn(n, 3, |_, j| match j {
        0 => 0.1 * 3.0, // a constant that is not exactly representable as a sum
        1 => 0.0,
        _ => 5.0 + rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng),
    });
    let mut train = Dataset {
        x: x.clone(),
        y: Targets::Classes {
            labels: vec![0; n],
            n_classes: 1,
        },
    };
    let mut test = Dataset {
        x: Mat::from_fn(4, 3, |i, _| i as f64),
        y: Targets::Classes {
            labels: vec![0; 4],
            n_classes: 1,
        },
    };
    let st = standardize_train_test(&mut train, &mut test).unwrap();
    assert_eq!(st.constant, vec![true, true, false]);
    assert_eq!(st.scale[..2], [1.0, 1.0]);
    for i in 0..n {
        // Constant columns become x − mean: rounding residue ≤ N·ε·|x|, never NaN.
        assert!(train.x[(i, 0)].abs() <= n as f64 * EPS * 0.3);
        assert_eq!(train.x[(i, 1)], 0.0);
    }
    for i in 0..4 {
        for j in 0..3 {
            assert_eq!(test.x[(i, j)], (i as f64 - st.mean[j]) / st.scale[j]);
        }
    }
    // The inverse transform restores the data to a few ulps.
    let mut back = train.x.clone();
    st.inverse_transform_in_place(back.as_mut());
    for i in 0..n {
        assert!((back[(i, 2)] - x[(i, 2)]).abs() <= 4.0 * EPS * x[(i, 2)].abs());
    }
    assert!(Standardizer::fit(Mat::<f64>::zeros(0, 3).as_ref()).is_err());
}

#[test]
fn split_depends_on_the_seed_and_rejects_bad_fractions() {
    let ds = Dataset {
        x: Mat::zeros(60, 1),
        y: Targets::Classes {
            labels: vec![0; 60],
            n_classes: 1,
        },
    };
    let a = train_test_split(&ds, 0.5, 1).unwrap();
    let b = train_test_split(&ds, 0.5, 2).unwrap();
    assert_ne!(a.test_indices, b.test_indices);
    for f in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(
            train_test_split(&ds, f, 1),
            Err(DataError::InvalidParameter {
                name: "test_fraction",
                ..
            })
        ));
    }
    // Frozen output for a fixed seed: the split must not change between versions
    // (ChaCha8 + the crate's own Lemire sampler).
    assert_eq!(
        split_indices(8, 3, 42),
        (vec![1, 3, 2, 6, 5], vec![4, 7, 0])
    );
}

#[test]
fn random_embedding_is_seeded_scaled_and_linear() {
    let (d_in, d) = (50, 40);
    let e = RandomEmbedding::new(d_in, d, 3).unwrap();
    assert_eq!(e, RandomEmbedding::new(d_in, d, 3).unwrap());
    assert_ne!(e, RandomEmbedding::new(d_in, d, 4).unwrap());
    // √d_in·A_kl ~ N(0,1): the sample variance of 2000 entries is 1 ± 5·√(2/2000) (5σ).
    let vals: Vec<f64> = (0..d)
        .flat_map(|k| (0..d_in).map(move |l| (k, l)))
        .map(|(k, l)| e.a[(k, l)] * (d_in as f64).sqrt())
        .collect();
    let var = vals.iter().map(|v| v * v).sum::<f64>() / vals.len() as f64;
    assert!(
        (var - 1.0).abs() <= 5.0 * (2.0 / vals.len() as f64).sqrt(),
        "variance {var}"
    );
    // Z = X Aᵀ row by row, to GEMM rounding d_in·ε·Σ|A||x|.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = unit_sphere(5, d_in, &mut rng).unwrap();
    let z = e.apply(x.as_ref());
    for i in 0..5 {
        for k in 0..d {
            let exact: f64 = (0..d_in).map(|l| e.a[(k, l)] * x[(i, l)]).sum();
            let bound: f64 = (0..d_in)
                .map(|l| (e.a[(k, l)] * x[(i, l)]).abs())
                .sum::<f64>()
                * 2.0
                * d_in as f64
                * EPS;
            assert!((z[(i, k)] - exact).abs() <= bound);
        }
    }
    let ds = e.embed(&Dataset {
        x,
        y: Targets::Classes {
            labels: vec![0; 5],
            n_classes: 1,
        },
    });
    assert_eq!((ds.n_samples(), ds.d_in()), (5, d));
    assert!(RandomEmbedding::new(0, 3, 1).is_err());
}

/// Issue 19, case 3: sizes computed from user values are checked — `100·N + 1000` tries
/// and `N·d` entries for a huge `N` or `d`, the column count `n_features + 1` of a CSV —
/// and give typed errors naming the parameter instead of wrapping, panicking or aborting
/// on allocation.
#[test]
fn huge_sizes_are_typed_errors_not_overflows() {
    let cfg = SeparatedBallConfig::new(usize::MAX, 3, 1.0, 0.0);
    assert_eq!(cfg.max_tries, usize::MAX, "saturates instead of wrapping");
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for (n, d) in [(usize::MAX, 3), (2, usize::MAX / 2 + 1), (1 << 20, 1 << 12)] {
        match separated_ball(&SeparatedBallConfig::new(n, d, 1.0, 0.0), &mut rng) {
            Err(DataError::InvalidParameter { name, .. }) => assert_eq!(name, "n·dim"),
            other => panic!("n = {n}, d = {d}: expected InvalidParameter, got {other:?}"),
        }
    }
    let e = parse_labelled_csv(b"1,2\n", Path::new("x.csv"), usize::MAX, 2).unwrap_err();
    assert!(
        matches!(
            &e,
            DataError::InvalidParameter {
                name: "n_features",
                ..
            }
        ),
        "{e:?}"
    );
}
