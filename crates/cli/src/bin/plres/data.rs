//! Reading a data file into inputs and targets, as the flags select them.

use std::path::Path;

use faer::Mat;
use plres::PlresError;
use plres::io::{DataTable, read_table};
use plres_data::Targets;

use crate::TargetArgs;

/// Inputs, targets (when selected) and the names of the input and target columns.
pub struct Loaded {
    pub x: Mat<f64>,
    pub y: Option<Targets>,
    pub input_names: Vec<String>,
    pub target_names: Vec<String>,
}

/// Reads `path` and splits it by `t`; `need_targets` makes missing targets an error.
pub fn load(path: &Path, t: &TargetArgs, need_targets: bool) -> Result<Loaded, PlresError> {
    let table = read_table(path)?;
    let names = table.names.clone();
    if let Some(cols) = &t.target {
        let (x, y) = table.split_regression(std::slice::from_ref(cols))?;
        let tcols: Vec<usize> = cols
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(|c| table.column(c))
            .collect::<Result<_, _>>()?;
        return Ok(Loaded {
            x,
            y: Some(y),
            input_names: names
                .iter()
                .enumerate()
                .filter(|(j, _)| !tcols.contains(j))
                .map(|(_, n)| n.clone())
                .collect(),
            target_names: tcols.iter().map(|&j| names[j].clone()).collect(),
        });
    }
    if let Some(col) = &t.labels {
        let j = table.column(col)?;
        let (x, y) = table.split_labels(col)?;
        return Ok(Loaded {
            x,
            y: Some(y),
            input_names: names
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != j)
                .map(|(_, n)| n.clone())
                .collect(),
            target_names: vec![names[j].clone()],
        });
    }
    if let Some(lf) = &t.labels_file {
        let lt = read_table(lf)?;
        if lt.values.ncols() != 1 {
            return Err(PlresError::File {
                file: lf.clone(),
                location: "shape".into(),
                reason: format!(
                    "{} columns: a labels file holds one label per sample",
                    lt.values.ncols()
                ),
            });
        }
        if lt.values.nrows() != table.values.nrows() {
            return Err(PlresError::File {
                file: lf.clone(),
                location: "shape".into(),
                reason: format!(
                    "{} labels, but {} holds {} samples",
                    lt.values.nrows(),
                    path.display(),
                    table.values.nrows()
                ),
            });
        }
        let labels = lt.labels_of(0)?;
        let n_classes = labels.iter().copied().max().unwrap_or(0) + 1;
        return Ok(Loaded {
            x: table.into_inputs(),
            y: Some(Targets::Classes { labels, n_classes }),
            input_names: names,
            target_names: vec!["label".into()],
        });
    }
    if need_targets {
        return Err(PlresError::File {
            file: path.to_path_buf(),
            location: "targets".into(),
            reason: "no targets selected: give --target COLS, --labels COL or --labels-file FILE"
                .into(),
        });
    }
    Ok(Loaded {
        x: DataTable::into_inputs(table),
        y: None,
        input_names: names,
        target_names: Vec::new(),
    })
}
