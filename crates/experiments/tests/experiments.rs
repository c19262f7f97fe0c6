//! Integration tests of the run-folder machinery, plots and report, driven by a small
//! self-contained experiment defined here: gradient descent on a strongly convex
//! quadratic, whose linear rate is a theorem we can check exactly.

#![forbid(unsafe_code)]

/// The perturbation tests of every experiment's checks (in this binary: one link less).
mod perturbation;

/// Helpers shared with the other integration tests.
mod support;

use std::path::Path;

use plres_experiments::plot::{Plot, Series, scatter_with_fit};
use plres_experiments::registry::{DynExperiment, find_in};
use plres_experiments::report::write_report;
use plres_experiments::run::{self, RunConfig, RunSummary, files, read_json};
use plres_experiments::table::{ColumnType, Table};
use plres_experiments::{
    Experiment, ExperimentConfig, ExperimentError, RunContext, RunOutput, Size, row,
};
use plres_theory::{CheckReport, Relation};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use support::temp_dir;

/// Gradient descent `x ← x − η ∇f(x)` on `f(x) = ½ Σ_i λ_i x_i²` with `λ_i ∈ [μ, β]`.
/// With `η = 1/β`, `f(x_t) ≤ (1 − μ/β)^{2t} f(x_0)` (each coordinate contracts by
/// `|1 − ηλ_i| ≤ 1 − μ/β`); the PL inequality `‖∇f‖² ≥ 2μ f` holds everywhere.
struct Quadratic;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct QuadraticConfig {
    dim: usize,
    mu: f64,
    beta: f64,
    iterations: usize,
    repetitions: usize,
    /// Deliberately claims a faster rate than the theorem (a check that must fail).
    claim_too_fast: bool,
}

impl ExperimentConfig for QuadraticConfig {
    fn for_size(size: Size) -> Self {
        let iterations = match size {
            Size::Smoke => 20,
            Size::Default => 50,
            Size::Full => 200,
        };
        Self {
            dim: 8,
            mu: 0.1,
            beta: 1.0,
            iterations,
            repetitions: 3,
            claim_too_fast: false,
        }
    }
    fn validate(&self) -> Result<(), String> {
        if !(self.mu > 0.0 && self.mu <= self.beta) {
            return Err(format!(
                "need 0 < mu ≤ beta, got mu = {}, beta = {}",
                self.mu, self.beta
            ));
        }
        Ok(())
    }
}

impl Experiment for Quadratic {
    type Config = QuadraticConfig;
    fn name(&self) -> &'static str {
        "quadratic"
    }
    fn description(&self) -> &'static str {
        "Gradient descent on a strongly convex quadratic converges linearly."
    }
    fn run(&self, c: &QuadraticConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let mut metrics = Table::new(&[
            ("repetition", ColumnType::Int),
            ("iteration", ColumnType::Int),
            ("loss", ColumnType::Float),
            ("grad_norm_sq", ColumnType::Float),
        ]);
        let eta = 1.0 / c.beta;
        let rate = (1.0 - c.mu / c.beta).powi(2);
        let mut runs = Vec::new();
        let mut worst_ratio = 0.0f64;
        let mut min_pl = f64::INFINITY;
        for r in 0..c.repetitions {
            let mut rng = ctx.rng(r as u64);
            let lambda: Vec<f64> = (0..c.dim)
                .map(|i| c.mu + (c.beta - c.mu) * i as f64 / (c.dim - 1) as f64)
                .collect();
            let mut x: Vec<f64> = (0..c.dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            let bar = ctx.progress_bar(c.iterations as u64, format!("repetition {r}"));
            let mut losses = Vec::new();
            let f = |x: &[f64]| 0.5 * x.iter().zip(&lambda).map(|(a, l)| l * a * a).sum::<f64>();
            let f0 = f(&x);
            for t in 0..=c.iterations {
                let loss = f(&x);
                let g2: f64 = x.iter().zip(&lambda).map(|(a, l)| (l * a).powi(2)).sum();
                metrics.push(row![r, t, loss, g2])?;
                losses.push(loss);
                worst_ratio = worst_ratio.max(loss / (f0 * rate.powi(t as i32)));
                min_pl = min_pl.min(g2 / (2.0 * loss));
                for (a, l) in x.iter_mut().zip(&lambda) {
                    *a -= eta * l * *a;
                }
                bar.inc(1);
            }
            bar.finish_and_clear();
            runs.push(losses);
        }
        let it: Vec<f64> = (0..=c.iterations).map(|t| t as f64).collect();
        let mut out = RunOutput::new(metrics);
        out.figure(
            "loss",
            "Loss per iterate, mean ± std over repetitions, and the theorem's bound.",
            Plot::new("GD on a quadratic", "iteration", "loss")
                .log_y()
                .with(Series::mean_std("loss", it.clone(), &runs))
                .with(Series::with_style(
                    "bound (1 − μ/β)^{2t} f₀",
                    it.clone(),
                    it.iter().map(|t| runs[0][0] * rate.powf(*t)).collect(),
                    plres_experiments::plot::Style::Dashed,
                )),
        );
        let (plot, fit) = scatter_with_fit(
            "power law",
            "n",
            "error",
            "samples",
            &[10.0, 100.0, 1000.0],
            &[1.0, 0.1, 0.01],
            Some((-0.5, "slope −1/2")),
        );
        out.figure("slope", "A log-log fit.", plot);
        let claimed = if c.claim_too_fast { rate * 0.5 } else { rate };
        let tol = 64.0 * f64::EPSILON;
        out.check(CheckReport::new(
            "f(x_t) ≤ (1 − μ/β)^{2t} f(x₀) (max ratio)",
            "GD on μ-strongly convex, β-smooth f",
            worst_ratio,
            1.0,
            tol,
            Relation::AtMost,
        ));
        let final_ratio = runs[0][c.iterations] / (runs[0][0] * claimed.powi(c.iterations as i32));
        out.check(CheckReport::new(
            "final loss within the claimed rate",
            "claimed rate",
            final_ratio,
            1.0,
            tol,
            Relation::AtMost,
        ));
        out.check(CheckReport::new(
            "PL: ‖∇f‖² ≥ 2μ f",
            "strong convexity",
            min_pl,
            c.mu,
            tol,
            Relation::AtLeast,
        ));
        out.value("rate", rate)
            .value("fit_slope", fit.map(|f| f.slope).unwrap_or(f64::NAN));
        Ok(out)
    }
}

static EXPERIMENTS: &[&dyn DynExperiment] = &[&Quadratic];

/// Removes a test folder, unless `PLRES_TEST_KEEP` is set (to look at the plots).
fn cleanup(dir: &Path) {
    if std::env::var_os("PLRES_TEST_KEEP").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    } else {
        eprintln!("kept {}", dir.display());
    }
}

fn quadratic_config(size: Size, claim_too_fast: bool) -> serde_json::Value {
    let mut c = QuadraticConfig::for_size(size);
    c.claim_too_fast = claim_too_fast;
    serde_json::to_value(c).unwrap()
}

/// A smoke-size run of the quadratic experiment into `out` (not resuming); `claim_too_fast`
/// makes its check fail, `force` replaces an existing run folder.
fn run_quadratic(out: &Path, seed: u64, claim_too_fast: bool, force: bool) -> run::RunRecord {
    let exp = find_in(EXPERIMENTS, "quadratic").unwrap();
    run::run(
        out,
        exp,
        quadratic_config(Size::Smoke, claim_too_fast),
        Size::Smoke,
        seed,
        force,
        false,
    )
    .unwrap()
}

/// PNG: magic bytes, then the IHDR width and height.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn a_run_writes_a_complete_folder() {
    let out = temp_dir("complete");
    let rec = run_quadratic(&out, 7, false, false);
    let dir = out.join("quadratic");
    assert_eq!(rec.folder, dir);
    assert_eq!(rec.failing().count(), 0, "{:?}", rec.checks);

    let cfg: RunConfig = read_json(&dir.join(files::CONFIG)).unwrap();
    assert_eq!(
        (cfg.experiment.as_str(), cfg.size, cfg.seed),
        ("quadratic", Size::Smoke, 7)
    );
    assert_eq!(cfg.config["iterations"], 20);

    // metrics.csv: header + one row per iterate of each repetition, all parseable.
    let csv = std::fs::read_to_string(dir.join(files::METRICS)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "repetition,iteration,loss,grad_norm_sq");
    assert_eq!(lines.len(), 1 + 3 * 21);
    for l in &lines[1..] {
        let f: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(f.len(), 4);
    }

    let checks: Vec<CheckReport> = read_json(&dir.join(files::CHECKS)).unwrap();
    assert_eq!(checks, rec.checks);
    let summary: RunSummary = read_json(&dir.join(files::SUMMARY)).unwrap();
    assert_eq!((summary.checks_total, summary.checks_holding), (3, 3));
    let stems: Vec<&str> = summary.figures.iter().map(|f| f.stem.as_str()).collect();
    assert_eq!(stems, ["loss", "slope"]);
    // The fitted slope of an exact power law 10^{-x}: −1 to rounding of three logs.
    let slope = summary.values["fit_slope"].as_f64().unwrap();
    assert!((slope + 1.0).abs() < 64.0 * f64::EPSILON, "slope {slope}");

    for stem in stems {
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{stem}.svg");
        assert!(svg.contains("</svg>"));
        assert_eq!(
            png_size(&dir.join(format!("{stem}.png"))),
            plres_experiments::plot::PLOT_SIZE
        );
    }
    let svg = std::fs::read_to_string(dir.join("loss.svg")).unwrap();
    assert!(svg.contains("GD on a quadratic"), "title drawn");
    assert!(svg.contains("bound (1 − μ/β)"), "legend drawn");
    assert!(
        svg.contains("<polygon"),
        "the ± std band is drawn as a polygon"
    );

    // Atomic writes leave no temporary files behind.
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    cleanup(&out);
}

#[test]
fn same_seed_same_metrics_other_seed_other_metrics() {
    let out = temp_dir("seeds");
    let csv = |sub: &str, seed: u64| {
        let o = out.join(sub);
        run_quadratic(&o, seed, false, false);
        std::fs::read_to_string(o.join("quadratic").join(files::METRICS)).unwrap()
    };
    assert_eq!(csv("a", 1), csv("b", 1));
    assert_ne!(csv("c", 1), csv("d", 2));
    cleanup(&out);
}

#[test]
fn existing_folders_are_protected() {
    let out = temp_dir("force");
    let exp = find_in(EXPERIMENTS, "quadratic").unwrap();
    let cfg = || quadratic_config(Size::Smoke, false);
    run::run(&out, exp, cfg(), Size::Smoke, 1, false, false).unwrap();
    let err = run::run(&out, exp, cfg(), Size::Smoke, 1, false, false).unwrap_err();
    match &err {
        ExperimentError::RunFolderExists { path } => assert_eq!(path, &out.join("quadratic")),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains("quadratic"),
        "the message names the folder"
    );

    // force replaces the folder: a stale file disappears.
    std::fs::write(out.join("quadratic/stale.png"), b"x").unwrap();
    run::run(&out, exp, cfg(), Size::Smoke, 2, true, false).unwrap();
    assert!(!out.join("quadratic/stale.png").exists());
    let c: RunConfig = read_json(&out.join("quadratic").join(files::CONFIG)).unwrap();
    assert_eq!(c.seed, 2);

    // A folder that is not a run folder is never removed, even with force.
    let other = temp_dir("notrun");
    std::fs::create_dir_all(other.join("quadratic")).unwrap();
    std::fs::write(other.join("quadratic/precious.txt"), b"keep").unwrap();
    let err = run::run(&other, exp, cfg(), Size::Smoke, 1, true, false).unwrap_err();
    assert!(
        matches!(err, ExperimentError::NotARunFolder { .. }),
        "{err:?}"
    );
    assert!(other.join("quadratic/precious.txt").exists());
    cleanup(&out);
    cleanup(&other);
}

#[test]
fn invalid_configs_are_typed_errors_recorded_in_the_folder() {
    let out = temp_dir("invalid");
    let exp = find_in(EXPERIMENTS, "quadratic").unwrap();
    let mut cfg = quadratic_config(Size::Smoke, false);
    cfg["mu"] = serde_json::json!(2.0);
    let err = run::run(&out, exp, cfg, Size::Smoke, 1, false, false).unwrap_err();
    assert!(
        matches!(&err, ExperimentError::InvalidConfig { experiment, message }
            if experiment == "quadratic" && message.contains("mu = 2")),
        "{err:?}"
    );
    let text = std::fs::read_to_string(out.join("quadratic").join(files::ERROR)).unwrap();
    assert!(text.contains("mu = 2"), "{text}");
    assert!(!out.join("quadratic").join(files::SUMMARY).exists());

    let err = find_in(EXPERIMENTS, "nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown experiment `nope` (known: quadratic)"
    );
    cleanup(&out);
}

#[test]
fn report_shows_plots_checks_config_and_failures() {
    let out = temp_dir("report");
    let exp = find_in(EXPERIMENTS, "quadratic").unwrap();
    run_quadratic(&out, 3, false, false);
    let totals = write_report(&out, EXPERIMENTS, "cargo xtask reproduce --smoke").unwrap();
    assert_eq!(
        (
            totals.runs,
            totals.checks,
            totals.holding,
            totals.not_completed
        ),
        (1, 3, 3, 0)
    );
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(md.contains("**All 3 checks hold** across 1 runs."), "{md}");
    assert!(md.contains("![Loss per iterate"), "PNG embedded");
    assert!(md.contains("(quadratic/loss.png)"), "relative link");
    assert!(md.contains("([SVG](quadratic/loss.svg))"));
    assert!(md.contains(CheckReport::table_header()));
    assert!(md.contains("\"iterations\": 20"), "config shown");
    assert!(md.contains("[`metrics.csv`](quadratic/metrics.csv)"));

    // A run whose claim is too optimistic: the failing check is shown and counted.
    run_quadratic(&out, 3, true, true);
    let totals = write_report(&out, EXPERIMENTS, "x").unwrap();
    assert_eq!((totals.checks, totals.holding), (3, 2));
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(md.contains("**2 of 3 checks hold; 1 FAIL**"), "{md}");
    assert!(md.contains("## Failing checks"));
    assert!(md.contains("| **FAILS** |"));
    assert!(md.contains("- `quadratic`: final loss within the claimed rate"));

    // A failed run is reported with its error.
    let mut bad = quadratic_config(Size::Smoke, false);
    bad["beta"] = serde_json::json!(-1.0);
    let _ = run::run(&out, exp, bad, Size::Smoke, 3, true, false).unwrap_err();
    let totals = write_report(&out, EXPERIMENTS, "x").unwrap();
    assert_eq!(totals.not_completed, 1);
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(md.contains("**ERROR**") && md.contains("beta = -1"), "{md}");
    cleanup(&out);
}

#[test]
fn plots_with_every_scale_and_style_render() {
    let dir = temp_dir("plots");
    let x: Vec<f64> = (1..=20).map(f64::from).collect();
    let y: Vec<f64> = x.iter().map(|v| (-v / 3.0).exp()).collect();
    let mut with_zero = y.clone();
    with_zero[3] = 0.0;
    for (i, (lx, ly)) in [
        (false, false),
        (false, true),
        (true, false),
        (true, true),
        (true, true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = Plot::new(format!("plot {i}"), "x", "y")
            .with(Series::line("line", x.clone(), y.clone()))
            .with(Series::points("points", x.clone(), with_zero.clone()))
            .with(Series::mean_std(
                "band",
                x.clone(),
                &[y.clone(), with_zero.clone()],
            ));
        if lx {
            p = if i == 4 { p.log2_x() } else { p.log_x() };
        }
        if ly {
            p = p.log_y();
        }
        let files = plres_experiments::plot::render(&p, &dir, &format!("p{i}")).unwrap();
        assert_eq!(png_size(&files.png), plres_experiments::plot::PLOT_SIZE);
        let svg = std::fs::read_to_string(&files.svg).unwrap();
        assert_eq!(svg.contains("1 points ≤ 0 omitted"), ly, "plot {i}");
    }
    // An empty plot (no drawable point) still renders.
    let p = Plot::new("empty", "x", "y")
        .log_y()
        .with(Series::line("z", vec![1.0], vec![0.0]));
    plres_experiments::plot::render(&p, &dir, "empty").unwrap();
    cleanup(&dir);
}

/// The registry holds the seven experiments of issue 8 and the three MNIST ones of issue 20,
/// in the report's order, and every
/// configuration of every size validates and survives JSON.
#[test]
fn registry_has_the_seven_experiments_with_valid_configs() {
    use plres_experiments::registry::{names, registry};
    assert_eq!(
        names(),
        [
            "pl-certificate",
            "width",
            "depth",
            "width-limit",
            "rff-bound",
            "linear-vs-nonlinear",
            "lazy",
            "mnist-depth",
            "mnist-pretrained",
            "mnist-width"
        ]
    );
    for e in registry() {
        assert!(!e.description().is_empty());
        for size in [Size::Smoke, Size::Default, Size::Full] {
            let cfg = e.default_config(size);
            let text = serde_json::to_string(&cfg).unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, cfg, "{} {size}", e.name());
        }
    }
}

/// An out-of-domain value in a real experiment's configuration is a typed error naming
/// the field, raised before any work.
#[test]
fn real_configs_are_validated() {
    let out = temp_dir("validate");
    let exp = plres_experiments::registry::find("width").unwrap();
    let mut cfg = exp.default_config(Size::Smoke);
    cfg["n"] = serde_json::json!(12);
    let err = run::run(&out, exp, cfg, Size::Smoke, 0, false, false).unwrap_err();
    assert!(
        matches!(&err, ExperimentError::InvalidConfig { message, .. } if message.contains("n = 12")),
        "{err:?}"
    );
    let mut cfg = exp.default_config(Size::Smoke);
    cfg["depth"] = serde_json::json!("deep");
    let err = run::run(&out, exp, cfg, Size::Smoke, 0, true, false).unwrap_err();
    assert!(
        matches!(err, ExperimentError::InvalidConfig { .. }),
        "{err:?}"
    );
    cleanup(&out);
}

/// Every registered experiment runs at smoke size into a complete run folder, and every
/// check it reports holds (what `cargo xtask reproduce --smoke` asserts in CI); the
/// report then counts them all.
#[test]
fn every_experiment_runs_at_smoke_size_and_its_checks_hold() {
    use plres_experiments::registry::registry;
    let out = temp_dir("smoke");
    let mut total = 0;
    for e in registry() {
        let rec = run::run(
            &out,
            *e,
            e.default_config(Size::Smoke),
            Size::Smoke,
            0,
            false,
            false,
        )
        .unwrap_or_else(|err| panic!("{}: {}", e.name(), run::error_chain(&err)));
        let failing: Vec<String> = rec.failing().map(CheckReport::table_row).collect();
        assert!(failing.is_empty(), "{}: {failing:#?}", e.name());
        assert!(!rec.checks.is_empty(), "{} reports no check", e.name());
        total += rec.checks.len();
        let dir = out.join(e.name());
        let summary: RunSummary = read_json(&dir.join(files::SUMMARY)).unwrap();
        assert!(!summary.figures.is_empty(), "{} draws no figure", e.name());
        for f in &summary.figures {
            // one chart, or a grid of panels under a title strip
            let (w, h) = png_size(&dir.join(format!("{}.png", f.stem)));
            let (pw, ph) = plres_experiments::plot::PANEL_SIZE;
            let strip = plres_experiments::plot::TITLE_STRIP_PX;
            assert!(
                (w, h) == plres_experiments::plot::PLOT_SIZE
                    || (w.is_multiple_of(pw) && h > strip && (h - strip).is_multiple_of(ph)),
                "{}: {}.png is {w}×{h}",
                e.name(),
                f.stem
            );
            assert!(dir.join(format!("{}.svg", f.stem)).is_file());
        }
        let csv = std::fs::read_to_string(dir.join(files::METRICS)).unwrap();
        assert!(csv.lines().count() > 1, "{}: empty metrics.csv", e.name());
    }
    let totals = write_report(&out, registry(), "test").unwrap();
    // every check holds or is vacuous (its bound 0 or infinite); none fails
    assert_eq!(
        (totals.runs, totals.checks, totals.holding + totals.vacuous),
        (registry().len(), total, total)
    );
    cleanup(&out);
}
