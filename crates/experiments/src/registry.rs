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
    /// Parses and validates `config` without running (what `cargo xtask fuzz` drives with
    /// mutated configurations: it must never panic). Experiments without a typed config
    /// accept everything here.
    ///
    /// # Errors
    /// [`ExperimentError::InvalidConfig`] naming the field and value.
    fn check_json(&self, config: &Value) -> Result<(), ExperimentError> {
        let _ = config;
        Ok(())
    }
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
        let cfg = parse_config::<E>(self, config)?;
        self.run(&cfg, ctx)
    }
    fn check_json(&self, config: &Value) -> Result<(), ExperimentError> {
        parse_config::<E>(self, config).map(drop)
    }
}

/// The largest integer an experiment configuration may hold (seeds excepted): 2³¹. Every
/// size, count, depth, width and iteration budget of the study is far below it, and any
/// product of two such values, or a small multiple of one, fits in 64 bits, so a
/// configuration's own `validate` (and the sizes it computes) cannot overflow on a value
/// that passed this bound.
pub const MAX_CONFIG_INTEGER: u64 = 1 << 31;

/// The first integer of `v` (at any depth) above [`MAX_CONFIG_INTEGER`], outside keys
/// naming a seed (`seed`, `…_seed`), as `(path, value)`.
fn oversized(v: &Value, path: &mut String) -> Option<(String, String)> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(x) if x > MAX_CONFIG_INTEGER => Some((path.clone(), x.to_string())),
            None if n.as_i64().is_none()
                && n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() > MAX_CONFIG_INTEGER as f64) =>
            {
                Some((path.clone(), n.to_string()))
            }
            _ => None,
        },
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = oversized(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k == "seed" || k.ends_with("_seed") {
                return None;
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found = oversized(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// `config` as `E::Config`, validated: every integer at most [`MAX_CONFIG_INTEGER`]
/// (seeds excepted), then the configuration's own `validate`.
fn parse_config<E: Experiment>(e: &E, config: &Value) -> Result<E::Config, ExperimentError> {
    let name = Experiment::name(e);
    if let Some((field, value)) = oversized(config, &mut String::new()) {
        return Err(ExperimentError::config(
            name,
            format!("{field} = {value}: at most 2^31 (no size or count of the study comes near)"),
        ));
    }
    let cfg: E::Config = serde_json::from_value(config.clone())
        .map_err(|e| ExperimentError::config(name, e.to_string()))?;
    cfg.validate()
        .map_err(|message| ExperimentError::config(name, message))?;
    Ok(cfg)
}

/// Splits `key=value` (the argument of `cargo xtask reproduce --set`): the value is read
/// as JSON when it parses (`64`, `0.5`, `true`, `[1, 2]`, `"text"`) and as a string
/// otherwise (`gaussian`). `None` when there is no `=` or the key is empty.
pub fn parse_override(text: &str) -> Option<(String, Value)> {
    let (key, value) = text.split_once('=')?;
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Some((key.to_owned(), value))
}

/// Sets configuration fields of `experiment` in `config` (its JSON configuration, e.g.
/// `default_config(size)`): each key names a field (`a.b` a field of a nested object)
/// and its value must have the field's kind (an integer for an integer, a number for a
/// number, …; a string field takes any text). Then the whole configuration is parsed and
/// validated ([`DynExperiment::check_json`]), so an out-of-domain value is reported
/// with the field's own message.
///
/// # Errors
/// [`ExperimentError::InvalidOverride`] naming the key (with the known keys, or the
/// expected kind), or the experiment's [`ExperimentError::InvalidConfig`].
pub fn apply_overrides(
    experiment: &dyn DynExperiment,
    config: &mut Value,
    overrides: &[(String, Value)],
) -> Result<(), ExperimentError> {
    for (key, value) in overrides {
        let invalid = |message: String| ExperimentError::InvalidOverride {
            experiment: experiment.name().to_owned(),
            key: key.clone(),
            value: value.to_string(),
            message,
        };
        let mut slot = &mut *config;
        for part in key.split('.') {
            let Value::Object(fields) = slot else {
                return Err(invalid(format!("`{part}` is not inside an object")));
            };
            let known = fields.keys().cloned().collect::<Vec<_>>().join(", ");
            slot = fields
                .get_mut(part)
                .ok_or_else(|| invalid(format!("no field `{part}` (known: {known})")))?;
        }
        *slot = match (&*slot, value) {
            (Value::Null, v) => v.clone(),
            (Value::String(_), Value::String(v)) => Value::String(v.clone()),
            (Value::String(_), v) => Value::String(v.to_string()),
            (Value::Bool(_), Value::Bool(_)) => value.clone(),
            (Value::Number(old), Value::Number(new)) => {
                if (old.is_u64() || old.is_i64()) && !(new.is_u64() || new.is_i64()) {
                    return Err(invalid("the field is an integer".to_owned()));
                }
                value.clone()
            }
            (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
                value.clone()
            }
            (old, _) => {
                let kind = match old {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::Array(_) => "an array",
                    _ => "an object",
                };
                return Err(invalid(format!("the field is {kind}")));
            }
        };
    }
    experiment.check_json(config)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rff() -> &'static dyn DynExperiment {
        find("rff-bound").unwrap()
    }

    #[test]
    fn parse_override_reads_json_or_text() {
        assert_eq!(parse_override("n=16"), Some(("n".into(), Value::from(16))));
        assert_eq!(
            parse_override("sigma = 0.25"),
            Some(("sigma".into(), Value::from(0.25)))
        );
        assert_eq!(
            parse_override("kernel=gaussian"),
            Some(("kernel".into(), Value::from("gaussian")))
        );
        assert_eq!(
            parse_override("a=b=c"),
            Some(("a".into(), Value::from("b=c")))
        );
        assert_eq!(parse_override("novalue"), None);
        assert_eq!(parse_override("=3"), None);
    }

    #[test]
    fn overrides_set_fields_and_name_bad_keys() {
        let mut c = rff().default_config(Size::Smoke);
        apply_overrides(
            rff(),
            &mut c,
            &[("n".into(), 12.into()), ("sigma".into(), 1.into())],
        )
        .unwrap();
        assert_eq!(
            (c["n"].as_u64(), c["sigma"].as_f64()),
            (Some(12), Some(1.0))
        );

        let err = |key: &str, v: Value| {
            let mut c = rff().default_config(Size::Smoke);
            apply_overrides(rff(), &mut c, &[(key.into(), v)])
                .unwrap_err()
                .to_string()
        };
        let unknown = err("width", 3.into());
        assert!(
            unknown.starts_with("invalid override `width=3` of `rff-bound`: no field `width`"),
            "{unknown}"
        );
        assert!(unknown.contains("max_width"), "{unknown}");
        assert!(err("n", 2.5.into()).contains("`n=2.5`"));
        assert!(err("n", 2.5.into()).contains("the field is an integer"));
        assert!(err("sigma", "wide".into()).contains("the field is a number"));
        assert!(err("n.x", 1.into()).contains("`x` is not inside an object"));
        // kind right, domain wrong: the experiment's own validation names the field
        let domain = err("n", 1.into());
        assert!(
            domain.contains("invalid configuration of `rff-bound`"),
            "{domain}"
        );
        assert!(domain.contains('n'), "{domain}");
    }
}
