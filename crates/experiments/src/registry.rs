//! The experiment registry: names, size levels and the type-erased runner.
//!
//! An experiment implements [`Experiment`] with its own serde `Config`
//! ([`ExperimentConfig::for_size`] gives the configuration of each [`Size`]); the
//! blanket [`DynExperiment`] impl lets the runner and `cargo xtask reproduce` treat all
//! experiments alike through JSON configurations. [`registry`] lists them in the order
//! the report shows them.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ExperimentError;
use crate::run::{RunContext, RunOutput};

/// How big an experiment is run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// Seconds for all experiments together: what CI runs (`--smoke`).
    Smoke,
    /// All experiments in under ten minutes on a 2-core machine (the default).
    #[default]
    Default,
    /// The sizes of the study's figures (`--full`).
    Full,
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Size::Smoke => "smoke",
            Size::Default => "default",
            Size::Full => "full",
        })
    }
}

/// A size name that is not `smoke`, `default` or `full`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown size `{0}` (expected smoke, default or full)")]
pub struct UnknownSize(pub String);

impl FromStr for Size {
    type Err = UnknownSize;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "smoke" => Ok(Size::Smoke),
            "default" => Ok(Size::Default),
            "full" => Ok(Size::Full),
            other => Err(UnknownSize(other.to_owned())),
        }
    }
}

/// The configuration of one experiment.
pub trait ExperimentConfig: Serialize + DeserializeOwned + Clone + fmt::Debug {
    /// The configuration for a size level.
    fn for_size(size: Size) -> Self;

    /// Checks every value against its domain; the message names the field and value.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// One experiment of the study.
pub trait Experiment: Send + Sync + 'static {
    /// Its configuration.
    type Config: ExperimentConfig;
    /// The registered name (`pl-certificate`, `width`, …): also its run folder's name.
    fn name(&self) -> &'static str;
    /// One sentence: what it shows.
    fn description(&self) -> &'static str;
    /// Runs it. Random numbers come only from `ctx.rng(..)`.
    fn run(&self, config: &Self::Config, ctx: &RunContext) -> Result<RunOutput, ExperimentError>;
}

/// An experiment behind JSON configurations (object safe; every [`Experiment`] is one).
pub trait DynExperiment: Send + Sync {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// One sentence: what it shows.
    fn description(&self) -> &'static str;
    /// `Config::for_size(size)` as JSON.
    fn default_config(&self, size: Size) -> Value;
    /// Parses and validates `config`, then runs.
    fn run_json(&self, config: &Value, ctx: &RunContext) -> Result<RunOutput, ExperimentError>;
}

impl fmt::Debug for dyn DynExperiment + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Experiment({})", self.name())
    }
}

impl<E: Experiment> DynExperiment for E {
    fn name(&self) -> &'static str {
        Experiment::name(self)
    }
    fn description(&self) -> &'static str {
        Experiment::description(self)
    }
    fn default_config(&self, size: Size) -> Value {
        serde_json::to_value(E::Config::for_size(size))
            .expect("experiment configs serialise to JSON")
    }
    fn run_json(&self, config: &Value, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let name = Experiment::name(self);
        let cfg: E::Config = serde_json::from_value(config.clone())
            .map_err(|e| ExperimentError::config(name, e.to_string()))?;
        cfg.validate()
            .map_err(|message| ExperimentError::config(name, message))?;
        self.run(&cfg, ctx)
    }
}

static REGISTRY: &[&dyn DynExperiment] = &[
    &crate::experiments::PlCertificate,
    &crate::experiments::Width,
    &crate::experiments::Depth,
    &crate::experiments::WidthLimit,
    &crate::experiments::RffBound,
    &crate::experiments::LinearVsNonlinear,
    &crate::experiments::Lazy,
    &crate::experiments::MnistDepth,
    &crate::experiments::MnistPretrained,
    &crate::experiments::MnistWidth,
];

/// Every experiment, in the order of the report.
pub fn registry() -> &'static [&'static dyn DynExperiment] {
    REGISTRY
}

/// The registered names, in order.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|e| e.name()).collect()
}

/// Looks an experiment up by name in `experiments`.
pub fn find_in<'a>(
    experiments: &[&'a dyn DynExperiment],
    name: &str,
) -> Result<&'a dyn DynExperiment, ExperimentError> {
    experiments
        .iter()
        .find(|e| e.name() == name)
        .copied()
        .ok_or_else(|| ExperimentError::UnknownExperiment {
            name: name.to_owned(),
            known: experiments
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Looks a registered experiment up by name.
pub fn find(name: &str) -> Result<&'static dyn DynExperiment, ExperimentError> {
    find_in(registry(), name)
}
