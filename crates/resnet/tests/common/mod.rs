//! Helpers shared by the integration-test binaries of plres-resnet (`resnet`,
//! `training_checkpoint`).

/// A fresh, empty directory `plres-resnet-test-<pid>-<name>` under the system temp dir.
pub fn tmpdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("plres-resnet-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The bit patterns of `v` (bitwise comparisons with a readable failure message).
pub fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}
