//! End-to-end tests of the `plres` binary: every command on small data (CSV, `.npy`,
//! IDX), every bad input of issue 16 (one line naming file, place and value; exit code 2;
//! nothing left behind), `--resume` after SIGKILL bitwise equal to an uninterrupted run,
//! and `--help` of every command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use faer::Mat;
use plres::io::{npy_bytes, parse_npy, read_csv};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plres"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A bad input: exit code 2 and exactly one line on stderr containing every `needle`.
fn assert_bad(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    for n in needles {
        assert!(e.contains(n), "{n:?} not in {e:?}");
    }
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

/// `n` samples uniform in `[−2, 2]³` (seeded): `y = sin x₁ + ½ x₂x₃`,
/// `label = [x₁ + x₂ > 0] + [x₃ > 1]`.
fn toy(n: usize) -> (Mat<f64>, Vec<f64>, Vec<usize>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let x: Mat<f64> = Mat::from_fn(n, 3, |_, _| 4.0 * rng.random::<f64>() - 2.0);
    let y = (0..n)
        .map(|i| x[(i, 0)].sin() + 0.5 * x[(i, 1)] * x[(i, 2)])
        .collect();
    let l = (0..n)
        .map(|i| usize::from(x[(i, 0)] + x[(i, 1)] > 0.0) + usize::from(x[(i, 2)] > 1.0))
        .collect();
    (x, y, l)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("plres-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_toy_csv(dir: &Path, n: usize) -> PathBuf {
    let (x, y, l) = toy(n);
    let mut s = String::from("x1,x2,x3,y,label\n");
    for i in 0..n {
        s.push_str(&format!(
            "{:?},{:?},{:?},{:?},{}\n",
            x[(i, 0)],
            x[(i, 1)],
            x[(i, 2)],
            y[i],
            l[i]
        ));
    }
    let p = dir.join("toy.csv");
    std::fs::write(&p, s).unwrap();
    p
}

/// A CSV the run folder wrote (NaN marks "not computed"): header and rows.
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|f| {
                    if f == "NaN" {
                        f64::NAN
                    } else {
                        f.parse().unwrap_or(f64::NAN)
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

/// Every certified row of `certificate.csv` has `ρ ≥ μ_cert` (a theorem for Euler networks;
/// relative tolerance 1e-9 as plres-theory's monitor); returns the number of rows.
fn assert_certified(path: &Path) -> usize {
    let (h, rows) = csv_rows(path);
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (rho, mu) = (col("rho"), col("mu_cert"));
    for r in &rows {
        assert!(
            r[rho] >= r[mu] * (1.0 - 1e-9),
            "ρ = {} < μ_cert = {}",
            r[rho],
            r[mu]
        );
    }
    rows.len()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn help_of_every_command() {
    let d = scratch("help");
    for (args, needle) in [
        (vec!["--help"], "features-needed"),
        (vec!["train", "--help"], "--resume"),
        (vec!["certify", "--help"], "--checkpoint"),
        (vec!["features-needed", "--help"], "--delta"),
        (vec!["predict", "--help"], "--out"),
    ] {
        let o = run(&args, &d);
        ok(&o);
        assert!(stdout(&o).contains(needle), "{args:?}: {}", stdout(&o));
    }
}

/// train (CSV, regression) → run folder; certify; predict to CSV and .npy; the
/// predictions equal the library's forward pass on the loaded checkpoint, bitwise.
#[test]
fn train_certify_predict_on_csv() {
    let d = scratch("csv");
    let data = write_toy_csv(&d, 48);
    let o = run(
        &[
            "train", "--data", "toy.csv", "--target", "y", "--width", "64", "--depth", "4",
            "--steps", "30", "--out", "run",
        ],
        &d,
    );
    ok(&o);
    assert_eq!(
        stdout(&o).lines().count(),
        1,
        "one summary line: {}",
        stdout(&o)
    );
    let run_dir = d.join("run");
    for f in [
        "config.json",
        "metrics.csv",
        "certificate.csv",
        "loss.svg",
        "loss.png",
        "certificate.svg",
        "certificate.png",
        "model.safetensors",
        "summary.json",
    ] {
        assert!(run_dir.join(f).exists(), "{f} missing");
    }
    assert!(
        !run_dir.join("resume.ckpt").exists(),
        "the snapshot is removed at the end"
    );
    let cfg = json(&run_dir.join("config.json"));
    assert_eq!(cfg["config"]["width"]["width"], 64);
    assert_eq!(cfg["config"]["n_test"], 10); // round(0.2 · 48)
    assert!(
        cfg["config"]["bandwidth"].as_f64().unwrap() > 0.0,
        "auto bandwidth resolved"
    );
    // metrics: one row per iterate 0..=30; every certified row has ρ ≥ μ_cert (Euler)
    assert_eq!(csv_rows(&run_dir.join("metrics.csv")).1.len(), 31);
    assert!(assert_certified(&run_dir.join("certificate.csv")) >= 2);
    let s = json(&run_dir.join("summary.json"));
    assert!(s["report"]["final_loss"].as_f64() < s["report"]["initial_loss"].as_f64());

    // certify: exit 0, JSON with ρ ≥ μ_cert ≤ μ_tight ≤ ρ (N·d_out = 48 is small)
    // the trained checkpoint on the training data, for certify and predict
    let on_toy = |command: &str, rest: &[&str]| {
        let mut args = vec![
            command,
            "--checkpoint",
            "run/model.safetensors",
            "--data",
            "toy.csv",
            "--target",
            "y",
        ];
        args.extend_from_slice(rest);
        run(&args, &d)
    };
    let o = on_toy("certify", &["--json", "cert.json"]);
    ok(&o);
    assert!(stdout(&o).contains("μ_cert"));
    let cj = json(&d.join("cert.json"));
    let (rho, mu, tight) = (
        cj["rho"].as_f64().unwrap(),
        cj["mu_cert"].as_f64().unwrap(),
        cj["mu_tight"].as_f64().unwrap(),
    );
    assert!(
        mu <= tight * (1.0 + 1e-9) && tight <= rho * (1.0 + 1e-9),
        "{mu} {tight} {rho}"
    );
    assert_eq!(cj["lambda"].as_array().unwrap().len(), 4);

    // predict → CSV and .npy, identical to the library's outputs on the loaded network
    let predict = |out: &str| on_toy("predict", &["--out", out]);
    ok(&predict("p.csv"));
    ok(&predict("p.npy"));
    let net = plres::Network::load(run_dir.join("model.safetensors")).unwrap();
    let table = read_csv(&data).unwrap();
    let (x, _) = table.split_regression(&["y".into()]).unwrap();
    let z = net.outputs(x.as_ref()).unwrap();
    let pc = read_csv(&d.join("p.csv")).unwrap();
    let pn = parse_npy(&std::fs::read(d.join("p.npy")).unwrap(), Path::new("p.npy")).unwrap();
    assert_eq!(pc.names, vec!["prediction".to_string()]);
    for i in 0..48 {
        assert_eq!(pc.values[(i, 0)].to_bits(), z[(i, 0)].to_bits());
        assert_eq!(pn.values[(i, 0)].to_bits(), z[(i, 0)].to_bits());
    }
    // an existing output is refused without --force, replaced with it
    assert_bad(&predict("p.csv"), &["p.csv", "already exists"]);
    assert_bad(
        &run(
            &[
                "train", "--data", "toy.csv", "--target", "y", "--steps", "2", "--out", "run",
            ],
            &d,
        ),
        &["run", "already exists", "--force"],
    );
    ok(&run(
        &[
            "train", "--data", "toy.csv", "--target", "y", "--width", "16", "--steps", "2",
            "--out", "run", "--force",
        ],
        &d,
    ));
    assert_eq!(
        json(&run_dir.join("config.json"))["config"]["width"]["width"],
        16
    );
}

/// .npy with a label column (classification, cross-entropy, Adam on minibatches) and IDX
/// images with an IDX labels file (kernel model).
#[test]
fn train_on_npy_and_idx() {
    let d = scratch("npy-idx");
    let (x, _, l) = toy(40);
    let m = Mat::from_fn(40, 4, |i, j| if j < 3 { x[(i, j)] } else { l[i] as f64 });
    std::fs::write(d.join("toy.npy"), npy_bytes(&m)).unwrap();
    let o = run(
        &[
            "train",
            "--data",
            "toy.npy",
            "--labels",
            "3",
            "--loss",
            "cross-entropy",
            "--optimizer",
            "adam",
            "--batch",
            "8",
            "--epochs",
            "3",
            "--width",
            "32",
            "--depth",
            "2",
            "--out",
            "r",
        ],
        &d,
    );
    ok(&o);
    assert!(stdout(&o).contains("accuracy"), "{}", stdout(&o));
    // cross-entropy: no certificate file
    assert!(!d.join("r/certificate.csv").exists());
    let net = plres::Network::load(d.join("r/model.safetensors")).unwrap();
    assert_eq!(net.task(), plres::Task::Classification { classes: 3 });

    // IDX: 30 "images" of 2×2 bytes and their labels
    let imgs: Vec<u8> = (0..30 * 4).map(|k| ((k * 37) % 251) as u8).collect();
    let labels: Vec<u8> = (0..30)
        .map(|i| u8::from(imgs[i * 4] > imgs[i * 4 + 3]))
        .collect();
    plres_data::write_idx(
        d.join("imgs-idx3-ubyte"),
        &plres_data::IdxArray {
            dims: vec![30, 2, 2],
            data: imgs,
        },
        false,
    )
    .unwrap();
    plres_data::write_idx(
        d.join("labels-idx1-ubyte"),
        &plres_data::IdxArray {
            dims: vec![30],
            data: labels,
        },
        false,
    )
    .unwrap();
    let o = run(
        &[
            "train",
            "--data",
            "imgs-idx3-ubyte",
            "--labels-file",
            "labels-idx1-ubyte",
            "--model",
            "kernel",
            "--depth",
            "2",
            "--steps",
            "5",
            "--out",
            "k",
        ],
        &d,
    );
    ok(&o);
    assert!(assert_certified(&d.join("k/certificate.csv")) >= 2);
    ok(&run(
        &[
            "predict",
            "--checkpoint",
            "k/model.safetensors",
            "--data",
            "imgs-idx3-ubyte",
            "--out",
            "p.npy",
        ],
        &d,
    ));
}

/// features-needed: the pointwise count is the smallest `p` whose Bernstein failure
/// probability is at most δ, recomputed here from the printed λ_min and ‖K‖.
#[test]
fn features_needed_matches_the_bound() {
    let d = scratch("features");
    write_toy_csv(&d, 30);
    let o = run(
        &[
            "features-needed",
            "--kernel",
            "gaussian",
            "--bandwidth",
            "1.5",
            "--data",
            "toy.csv",
            "--target",
            "y,label",
            "--delta",
            "0.1",
            "--print-json",
        ],
        &d,
    );
    ok(&o);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let p = j["pointwise"]["Ok"].as_u64().unwrap() as usize;
    let (lmin, norm) = (
        j["lambda_min"].as_f64().unwrap(),
        j["norm_k"].as_f64().unwrap(),
    );
    use plres_rff::bounds::failure_probability_pointwise as fp;
    assert!(fp(p, 30, lmin, norm, 0.5).unwrap() <= 0.1);
    assert!(fp(p - 1, 30, lmin, norm, 0.5).unwrap() > 0.1);
    assert!(j["uniform"]["Ok"].as_u64().unwrap() as usize >= 1);
    let o = run(
        &[
            "features-needed",
            "--data",
            "toy.csv",
            "--target",
            "y",
            "--delta",
            "0.05",
        ],
        &d,
    );
    ok(&o);
    assert!(stdout(&o).contains("pointwise"));
}

#[test]
fn bad_inputs_are_one_line_and_exit_2() {
    let d = scratch("bad");
    write_toy_csv(&d, 24);
    let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    w("ragged.csv", "a,b,y\n1,2,3\n4,5\n");
    w("text.csv", "a,b,y\n1,2,3\n4,abc,6\n");
    w("nan.csv", "a,b,y\n1,2,3\n4,NaN,6\n");
    w("frac.csv", "a,b,c\n1,2,0\n4,5,1.5\n");
    let train = |data: &str, extra: &[&str]| {
        let mut a = vec!["train", "--data", data, "--out", "never"];
        a.extend_from_slice(extra);
        run(&a, &d)
    };
    assert_bad(
        &train("ragged.csv", &["--target", "y"]),
        &["ragged.csv", "line 3", "2 fields"],
    );
    assert_bad(
        &train("text.csv", &["--target", "y"]),
        &["text.csv", "line 3, column 2 (b)", "\"abc\""],
    );
    assert_bad(
        &train("nan.csv", &["--target", "y"]),
        &["nan.csv", "line 3, column 2", "NaN"],
    );
    assert_bad(
        &train("toy.csv", &["--target", "price"]),
        &["toy.csv", "no column \"price\""],
    );
    assert_bad(
        &train("frac.csv", &["--labels", "c"]),
        &["frac.csv", "line 3, column 3 (c)", "label 1.5"],
    );
    assert_bad(&train("toy.csv", &[]), &["toy.csv", "--target"]);
    assert_bad(
        &train("toy.csv", &["--target", "y", "--lr=-1"]),
        &["lr", "-1"],
    );
    let nan = Mat::from_fn(3, 2, |i, j| if (i, j) == (2, 1) { f64::NAN } else { 1.0 });
    std::fs::write(d.join("nan.npy"), npy_bytes(&nan)).unwrap();
    assert_bad(
        &train("nan.npy", &["--target", "0"]),
        &["nan.npy", "row 2, column 1", "NaN"],
    );
    assert!(
        !d.join("never").exists(),
        "nothing is written for a bad input"
    );

    // checkpoints: another model's (a bare plres-resnet network), of another task, or none
    ok(&run(
        &[
            "train", "--data", "toy.csv", "--target", "y", "--width", "8", "--steps", "2", "--out",
            "r",
        ],
        &d,
    ));
    let bare = plres::Network::load(d.join("r/model.safetensors")).unwrap();
    if let plres::TrainedModel::Linear(m) = bare.model() {
        m.save(d.join("bare.safetensors")).unwrap();
    }
    assert_bad(
        &run(
            &[
                "certify",
                "--checkpoint",
                "bare.safetensors",
                "--data",
                "toy.csv",
                "--target",
                "y",
            ],
            &d,
        ),
        &["bare.safetensors", "not a checkpoint written by"],
    );
    assert_bad(
        &run(
            &[
                "certify",
                "--checkpoint",
                "r/model.safetensors",
                "--data",
                "toy.csv",
                "--labels",
                "label",
            ],
            &d,
        ),
        &["class labels given to a regression model"],
    );
    assert_bad(
        &run(
            &[
                "predict",
                "--checkpoint",
                "toy.csv",
                "--data",
                "toy.csv",
                "--out",
                "p.csv",
            ],
            &d,
        ),
        &["toy.csv"],
    );
    assert_bad(
        &run(
            &[
                "predict",
                "--checkpoint",
                "r/model.safetensors",
                "--data",
                "toy.csv",
                "--out",
                "p.csv",
            ],
            &d,
        ),
        &["toy.csv", "5 input columns", "takes 4"],
    );
    assert!(!d.join("p.csv").exists());
}

/// A run killed with SIGKILL after its first snapshot and resumed ends bitwise like the
/// uninterrupted run (metrics, certificate, checkpoint), for minibatch Adam.
#[test]
fn resume_after_sigkill_is_bitwise() {
    let d = scratch("resume");
    write_toy_csv(&d, 48);
    let args = |out: &'static str, epochs: &'static str| {
        vec![
            "train",
            "--data",
            "toy.csv",
            "--target",
            "y",
            "--width",
            "48",
            "--depth",
            "3",
            "--optimizer",
            "adam",
            "--batch",
            "8",
            "--epochs",
            epochs,
            "--certify-every",
            "1",
            "--snapshot-every",
            "12",
            "--out",
            out,
        ]
    };
    // the kill must land while the run is still going: lengthen the run until it does
    for epochs in ["40", "160", "640"] {
        let _ = std::fs::remove_dir_all(d.join("a"));
        let _ = std::fs::remove_dir_all(d.join("b"));
        ok(&run(&args("a", epochs), &d));
        let mut child = bin()
            .args(args("b", epochs))
            .current_dir(&d)
            .spawn()
            .unwrap();
        let snap = d.join("b/resume.ckpt");
        while !snap.exists() && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap_or(()); // SIGKILL on Unix
        child.wait().unwrap();
        if d.join("b/summary.json").exists() {
            continue; // finished before the kill: try a longer run
        }
        assert!(d.join("b/config.json").exists());
        ok(&run(&["train", "--resume", "b"], &d));
        for f in ["metrics.csv", "certificate.csv", "model.safetensors"] {
            let (x, y) = (
                std::fs::read(d.join("a").join(f)).unwrap(),
                std::fs::read(d.join("b").join(f)).unwrap(),
            );
            assert!(x == y, "{f} differs after resume");
        }
        assert_bad(&run(&["train", "--resume", "b"], &d), &["complete"]);
        return;
    }
    panic!("every run finished before it could be killed");
}
