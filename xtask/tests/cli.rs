//! The `xtask` binary as a user runs it: bad command lines end in one clear error line
//! and exit code 1, never a panic.

use std::process::Command;

/// Issue 19, case 4: an argument that is not valid UTF-8 (here the byte `0xff`) used to
/// panic inside `std::env::args`; it must be a one-line error naming the argument.
#[cfg(unix)]
#[test]
fn non_utf8_argument_is_a_clear_error_not_a_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("reproduce")
        .arg(OsStr::from_bytes(b"lin\xffear"))
        .output()
        .expect("run the xtask binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(
        stderr.contains("argument 2") && stderr.contains("not valid UTF-8"),
        "stderr: {stderr}"
    );
}
