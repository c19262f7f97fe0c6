//! `plres certify`, `plres features-needed`, `plres predict`.

use faer::Mat;
use plres::io::{write_file, write_matrix};
use plres::{Network, PlresError, Predictions};
use plres_kernels::KernelSpec;
use plres_theory::Verdict;
use serde::Serialize;

use crate::data::load;
use crate::{CertifyArgs, FeaturesArgs, KernelArg, PredictArgs, auto_or};

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.4e}"))
}

/// `plres certify`: table on stdout (or JSON), JSON file on request.
pub fn certify(a: CertifyArgs) -> Result<(), PlresError> {
    let network = Network::load(&a.checkpoint)?;
    let data = load(&a.data, &a.targets, true)?;
    let y = data.y.expect("targets required");
    let c = plres::certify(&network, data.x.as_ref(), y.as_ref())?;
    let json = serde_json::to_string_pretty(&c).expect("a certificate serialises");
    if let Some(path) = &a.json {
        write_file(path, json.as_bytes())?;
    }
    if a.print_json {
        println!("{json}");
        return Ok(());
    }
    println!(
        "PL certificate of {} ({} model) on {} ({} samples, squared loss)",
        a.checkpoint.display(),
        c.model,
        a.data.display(),
        c.n_samples
    );
    println!("  loss L        {:.6e}", c.loss);
    println!("  ‖G‖²          {:.6e}", c.grad_norm_sq);
    println!("  ρ = ‖G‖²/L    {:.6e}", c.rho);
    println!(
        "  μ_cert        {}{}",
        opt(c.mu_cert),
        if c.mu_cert.is_some() && !c.exact {
            "  (continuous analogue, O(h))"
        } else {
            ""
        }
    );
    println!("  μ_tight       {}", opt(c.mu_tight));
    if let Some(mu) = c.mu_cert {
        let holds = c.rho >= mu * (1.0 - 1e-9);
        println!("  ρ ≥ μ_cert    {}", if holds { "holds" } else { "FAILS" });
    }
    if !c.lambda.is_empty() {
        println!("  layer   λ_k          a_k");
        for (k, (l, aa)) in c.lambda.iter().zip(&c.a).enumerate() {
            println!("  {k:>5}   {l:<11.4e}  {aa:.4e}");
        }
    }
    if !c.expressivity_lambda.is_empty() {
        let s: Vec<String> = c
            .expressivity_lambda
            .iter()
            .map(|l| format!("{l:.3e}"))
            .collect();
        println!("  λ_min at X^0..X^L: {}", s.join(" "));
    }
    for ch in &c.checks {
        let v = match &ch.verdict {
            Verdict::Holds => "holds".to_string(),
            Verdict::Fails => "FAILS".to_string(),
            Verdict::Vacuous { reason } => format!("vacuous ({reason})"),
        };
        println!("  [{v}] {}", ch.claim);
    }
    for n in &c.notes {
        println!("  note: {n}");
    }
    Ok(())
}

#[derive(Serialize)]
struct FeaturesReport {
    data: String,
    bandwidth_source: String,
    #[serde(flatten)]
    bounds: plres::FeatureBounds,
}

/// `plres features-needed`.
pub fn features_needed(a: FeaturesArgs) -> Result<(), PlresError> {
    if !(a.delta > 0.0 && a.delta < 1.0) {
        return Err(PlresError::InvalidSetting {
            field: "delta",
            value: a.delta.to_string(),
            expected: "a probability in (0, 1)".into(),
        });
    }
    let data = load(&a.data, &a.targets, false)?;
    let x = if a.raw {
        data.x
    } else {
        plres_data::Standardizer::fit(data.x.as_ref())
            .map_err(|e| PlresError::BadData {
                what: a.data.display().to_string(),
                reason: e.to_string(),
            })?
            .transform(data.x.as_ref())
    };
    let (bw, source) = match auto_or::<f64>("bandwidth", &a.bandwidth)? {
        Some(s) if s.is_finite() && s > 0.0 => (s, "given".to_string()),
        Some(s) => {
            return Err(PlresError::InvalidSetting {
                field: "bandwidth",
                value: s.to_string(),
                expected: "a finite number > 0 or auto".into(),
            });
        }
        None => {
            let (m, used) = plres::estimator::median_pairwise_distance(x.as_ref(), 0)?;
            (
                m,
                format!("auto: median pairwise distance of {used} inputs"),
            )
        }
    };
    let kernel = match a.kernel {
        KernelArg::Gaussian => KernelSpec::Gaussian { sigma: bw },
        KernelArg::Laplace => KernelSpec::Laplace { lengthscale: bw },
        KernelArg::Matern32 => KernelSpec::Matern32 { lengthscale: bw },
        KernelArg::Matern52 => KernelSpec::Matern52 { lengthscale: bw },
    };
    let r = FeaturesReport {
        data: a.data.display().to_string(),
        bandwidth_source: source,
        bounds: plres::features_needed(&kernel, x.as_ref(), a.delta)?,
    };
    if a.print_json {
        println!("{}", serde_json::to_string_pretty(&r).expect("serialises"));
        return Ok(());
    }
    let show = |r: &Result<usize, String>| match r {
        Ok(p) => p.to_string(),
        Err(e) => format!("none ({e})"),
    };
    println!(
        "features needed for λ_min(K_p) ≥ λ_min(K)/2 with probability ≥ 1 − δ, δ = {} ({} samples in R^{}, {:?}, bandwidth {})",
        r.bounds.delta, r.bounds.n_samples, r.bounds.dim, r.bounds.kernel, r.bandwidth_source
    );
    let b = &r.bounds;
    println!("  λ_min(K)            {:.6e}", b.lambda_min);
    println!("  ‖K‖                 {:.6e}", b.norm_k);
    println!("  diameter            {:.6e}", b.diameter);
    println!(
        "  pointwise (matrix Bernstein, these points)   p ≥ {}",
        show(&b.pointwise)
    );
    println!(
        "  uniform (Rahimi–Recht, the data's diameter)  p ≥ {}",
        show(&b.uniform)
    );
    Ok(())
}

/// `plres predict`.
pub fn predict(a: PredictArgs) -> Result<(), PlresError> {
    if a.out.exists() && !a.force {
        return Err(PlresError::OutputExists {
            path: a.out.clone(),
        });
    }
    plres::io::Format::of(&a.out)?;
    let network = Network::load(&a.checkpoint)?;
    let data = load(&a.data, &a.targets, false)?;
    if data.x.ncols() != network.input_dim() {
        return Err(PlresError::BadData {
            what: a.data.display().to_string(),
            reason: format!(
                "{} input columns, but {} takes {} (drop target columns with --target/--labels)",
                data.x.ncols(),
                a.checkpoint.display(),
                network.input_dim()
            ),
        });
    }
    let (names, m): (Vec<String>, Mat<f64>) = if a.outputs {
        let z = network.outputs(data.x.as_ref())?;
        ((0..z.ncols()).map(|j| format!("output_{j}")).collect(), z)
    } else {
        match network.predict(data.x.as_ref())? {
            Predictions::Classes(c) => (
                vec!["class".into()],
                Mat::from_fn(c.len(), 1, |i, _| c[i] as f64),
            ),
            Predictions::Values(z) => (
                if z.ncols() == 1 {
                    vec!["prediction".into()]
                } else {
                    (0..z.ncols()).map(|j| format!("prediction_{j}")).collect()
                },
                z,
            ),
        }
    };
    write_matrix(&a.out, &names, &m)?;
    eprintln!(
        "plres predict: {} predictions → {}",
        m.nrows(),
        a.out.display()
    );
    Ok(())
}
