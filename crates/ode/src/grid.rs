//! Explicit integration grids: the step points are given, never inferred from output times.

use crate::error::OdeError;

/// A validated time grid `t_0, t_1, …, t_n` (`n ≥ 1` steps): finite and strictly monotone,
/// increasing (forward integration) or decreasing (backward integration). Step `k` goes from
/// `t_k` to `t_{k+1}` with `h_k = t_{k+1} − t_k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    times: Vec<f64>,
}

impl Grid {
    /// Validates an explicit grid.
    ///
    /// # Errors
    /// [`OdeError::GridTooShort`] (fewer than two points), [`OdeError::GridNotFinite`],
    /// [`OdeError::GridNotMonotone`] (a zero step or a change of direction).
    ///
    /// ```
    /// use plres_ode::Grid;
    /// let g = Grid::new(vec![0.0, 0.1, 0.3, 1.0]).unwrap();
    /// assert_eq!(g.n_steps(), 3);
    /// assert!(Grid::new(vec![0.0, 0.5, 0.5]).is_err());
    /// ```
    pub fn new(times: Vec<f64>) -> Result<Self, OdeError> {
        if times.len() < 2 {
            return Err(OdeError::GridTooShort { len: times.len() });
        }
        if let Some((index, &value)) = times.iter().enumerate().find(|(_, t)| !t.is_finite()) {
            return Err(OdeError::GridNotFinite { index, value });
        }
        let dir = (times[1] - times[0]).signum();
        for k in 1..times.len() {
            let step = times[k] - times[k - 1];
            if step == 0.0 || step.signum() != dir {
                return Err(OdeError::GridNotMonotone {
                    index: k,
                    previous: times[k - 1],
                    value: times[k],
                });
            }
        }
        Ok(Grid { times })
    }

    /// Most steps [`Grid::uniform`] builds: `2²⁷` (its `2²⁷ + 1` points take 1 GiB).
    /// Every solve on a grid also stores or recomputes at least one `N×d` state per step,
    /// so a longer uniform grid would not fit in the memory of the machines plres targets;
    /// an explicit longer grid can still be given to [`Grid::new`].
    pub const MAX_UNIFORM_STEPS: usize = 1 << 27;

    /// `n_steps` equal steps from `t0` to `t1`: `t_k = t0 + k (t1 − t0)/n` (the last point is
    /// exactly `t1`).
    ///
    /// The ends and the step count are checked before anything is allocated, and the
    /// points are allocated fallibly: no input makes this panic or abort.
    ///
    /// ```
    /// use plres_ode::{Grid, OdeError};
    /// assert_eq!(Grid::uniform(0.0, 1.0, 4).unwrap().times(), &[0.0, 0.25, 0.5, 0.75, 1.0]);
    /// assert!(matches!(
    ///     Grid::uniform(0.0, 1.0, usize::MAX),
    ///     Err(OdeError::GridTooLong { .. }),
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`OdeError::GridTooShort`] for `n_steps == 0`; [`OdeError::InvalidInterval`] for
    /// non-finite ends, `t0 == t1`, or a span `t1 − t0` that overflows to infinity;
    /// [`OdeError::GridTooLong`] above [`Grid::MAX_UNIFORM_STEPS`];
    /// [`OdeError::OutOfMemory`] if the points cannot be allocated;
    /// [`OdeError::GridNotMonotone`] when the step is too small for the points to stay
    /// distinct in `f64` (e.g. `t1 − t0` below `n_steps` ulps of `t0`).
    pub fn uniform(t0: f64, t1: f64, n_steps: usize) -> Result<Self, OdeError> {
        if n_steps == 0 {
            return Err(OdeError::GridTooShort { len: 1 });
        }
        let span = t1 - t0;
        if !t0.is_finite() || !t1.is_finite() || !span.is_finite() || span == 0.0 {
            return Err(OdeError::InvalidInterval { t0, t1 });
        }
        if n_steps > Self::MAX_UNIFORM_STEPS {
            return Err(OdeError::GridTooLong {
                n_steps,
                max: Self::MAX_UNIFORM_STEPS,
            });
        }
        // n_steps ≤ 2²⁷: the point count and the byte count below cannot overflow
        let points = n_steps + 1;
        let mut times: Vec<f64> = Vec::new();
        times
            .try_reserve_exact(points)
            .map_err(|_| OdeError::OutOfMemory {
                what: "grid points",
                bytes: points * std::mem::size_of::<f64>(),
            })?;
        let h = span / n_steps as f64;
        times.extend((0..n_steps).map(|k| t0 + k as f64 * h));
        times.push(t1);
        Self::new(times)
    }

    /// The grid points.
    pub fn times(&self) -> &[f64] {
        &self.times
    }
    /// Number of steps `n` (points − 1).
    pub fn n_steps(&self) -> usize {
        self.times.len() - 1
    }
    /// First point.
    pub fn t0(&self) -> f64 {
        self.times[0]
    }
    /// Last point.
    pub fn t_end(&self) -> f64 {
        self.times[self.times.len() - 1]
    }
    /// `(t_k, h_k)` of step `k`.
    pub fn step(&self, k: usize) -> (f64, f64) {
        (self.times[k], self.times[k + 1] - self.times[k])
    }
    /// `+1.0` for an increasing grid, `−1.0` for a decreasing one.
    pub fn direction(&self) -> f64 {
        (self.times[1] - self.times[0]).signum()
    }
    /// The same points in reverse order (for backward integration).
    pub fn reversed(&self) -> Grid {
        let mut times = self.times.clone();
        times.reverse();
        Grid { times }
    }
}
