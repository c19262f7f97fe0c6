//! The optimisation state (iterate, gradients, counters, solver buffers) and the
//! [`StepContext`] through which a solver moves it.
//!
//! A [`State`] is always at an *evaluated, finite* iterate once a run has started: `params`,
//! `loss`, `gradient` belong together and are finite. A step writes the next parameters into
//! a candidate buffer, evaluates there, and only then swaps the candidate in; so after any
//! error the state still holds the last finite iterate. All buffers are allocated when a run
//! starts (in [`crate::run`]); steps allocate nothing.

use std::borrow::Cow;

use crate::error::{NonFinite, OptimError};
use crate::metric::Metric;
use crate::observer::Iterate;
use crate::problem::{Problem, ProblemError};
use crate::sampling::{Minibatch, Position, Sampler};

/// Per-solver vectors (momentum, moments) and step counter, tagged with the solver that owns
/// them so a different solver starts from fresh buffers.
#[derive(Clone, Debug, Default)]
pub(crate) struct SolverBuffers {
    /// The owning solver's name (borrowed from the solver; owned after [`State::from_bytes`]).
    pub(crate) owner: Option<Cow<'static, str>>,
    pub(crate) vectors: Vec<Vec<f64>>,
    pub(crate) steps: u64,
}

/// The state of a run: `θ_k`, `L(θ_k)`, `∂L/∂θ(θ_k)`, its Riesz gradient `G` and `‖G‖²_M`,
/// counters, solver buffers and the minibatch sampler.
///
/// Create it with [`State::new`] from initial parameters, pass it to [`crate::run`], get it
/// back in the [`crate::Outcome`]; passing it to another run continues (same counters,
/// same buffers if the solver is the same).
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) params: Vec<f64>,
    pub(crate) loss: f64,
    pub(crate) gradient: Vec<f64>,
    pub(crate) riesz: Vec<f64>,
    pub(crate) grad_norm_sq: f64,
    pub(crate) evaluated: bool,
    pub(crate) iteration: u64,
    pub(crate) epoch: u64,
    pub(crate) learning_rate: f64,
    pub(crate) last_step_size: f64,
    pub(crate) evaluations: u64,
    pub(crate) candidate: Vec<f64>,
    pub(crate) candidate_gradient: Vec<f64>,
    pub(crate) buffers: SolverBuffers,
    pub(crate) sampler: Sampler,
}

fn first_non_finite(loss: f64, params: &[f64], grad: &[f64]) -> Option<NonFinite> {
    if !loss.is_finite() {
        Some(NonFinite::Loss)
    } else if !grad.iter().all(|g| g.is_finite()) {
        Some(NonFinite::Gradient)
    } else if !params.iter().all(|p| p.is_finite()) {
        Some(NonFinite::Params)
    } else {
        None
    }
}

fn evaluate(
    problem: &mut dyn Problem,
    params: &[f64],
    grad: &mut [f64],
    batch: Option<&[usize]>,
) -> Result<f64, ProblemError> {
    grad.fill(0.0);
    match batch {
        None => problem.loss_and_gradient(params, grad),
        Some(ix) => problem.minibatch_loss_and_gradient(params, ix, grad),
    }
}

impl State {
    /// A fresh, not yet evaluated state at `params` (iteration 0, epoch 0).
    pub fn new(params: Vec<f64>) -> Self {
        Self {
            params,
            loss: f64::NAN,
            gradient: Vec::new(),
            riesz: Vec::new(),
            grad_norm_sq: f64::NAN,
            evaluated: false,
            iteration: 0,
            epoch: 0,
            learning_rate: f64::NAN,
            last_step_size: f64::NAN,
            evaluations: 0,
            candidate: Vec::new(),
            candidate_gradient: Vec::new(),
            buffers: SolverBuffers::default(),
            sampler: Sampler::default(),
        }
    }

    /// `θ_k`.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// Consumes the state, returning `θ_k`.
    pub fn into_params(self) -> Vec<f64> {
        self.params
    }

    /// `L(θ_k)` (NaN before the first evaluation; the minibatch loss for stochastic solvers).
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Euclidean gradient `∂L/∂θ` at `θ_k` (empty before the first evaluation).
    pub fn gradient(&self) -> &[f64] {
        &self.gradient
    }

    /// Riesz gradient `G` in the metric of the last run.
    pub fn riesz_gradient(&self) -> &[f64] {
        &self.riesz
    }

    /// `‖G‖²_M`.
    pub fn grad_norm_sq(&self) -> f64 {
        self.grad_norm_sq
    }

    /// `‖G‖_M`.
    pub fn grad_norm(&self) -> f64 {
        self.grad_norm_sq.sqrt()
    }

    /// Whether `loss` and `gradient` belong to `params`.
    pub fn is_evaluated(&self) -> bool {
        self.evaluated
    }

    /// `k`: steps taken since [`State::new`].
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Index of the current epoch (completed passes over the data).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The learning rate of the next step (as last computed by a run).
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// The step size that produced the current iterate (NaN at the first iterate).
    pub fn last_step_size(&self) -> f64 {
        self.last_step_size
    }

    /// Loss/gradient evaluations since [`State::new`] (including rejected line-search trials).
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The solver's vectors (momentum `b`; Adam's `m`, `v`) in the order the solver documents.
    pub fn solver_buffers(&self) -> &[Vec<f64>] {
        &self.buffers.vectors
    }

    /// The name of the solver that owns [`State::solver_buffers`] (`None` before the first
    /// run).
    pub fn solver_name(&self) -> Option<&str> {
        self.buffers.owner.as_deref()
    }

    /// The solver's own step counter (Adam's `t`).
    pub fn solver_steps(&self) -> u64 {
        self.buffers.steps
    }

    /// Sample indices of the current minibatch (`None` for full batch or before evaluation).
    pub fn batch(&self) -> Option<&[usize]> {
        if self.evaluated && self.sampler.perm_epoch == Some(self.epoch) {
            let (s, e) = self.sampler.batch;
            self.sampler.config.map(|_| &self.sampler.perm[s..e])
        } else {
            None
        }
    }

    /// The current iterate as observers see it.
    pub fn iterate(&self) -> Iterate<'_> {
        Iterate {
            iteration: self.iteration,
            epoch: self.epoch,
            params: &self.params,
            loss: self.loss,
            gradient: &self.gradient,
            riesz_gradient: &self.riesz,
            grad_norm_sq: self.grad_norm_sq,
            learning_rate: self.learning_rate,
            last_step_size: self.last_step_size,
            batch: self.batch(),
            evaluations: self.evaluations,
        }
    }

    pub(crate) fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = lr;
    }

    pub(crate) fn set_last_step_size(&mut self, step: f64) {
        self.last_step_size = step;
    }

    /// Sizes every buffer for `n` parameters and the given solver / sampling (the only
    /// allocations of a run), resets solver buffers owned by another solver, and invalidates
    /// the evaluation if the sampling changed. Called by [`crate::run`].
    pub(crate) fn prepare(
        &mut self,
        n: usize,
        solver: &'static str,
        n_buffers: usize,
        minibatch: Option<Minibatch>,
        n_samples: usize,
    ) {
        debug_assert_eq!(self.params.len(), n);
        if self.gradient.len() != n {
            self.gradient = vec![0.0; n];
            self.evaluated = false;
        }
        for v in [
            &mut self.riesz,
            &mut self.candidate,
            &mut self.candidate_gradient,
        ] {
            if v.len() != n {
                *v = vec![0.0; n];
            }
        }
        let b = &mut self.buffers;
        if b.owner.as_deref() != Some(solver)
            || b.vectors.len() != n_buffers
            || b.vectors.iter().any(|v| v.len() != n)
        {
            b.owner = Some(Cow::Borrowed(solver));
            b.vectors = vec![vec![0.0; n]; n_buffers];
            b.steps = 0;
        }
        let s = &mut self.sampler;
        if s.config != minibatch || s.n_samples != n_samples {
            s.config = minibatch;
            s.n_samples = n_samples;
            s.perm = if minibatch.is_some() {
                vec![0; n_samples]
            } else {
                Vec::new()
            };
            s.perm_epoch = None;
            self.evaluated = false;
        }
        if minibatch.is_some() && s.perm.len() != n_samples {
            // a state restored from bytes carries the sampler's position, not its buffer
            s.perm = vec![0; n_samples];
            s.perm_epoch = None;
        }
        if self.evaluated {
            self.sampler.ensure_perm(self.epoch);
        }
    }

    /// Evaluates at `θ_k` (first batch of the current epoch for stochastic solvers).
    pub(crate) fn evaluate_current(
        &mut self,
        problem: &mut dyn Problem,
        metric: &Metric,
    ) -> Result<(), OptimError> {
        let pos = self.sampler.first(self.epoch);
        self.sampler.ensure_perm(pos.epoch);
        let loss = evaluate(
            problem,
            &self.params,
            &mut self.gradient,
            self.sampler.indices(pos),
        )
        .map_err(|source| OptimError::Problem {
            iteration: self.iteration,
            source,
        })?;
        self.evaluations += 1;
        if let Some(non_finite) = first_non_finite(loss, &self.params, &self.gradient) {
            return Err(OptimError::NonFiniteStart {
                iteration: self.iteration,
                loss,
                non_finite,
            });
        }
        self.loss = loss;
        self.sampler.batch = (pos.start, pos.end);
        self.evaluated = true;
        self.update_riesz(metric);
        Ok(())
    }

    /// Recomputes `G` and `‖G‖²_M` from the gradient (after a metric change).
    pub(crate) fn update_riesz(&mut self, metric: &Metric) {
        self.grad_norm_sq = metric.riesz_into(&self.gradient, &mut self.riesz);
    }
}

/// What a solver may read and write during one step (see [`StepContext::view`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct StepView<'a> {
    /// `θ_k` (read-only: the state keeps it until a candidate is accepted).
    pub params: &'a [f64],
    /// Euclidean gradient at `θ_k`.
    pub gradient: &'a [f64],
    /// Riesz gradient `G` at `θ_k`.
    pub riesz_gradient: &'a [f64],
    /// `‖G‖²_M` at `θ_k`.
    pub grad_norm_sq: f64,
    /// `L(θ_k)`.
    pub loss: f64,
    /// Where the solver writes the next parameters (its content on entry is unspecified).
    pub candidate: &'a mut [f64],
    /// The solver's vectors, as many as [`crate::Solver::n_buffers`], zero at the first step.
    pub buffers: &'a mut [Vec<f64>],
    /// The solver's own step counter (0 at the first step; the solver increments it).
    pub solver_steps: &'a mut u64,
}

/// The outcome of evaluating the loss at the candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    /// The loss at the candidate.
    pub loss: f64,
    /// `Some` if the loss, gradient or candidate was not finite.
    pub non_finite: Option<NonFinite>,
}

/// The problem, state and metric of one step, with the operations a solver needs:
/// write a candidate ([`StepContext::view`]), evaluate it ([`StepContext::evaluate_candidate`]),
/// accept it ([`StepContext::accept`]); [`StepContext::commit_candidate`] does the last two
/// and turns a non-finite candidate into [`OptimError::Diverged`].
pub struct StepContext<'a> {
    problem: &'a mut dyn Problem,
    state: &'a mut State,
    metric: &'a Metric,
    pending: Option<(f64, Position)>,
}

impl<'a> StepContext<'a> {
    pub(crate) fn new(
        problem: &'a mut dyn Problem,
        state: &'a mut State,
        metric: &'a Metric,
    ) -> Self {
        Self {
            problem,
            state,
            metric,
            pending: None,
        }
    }

    /// The state at `θ_k`.
    pub fn state(&self) -> &State {
        self.state
    }

    /// The metric of the run.
    pub fn metric(&self) -> &Metric {
        self.metric
    }

    /// Read access to `θ_k` and its gradients, write access to the candidate and the solver
    /// buffers. Invalidates any earlier evaluation of the candidate.
    pub fn view(&mut self) -> StepView<'_> {
        self.pending = None;
        let s = &mut *self.state;
        StepView {
            params: &s.params,
            gradient: &s.gradient,
            riesz_gradient: &s.riesz,
            grad_norm_sq: s.grad_norm_sq,
            loss: s.loss,
            candidate: &mut s.candidate,
            buffers: &mut s.buffers.vectors,
            solver_steps: &mut s.buffers.steps,
        }
    }

    /// Evaluates loss and gradient at the candidate, on the batch of iterate `k + 1`
    /// (full batch for full-batch solvers). Counts one evaluation; does not move the state.
    ///
    /// # Errors
    /// [`OptimError::Problem`] if the problem fails.
    pub fn evaluate_candidate(&mut self) -> Result<Trial, OptimError> {
        let s = &mut *self.state;
        let pos = s.sampler.next(s.epoch);
        s.sampler.ensure_perm(pos.epoch);
        let loss = evaluate(
            self.problem,
            &s.candidate,
            &mut s.candidate_gradient,
            s.sampler.indices(pos),
        )
        .map_err(|source| OptimError::Problem {
            iteration: s.iteration + 1,
            source,
        })?;
        s.evaluations += 1;
        let non_finite = first_non_finite(loss, &s.candidate, &s.candidate_gradient);
        self.pending = if non_finite.is_none() {
            Some((loss, pos))
        } else {
            None
        };
        Ok(Trial { loss, non_finite })
    }

    /// Moves the state to the (finite, just evaluated) candidate: `θ_{k+1}`, its loss and
    /// gradients, `k ← k + 1`, epoch and batch advanced.
    ///
    /// # Panics
    /// If the candidate was not evaluated since the last [`StepContext::view`], or its
    /// evaluation was not finite.
    pub fn accept(&mut self) {
        let (loss, pos) = self
            .pending
            .take()
            .expect("StepContext::accept: no finite evaluation of the current candidate");
        let s = &mut *self.state;
        std::mem::swap(&mut s.params, &mut s.candidate);
        std::mem::swap(&mut s.gradient, &mut s.candidate_gradient);
        s.loss = loss;
        s.iteration += 1;
        s.epoch = pos.epoch;
        s.sampler.batch = (pos.start, pos.end);
        s.evaluated = true;
        s.update_riesz(self.metric);
    }

    /// Evaluates the candidate and accepts it if finite; returns its loss.
    ///
    /// # Errors
    /// [`OptimError::Diverged`] (holding `θ_k` and `L(θ_k)`, the last finite iterate) if the
    /// candidate's loss, gradient or parameters are not finite; [`OptimError::Problem`].
    pub fn commit_candidate(&mut self) -> Result<f64, OptimError> {
        let trial = self.evaluate_candidate()?;
        if let Some(non_finite) = trial.non_finite {
            return Err(OptimError::Diverged {
                iteration: self.state.iteration + 1,
                loss: trial.loss,
                non_finite,
                last_finite_params: self.state.params.clone(),
                last_finite_loss: self.state.loss,
            });
        }
        self.accept();
        Ok(trial.loss)
    }
}

impl std::fmt::Debug for StepContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepContext")
            .field("state", &self.state)
            .field("metric", &self.metric)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}
