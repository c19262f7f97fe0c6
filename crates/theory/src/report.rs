//! `CheckReport`: the one result type of every check in this crate.
//!
//! A check states a claim, where it comes from (a section of docs/theory.md, the paper or a standard result), what was
//! measured, what the theory predicts, the tolerance used to compare them and whether
//! the claim holds. Reports serialise to JSON and print as Markdown table rows.

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

/// The outcome of one check of a theoretical claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Whether the claim holds for these values.
    pub holds: bool,
}

impl CheckReport {
    /// Builds a report and decides `holds` from the relation. A non-finite measured or
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
            holds,
        }
    }

    /// The header of the Markdown table that [`CheckReport::table_row`] rows belong to.
    pub fn table_header() -> &'static str {
        "| claim | source | measured | relation | predicted | tolerance | holds |\n|---|---|---|---|---|---|---|"
    }

    /// One Markdown table row: claim, source, measured, relation, predicted, tolerance, holds.
    pub fn table_row(&self) -> String {
        let rel = match self.relation {
            Relation::AtLeast => "≥",
            Relation::AtMost => "≤",
            Relation::Within => "≈",
        };
        format!(
            "| {} | {} | {:.6e} | {} | {:.6e} | {:.1e} | {} |",
            self.claim.replace('|', "\\|"),
            self.source,
            self.measured,
            rel,
            self.predicted,
            self.tolerance,
            if self.holds { "yes" } else { "**NO**" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_decide_holds() {
        assert!(CheckReport::new("c", "s", 1.0, 1.0 + 1e-12, 1e-9, Relation::AtLeast).holds);
        assert!(!CheckReport::new("c", "s", 0.5, 1.0, 1e-9, Relation::AtLeast).holds);
        assert!(CheckReport::new("c", "s", 0.5, 1.0, 0.0, Relation::AtMost).holds);
        assert!(!CheckReport::new("c", "s", 1.5, 1.0, 0.1, Relation::AtMost).holds);
        assert!(CheckReport::new("c", "s", 2.05, 2.0, 0.15, Relation::Within).holds);
        assert!(!CheckReport::new("c", "s", 1.8, 2.0, 0.15, Relation::Within).holds);
        assert!(!CheckReport::new("c", "s", f64::NAN, 2.0, 0.15, Relation::Within).holds);
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
        let back: CheckReport = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
        assert!(r.table_row().ends_with("| yes |"));
    }
}
