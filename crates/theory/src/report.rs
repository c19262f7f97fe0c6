//! `CheckReport`: the one result type of every check in this crate.
//!
//! A check states a claim, where it comes from (a section of docs/theory.md, the paper or a
//! standard result), what was measured, what the theory predicts, the tolerance used to
//! compare them and its [`Verdict`]: the claim holds, fails, or the check is *vacuous* —
//! the bound it compares with is 0 or infinite (an a-priori certificate that is 0 on every
//! ball tried, `μ_cert = 0` below the width `p = N`, a bound whose width is above every
//! width tried), so it says nothing about the measurement. A vacuous check carries the
//! reason in words; it does not fail a run but is counted apart from the checks that hold.
//!
//! Reports serialise to JSON (`checks.json`) and print as Markdown table rows. The JSON of
//! a report carries `verdict` and, for readers of the earlier format, `holds`
//! (`verdict == holds`); a file of the earlier format (only `holds`) still reads, as
//! `holds`/`fails`. Non-finite values serialise as `null` and read back as NaN.

use serde::{Deserialize, Serialize};

/// How `measured` is compared with `predicted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The claim is `measured ≥ predicted − tolerance` (a lower bound, e.g. `ρ ≥ μ_cert`).
    AtLeast,
    /// The claim is `measured ≤ predicted + tolerance` (an upper bound, e.g. a path length).
    AtMost,
    /// The claim is `|measured − predicted| ≤ tolerance` (e.g. a fitted order).
    Within,
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The claim holds for the measured values.
    Holds,
    /// The claim does not hold.
    Fails,
    /// The bound is 0 or infinite: the check says nothing. `reason` says why, in words.
    Vacuous {
        /// Why the bound is vacuous, e.g. "separation e^{−R/σ}δ₀ too small for N = 48".
        reason: String,
    },
}

impl Verdict {
    /// The word shown in tables and on the terminal: `holds`, `FAILS` or `VACUOUS`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::Fails => "FAILS",
            Self::Vacuous { .. } => "VACUOUS",
        }
    }
}

/// The outcome of one check of a theoretical claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawCheckReport", into = "RawCheckReport")]
pub struct CheckReport {
    /// The claim in words, e.g. "‖G‖² ≥ μ_cert·L at every iterate".
    pub claim: String,
    /// Where the claim comes from, e.g. "docs/theory.md §5 item 4".
    pub source: String,
    /// The measured value.
    pub measured: f64,
    /// The value the theory predicts (a bound, a rate, an order).
    pub predicted: f64,
    /// The tolerance of the comparison (absolute, in the units of `measured`).
    pub tolerance: f64,
    /// How `measured` and `predicted` are compared.
    pub relation: Relation,
    /// Whether the claim holds, fails, or the check is vacuous.
    pub verdict: Verdict,
}

/// The on-disk form of a [`CheckReport`] (module docs: both formats read).
#[derive(Serialize, Deserialize)]
struct RawCheckReport {
    claim: String,
    source: String,
    measured: Option<f64>,
    predicted: Option<f64>,
    tolerance: Option<f64>,
    relation: Relation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    #[serde(default)]
    holds: Option<bool>,
}

impl From<RawCheckReport> for CheckReport {
    fn from(r: RawCheckReport) -> Self {
        let verdict = match (r.verdict, r.holds) {
            (Some(v), _) => v,
            (None, Some(true)) => Verdict::Holds,
            (None, _) => Verdict::Fails,
        };
        Self {
            claim: r.claim,
            source: r.source,
            measured: r.measured.unwrap_or(f64::NAN),
            predicted: r.predicted.unwrap_or(f64::NAN),
            tolerance: r.tolerance.unwrap_or(f64::NAN),
            relation: r.relation,
            verdict,
        }
    }
}

impl From<CheckReport> for RawCheckReport {
    fn from(c: CheckReport) -> Self {
        let fin = |x: f64| x.is_finite().then_some(x);
        Self {
            holds: Some(c.verdict == Verdict::Holds),
            claim: c.claim,
            source: c.source,
            measured: fin(c.measured),
            predicted: fin(c.predicted),
            tolerance: fin(c.tolerance),
            relation: c.relation,
            verdict: Some(c.verdict),
        }
    }
}

impl CheckReport {
    /// Builds a report and decides holds/fails from the relation. A non-finite measured or
    /// predicted value never holds.
    pub fn new(
        claim: impl Into<String>,
        source: impl Into<String>,
        measured: f64,
        predicted: f64,
        tolerance: f64,
        relation: Relation,
    ) -> Self {
        let finite = measured.is_finite() && predicted.is_finite() && !tolerance.is_nan();
        let holds = finite
            && match relation {
                Relation::AtLeast => measured >= predicted - tolerance,
                Relation::AtMost => measured <= predicted + tolerance,
                Relation::Within => (measured - predicted).abs() <= tolerance,
            };
        Self {
            claim: claim.into(),
            source: source.into(),
            measured,
            predicted,
            tolerance,
            relation,
            verdict: if holds {
                Verdict::Holds
            } else {
                Verdict::Fails
            },
        }
    }

    /// A vacuous check: the bound `predicted` (0 or infinite, or attained only outside what
    /// was tried) says nothing about `measured`; `reason` says why.
    pub fn vacuous(
        claim: impl Into<String>,
        source: impl Into<String>,
        measured: f64,
        predicted: f64,
        relation: Relation,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            source: source.into(),
            measured,
            predicted,
            tolerance: 0.0,
            relation,
            verdict: Verdict::Vacuous {
                reason: reason.into(),
            },
        }
    }

    /// This report, made vacuous with `reason` when `vacuous` is true (the comparison is
    /// kept in the values, the verdict no longer counts it).
    #[must_use]
    pub fn vacuous_if(mut self, vacuous: bool, reason: impl FnOnce() -> String) -> Self {
        if vacuous {
            self.verdict = Verdict::Vacuous { reason: reason() };
        }
        self
    }

    /// Whether the claim holds.
    pub fn holds(&self) -> bool {
        self.verdict == Verdict::Holds
    }

    /// Whether the claim fails (a vacuous check does not fail).
    pub fn fails(&self) -> bool {
        self.verdict == Verdict::Fails
    }

    /// Whether the check is vacuous.
    pub fn is_vacuous(&self) -> bool {
        matches!(self.verdict, Verdict::Vacuous { .. })
    }

    /// The reason a vacuous check is vacuous.
    pub fn vacuous_reason(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Vacuous { reason } => Some(reason),
            _ => None,
        }
    }

    /// The header of the Markdown table that [`CheckReport::table_row`] rows belong to.
    pub fn table_header() -> &'static str {
        "| claim | source | measured | relation | predicted | tolerance | verdict |\n|---|---|---|---|---|---|---|"
    }

    /// One Markdown table row: claim, source, measured, relation, predicted, tolerance,
    /// verdict (`holds`, **FAILS**, or **VACUOUS**: and its reason).
    pub fn table_row(&self) -> String {
        let rel = match self.relation {
            Relation::AtLeast => "≥",
            Relation::AtMost => "≤",
            Relation::Within => "≈",
        };
        let verdict = match &self.verdict {
            Verdict::Holds => "holds".to_owned(),
            Verdict::Fails => "**FAILS**".to_owned(),
            Verdict::Vacuous { reason } => format!("**VACUOUS**: {reason}"),
        };
        format!(
            "| {} | {} | {:.6e} | {} | {:.6e} | {:.1e} | {} |",
            self.claim.replace('|', "\\|"),
            self.source,
            self.measured,
            rel,
            self.predicted,
            self.tolerance,
            verdict.replace('|', "\\|")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_decide_holds() {
        assert!(CheckReport::new("c", "s", 1.0, 1.0 + 1e-12, 1e-9, Relation::AtLeast).holds());
        assert!(CheckReport::new("c", "s", 0.5, 1.0, 1e-9, Relation::AtLeast).fails());
        assert!(CheckReport::new("c", "s", 0.5, 1.0, 0.0, Relation::AtMost).holds());
        assert!(CheckReport::new("c", "s", 1.5, 1.0, 0.1, Relation::AtMost).fails());
        assert!(CheckReport::new("c", "s", 2.05, 2.0, 0.15, Relation::Within).holds());
        assert!(CheckReport::new("c", "s", 1.8, 2.0, 0.15, Relation::Within).fails());
        assert!(CheckReport::new("c", "s", f64::NAN, 2.0, 0.15, Relation::Within).fails());
    }

    #[test]
    fn json_round_trip_and_row() {
        let r = CheckReport::new(
            "ρ ≥ μ_cert",
            "docs/theory.md §5 item 4",
            3.0,
            2.0,
            0.0,
            Relation::AtLeast,
        );
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"holds\":true"), "{s}");
        let back: CheckReport = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
        assert!(r.table_row().ends_with("| holds |"));
    }

    /// A vacuous check with an infinite bound survives JSON (as NaN), keeps its reason and
    /// neither holds nor fails; a vacuous_if(false) leaves the verdict alone.
    #[test]
    fn vacuous_round_trip() {
        let r = CheckReport::vacuous(
            "path ≤ bound",
            "s",
            1.0,
            f64::INFINITY,
            Relation::AtMost,
            "μ_cert = 0: the bound 2√(L₀/μ) is infinite",
        );
        assert!(!r.holds() && !r.fails() && r.is_vacuous());
        let s = serde_json::to_string(&r).unwrap();
        assert!(
            s.contains("\"holds\":false") && s.contains("vacuous"),
            "{s}"
        );
        let back: CheckReport = serde_json::from_str(&s).unwrap();
        assert!(back.predicted.is_nan());
        assert_eq!(back.vacuous_reason(), r.vacuous_reason());
        assert!(r.table_row().contains("**VACUOUS**: μ_cert = 0"));
        let kept = CheckReport::new("c", "s", 0.5, 1.0, 0.0, Relation::AtLeast)
            .vacuous_if(false, || unreachable!());
        assert!(kept.fails());
    }

    /// The earlier format (a `holds` boolean, no `verdict`) still reads.
    #[test]
    fn reads_the_earlier_format() {
        let old = r#"[{"claim":"c","source":"s","measured":1.0,"predicted":2.0,
            "tolerance":0.0,"relation":"at_least","holds":false},
            {"claim":"c","source":"s","measured":3.0,"predicted":2.0,
            "tolerance":0.0,"relation":"at_least","holds":true}]"#;
        let v: Vec<CheckReport> = serde_json::from_str(old).unwrap();
        assert!(v[0].fails() && v[1].holds());
    }
}
