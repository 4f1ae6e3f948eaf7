"""Trainer: batch, online and mini-batch gradient descent, full-batch methods.

Pieces, each in one place:
- the optimiser (``pynn.optimizers``: hyper-parameters, state, kernel code);
- the epoch runner (``_EpochRunner``): the compiled loop
  ``pynn._train.run_batches`` — one nogil call per epoch when silent (a
  whole epoch of online SGD without Python per sample), or a few calls per
  epoch when a progress bar is shown;
- evaluation on validation data (``pynn._train.evaluate``);
- stopping rules (``pynn.stopping``) and schedules (``pynn.schedules``),
  small objects with ``state()``/``load_state()`` that checkpoints save;
- checkpoints (``_checkpoint_meta`` / ``_read_checkpoint``).

Optimisers with their own minimiser (L-BFGS through SciPy) are driven over
the seam ``pynn._train.gradient`` (the weighted mean gradient of the whole
training set); every other optimiser steps inside the compiled loop.
"""
import copy
import math
import numbers
import os
import time

import numpy as np

from pynn import _train, distributed
from pynn._threads import limit_blas_threads, pool_threads
from pynn._validation import (all_finite, check_positive, check_seed,
                              check_targets, check_X)
from pynn.exceptions import DivergenceError
from pynn.history import History
from pynn.losses import check_training_pair, get_loss
from pynn.model import Model
from pynn.optimizers import get_optimizer
from pynn.progress import ProgressBar
from pynn.schedules import Constant, make_schedule
from pynn.stopping import (Callbacks, EarlyStopping, GradientNorm,
                           StopTraining, Tolerance, check_best_params)

__all__ = ["Trainer", "StopTraining"]

CHECKPOINT_FORMAT = "pynn-checkpoint"

#: An epoch whose mean training loss L exceeds
#: ``DIVERGENCE_FACTOR · max(L₀, 1)`` counts as diverged, as a NaN or
#: infinite loss does: L₀ is the untrained model's mean loss on the first
#: ``DIVERGENCE_ROWS`` training rows, measured when the fit starts.  A loss a
#: million times its starting value (and above one million when it starts
#: below 1) has run away: sgd at lr 1e6 on digits reaches ~5e19 while finite.
DIVERGENCE_FACTOR = 1e6
DIVERGENCE_ROWS = 256

#: Short epochs run several to a compiled call (``Trainer._epochs_per_call``)
#: when nothing needs the interpreter between them: as many as last about
#: ``CALL_SECONDS`` together (so Ctrl-C is seen within about that long), at
#: most ``MAX_EPOCHS_PER_CALL``, and at most ``MAX_ORDER`` samples in all
#: (the call's shuffle orders).
CALL_SECONDS = 0.05
MAX_EPOCHS_PER_CALL = 4096
MAX_ORDER = 1 << 20


class _Default:
    """The default batch size: 32, or None (full batch) for optimisers that
    are full-batch methods (``optimizer.full_batch``)."""

    def __repr__(self):
        return "32"


DEFAULT_BATCH = _Default()


class Trainer:
    """Fit a ``Model`` by gradient descent.

    Parameters
    ----------
    model : pynn.Model
    loss : str
        "squared_error", "binary_cross_entropy", "multilabel_cross_entropy"
        or "cross_entropy" (targets: class indices or one-hot rows).
    optimizer : str or pynn.optimizers.Optimizer
        A name from ``pynn.optimizers.OPTIMIZERS`` ("sgd" is the plain update
        W ← W − η ∇W; the module's table lists every optimiser and its
        update), or an instance such as ``pynn.optimizers.Adam(lr=1e-3,
        beta2=0.99)``, whose own hyper-parameters then apply.
    lr : float or None
        Initial learning rate η₀ (what the optimiser's ``lr`` means); None
        means the optimiser instance's lr, or 0.01 with a name.
    batch_size : int or None
        None: full-batch gradient descent (one step per epoch); 1: online
        SGD (one step per sample); k: mini-batches of k (the last, partial
        batch uses its own mean).  Default 32, or None for full-batch
        optimisers (``optimizer.full_batch``).
    epochs : int
        Maximum number of epochs (iterations of an external minimiser).
    shuffle : bool
        Visit the samples in a new random order every epoch (from ``seed``);
        False visits them in the given order.
    seed : int or None
        Seeds shuffling, dropout masks and the validation split: the same
        seed, data and arguments give bit-identical parameters.
    momentum : float
        μ for "momentum" and "nesterov" given by name (default 0.9).
    beta1, beta2, eps : float
        Adam's parameters when given by name (0.9, 0.999, 1e-8).
    l2 : float
        L2 penalty λ: the objective gains λ/2 ‖W‖² over the weight matrices
        (not the biases), its gradient λW; the reported loss is the data
        loss alone.
    clip_norm : float or None
        Rescale each step's gradient so its global norm is at most this.
    lr_schedule : str or pynn.schedules.Schedule
        "constant", "inverse_scaling", "step", "exponential" or "plateau";
        ``schedule_params`` (a dict) are passed to it (e.g. {"factor": 0.5}).
    tol, n_iter_no_change : float, int
        Stop when |L_{k+1} − L_k| < tol for ``n_iter_no_change`` consecutive
        epochs (disabled when tol is None).
    grad_tol : float or None
        Stop when the norm of the full-batch gradient falls below it
        (costs one extra pass over the data per epoch).
    early_stopping : bool
        Monitor the validation loss (``validation_data`` or a held-out
        ``validation_fraction`` of the training data); stop after
        ``patience`` epochs without an improvement of ``min_delta`` and
        restore the best weights.
    callbacks : list of callables
        ``callback(epoch, logs, trainer)`` after every epoch; returning True
        or raising ``StopTraining`` stops training.
    verbose : int
        0 silent (default); 1 a progress bar per epoch on stderr.
    n_threads : int or None
        pynn's threads during fit (None: the CPUs this process may use,
        counting its affinity mask and cgroup quota).  A batch is split
        into chunks of at least ``pynn._train.CHUNK_FLOPS`` operations whose
        boundaries depend only on the batch size and the architecture (the
        forward and delta passes), then the weight gradient is formed over
        the whole batch in blocks fixed by the architecture, so the
        parameters are bit-identical for any n_threads.  Batches of one chunk (small nets,
        online learning) run on one thread.  The BLAS runs single-threaded
        throughout.
    checkpoint_path, checkpoint_every : str, int
        Save a checkpoint (model, optimiser state, RNG state, history,
        stopping-rule state) every k epochs (every epoch when only the path
        is given); ``fit(..., resume_from=path)`` continues from one with
        bit-identical results.
    comm : mpi4py communicator or None
        Train data-parallel over the ranks of ``comm`` (e.g.
        ``MPI.COMM_WORLD``; see ``pynn.distributed``): each rank passes its
        own shard of the data to ``fit`` (``pynn.distributed.shard``), the
        parameters start from rank 0's, and every step follows the gradient
        mean over the whole global batch, so training equals one process
        on the concatenated shards up to rounding.  Histories are global;
        rank 0 writes the checkpoints and its callbacks' decision to stop
        holds on all ranks.  A failure on one rank raises
        ``pynn.distributed.DistributedError`` on every rank.
    """

    def __init__(self, model, loss="squared_error", optimizer="sgd", lr=None,
                 batch_size=DEFAULT_BATCH, epochs=10, shuffle=True, seed=None,
                 momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0,
                 clip_norm=None, lr_schedule="constant", schedule_params=None,
                 tol=None, n_iter_no_change=10, grad_tol=None,
                 early_stopping=False, validation_fraction=0.1, patience=10,
                 min_delta=0.0, callbacks=None, verbose=0, n_threads=None,
                 checkpoint_path=None, checkpoint_every=None, comm=None):
        if not isinstance(model, Model):
            raise TypeError(f"model must be a pynn.Model, got {type(model).__name__}")
        self.model = model
        self.loss = get_loss(loss).name
        check_training_pair(get_loss(loss), model.layers[-1].activation,
                            model.n_outputs)
        if lr is not None:
            check_positive(lr, "lr")
        if isinstance(optimizer, str):
            lr = 0.01 if lr is None else lr
        self.optimizer = get_optimizer(optimizer, lr, momentum=momentum,
                                       beta1=beta1, beta2=beta2, eps=eps)
        self.lr = self.optimizer.lr
        self.batch_size = self._check_batch_size(batch_size)
        self.epochs = check_positive(epochs, "epochs", integer=True, allow_zero=True)
        self.shuffle = bool(shuffle)
        self.seed = check_seed(seed)
        for name, value in (("momentum", momentum), ("beta1", beta1),
                            ("beta2", beta2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        self.momentum, self.beta1, self.beta2 = float(momentum), float(beta1), float(beta2)
        self.eps = check_positive(eps, "eps")
        self.l2 = check_positive(l2, "l2", allow_zero=True)
        self.clip_norm = None if clip_norm is None else check_positive(clip_norm, "clip_norm")
        if schedule_params is not None and not isinstance(schedule_params, dict):
            raise TypeError("schedule_params must be a dict of the schedule's "
                            f"parameters, got {type(schedule_params).__name__}")
        # Validated here; a fresh copy runs each fit (see _start).
        self.schedule = make_schedule(lr_schedule, self.lr, **(schedule_params or {}))
        self.tol = None if tol is None else check_positive(tol, "tol", allow_zero=True)
        self.n_iter_no_change = check_positive(n_iter_no_change, "n_iter_no_change",
                                               integer=True)
        self.grad_tol = None if grad_tol is None else check_positive(grad_tol, "grad_tol")
        self.early_stopping = bool(early_stopping)
        if isinstance(validation_fraction, bool) or not isinstance(
                validation_fraction, numbers.Real) or not 0 <= validation_fraction < 1:
            raise ValueError("validation_fraction must be a number in [0, 1), "
                             f"got {validation_fraction!r}")
        self.validation_fraction = float(validation_fraction)
        self.patience = check_positive(patience, "patience", integer=True)
        self.min_delta = check_positive(min_delta, "min_delta", allow_zero=True)
        self.callbacks = self._check_callbacks(callbacks)
        if isinstance(verbose, bool):
            verbose = int(verbose)
        if not isinstance(verbose, numbers.Integral) or verbose < 0:
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        self.verbose = int(verbose)
        self.n_threads = None if n_threads is None else check_positive(
            n_threads, "n_threads", integer=True)
        self.checkpoint_path, self.checkpoint_every = self._check_checkpoint(
            checkpoint_path, checkpoint_every)
        self.comm = comm
        self._group = distributed.make_group(comm)
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------ checks
    def _check_batch_size(self, batch_size):
        full = self.optimizer.full_batch
        if batch_size is DEFAULT_BATCH:
            return None if full else 32
        if batch_size is not None:
            check_positive(batch_size, "batch_size", integer=True)
            if full:
                raise ValueError(
                    f"optimizer {self.optimizer.name!r} is a full-batch method:"
                    f" use batch_size=None, got {batch_size!r}")
        return batch_size

    @staticmethod
    def _check_callbacks(callbacks):
        if callable(callbacks):
            callbacks = [callbacks]
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of callables, got {callbacks!r}")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables, got {cb!r}")
        return callbacks

    @staticmethod
    def _check_checkpoint(path, every):
        if every is not None:
            check_positive(every, "checkpoint_every", integer=True)
            if path is None:
                raise ValueError("checkpoint_every needs a checkpoint_path")
        if path is not None:
            folder = os.path.dirname(os.path.abspath(os.fspath(path)))
            if not os.path.isdir(folder):
                raise ValueError(f"checkpoint_path {path!r}: the "
                                 f"folder {folder!r} does not exist")
            every = every or 1
        return path, every

    # ------------------------------------------------------------ data
    def _targets(self, y, n, name="y"):
        spec = get_loss(self.loss)
        return check_targets(y, n, self.model.n_outputs, self.model.dtype,
                             name=name, class_indices=spec.class_indices,
                             unit_interval=spec.probabilistic)

    def _sample_weight(self, sample_weight, n):
        if sample_weight is None:
            return None
        from pynn._validation import check_sample_weight
        if self.model._layout.has_penalty:
            raise ValueError("sample_weight cannot be combined with activity "
                             "penalties (KLSparsity, L1Activity): their batch "
                             "statistics are not per sample")
        return check_sample_weight(sample_weight, n, self.model.dtype)

    def _prepare_data(self, X, y, sw, validation_data, split_rng, counts=None):
        # X was checked by fit (check_X): a C-contiguous finite array.
        # split_rng: a function returning the validation split's Generator.
        # counts: every rank's number of samples (distributed fits).
        T = self._targets(y, X.shape[0])
        Xv = Tv = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list))
                    and len(validation_data) == 2):
                raise ValueError("validation_data must be a pair (X_val, y_val)")
            Xv = check_X(validation_data[0], self.model.n_inputs,
                         self.model.dtype, name="validation_data[0]",
                         allow_empty=False)
            Tv = self._targets(validation_data[1], Xv.shape[0],
                               name="validation_data[1]")
        elif self.early_stopping and counts is not None:
            X, T, sw, Xv, Tv = distributed.split_validation(
                self.validation_fraction, counts, self._group.rank, split_rng(),
                X, T, sw)
        elif self.early_stopping:
            n_val = int(math.ceil(self.validation_fraction * X.shape[0]))
            if n_val < 1 or n_val >= X.shape[0]:
                raise ValueError(
                    "early_stopping needs validation_data or a "
                    "validation_fraction that leaves samples on both sides "
                    f"(got {self.validation_fraction} of {X.shape[0]})")
            perm = split_rng().permutation(X.shape[0])
            train = np.sort(perm[n_val:])
            Xv, Tv = X[perm[:n_val]], T[perm[:n_val]]
            X, T = X[train], T[train]
            sw = None if sw is None else np.ascontiguousarray(sw[train])
        return X, T, sw, Xv, Tv

    # ------------------------------------------------------------ fit
    def fit(self, X, y, validation_data=None, resume_from=None,
            sample_weight=None):
        """Train the model; returns the History (also ``trainer.history``).

        Parameters
        ----------
        X : array-like (n_samples, n_inputs)
        y : array-like
            Targets (n_samples, n_outputs); (n_samples,) for one output or
            class indices with "cross_entropy".
        validation_data : (X_val, y_val), optional
        resume_from : str, optional
            A checkpoint written by this trainer's configuration; training
            continues after its epoch.
        sample_weight : array-like (n_samples,), optional
            Non-negative weights w_i: each batch's loss and gradient become
            Σ_i w_i L_i / Σ_i w_i and Σ_i w_i ∇L_i / Σ_i w_i (scikit-learn's
            semantics), so integer weights equal repeating samples and a
            zero weight removes one; a batch whose weights are all 0 takes
            no step.  The history's training loss is Σ w_i L_i / Σ w_i over
            the epoch; accuracy and validation metrics are unweighted.

        Notes
        -----
        Never modifies X or y.  On Ctrl-C (KeyboardInterrupt) between
        compiled calls fit returns the History so far with
        ``history.interrupted = True``; the model holds the weights after the
        last completed call, whose epochs (one, or up to ``CALL_SECONDS`` of
        short epochs run together) the History may lack.
        A non-finite loss raises ``DivergenceError`` and leaves the weights
        of the last epoch that ended finite.
        """
        if self._group is not None:
            return self._fit_distributed(X, y, validation_data, resume_from,
                                         sample_weight)
        X_check = check_X(X, self.model.n_inputs, self.model.dtype,
                          allow_empty=False)
        sw = self._sample_weight(sample_weight, X_check.shape[0])
        with limit_blas_threads(1):
            return self._fit(X_check, y, sw, validation_data, resume_from)

    def _fit_distributed(self, X, y, validation_data, resume_from,
                         sample_weight):
        """``fit`` on every rank of ``comm`` with its own shard: the inputs
        are checked on each rank and any rank's error raised on all."""
        group = self._group
        distributed.check_same(group, "model or trainer configuration", repr(
            (self.model.architecture(), self._config())))

        def check():
            Xc = check_X(X, self.model.n_inputs, self.model.dtype,
                         name=f"X (rank {group.rank})")
            return Xc, self._sample_weight(sample_weight, Xc.shape[0])

        X_check, sw = group.agree(check)
        with limit_blas_threads(1), group.sigint_guard():
            return self._fit(X_check, y, sw, validation_data, resume_from)

    def partial_fit(self, X, y, sample_weight=None):
        """One more epoch over (X, y), continuing what earlier calls built.

        The first call (or the first after ``fit``) starts the optimiser
        state, the RNG, the schedule and a History; each further call trains
        one epoch on its own data with that state carried on (as
        scikit-learn's ``partial_fit``: Adam's moments, momentum and the
        step count persist).  Validation, early stopping and ``epochs`` do
        not apply; stopping rules are not asked.  Returns the History.
        """
        if self.optimizer.external:
            raise ValueError(f"optimizer {self.optimizer.name!r} minimises "
                             "over the whole training set: use fit")
        if self._group is not None:
            raise ValueError("partial_fit does not train over MPI (comm): "
                             "use fit")
        X = check_X(X, self.model.n_inputs, self.model.dtype, allow_empty=False)
        sw = self._sample_weight(sample_weight, X.shape[0])
        with limit_blas_threads(1):
            run = getattr(self, "_partial", None)
            if run is None or run.history is not self.history or \
                    not self.optimizer.initialized_for(self.model.n_params,
                                                       self.model.dtype):
                run = self._partial = self._start(X, y, sw, None, None,
                                                  split=False)
            else:
                T = self._targets(y, X.shape[0])
                run.X, run.T, run.sw = X, T, sw
                self._full_batch = (X, T, sw)
                run.runner = self._runner(X, T, sw)
            record = run.runner.epoch(run, self._schedule.lr(run.epoch))
            run.history.append(record)
            run.epoch += 1
            self._schedule.update(record["loss"])
        return run.history

    def _fit(self, X, y, sw, validation_data, resume_from):
        run = self._start(X, y, sw, validation_data, resume_from)
        history = run.history
        try:
            if self.optimizer.external:
                self._fit_external(run)
            else:
                while run.epoch < self.epochs:
                    lr, k = self._schedule.lr(run.epoch), self._epochs_per_call(run)
                    if k == 1:
                        if self._end_epoch(run, run.runner.epoch(run, lr)):
                            break
                        continue
                    columns, done, diverged = run.runner.epochs(run, k, lr)
                    run.history.extend_columns(columns)  # all _end_epoch
                    run.epoch += done           # would do (_epochs_per_call)
                    if diverged is not None:
                        diverged()
        except KeyboardInterrupt:
            history.interrupted = True
            history.stopped_reason = "interrupted"
        if self.early_stopping:
            run.rules["early"].restore(self.model, history)
        return history

    def _start(self, X, y, sw, validation_data, resume_from, split=True):
        """Everything a fit needs, built once: data, RNG, optimiser state,
        history, schedule and stopping rules (from a checkpoint if given).
        ``split=False`` keeps all of X for training (partial_fit)."""
        model, group = self.model, self._group
        seed = self.seed
        if group is not None and seed is None:   # one random seed for all ranks
            seed = group.comm.bcast(np.random.SeedSequence().entropy
                                    if group.root else None, root=0)
        seeds = _Seeds(seed)
        if split and group is not None:
            counts = group.counts(X.shape[0])
            X, T, sw, Xv, Tv = group.agree(lambda: self._prepare_data(
                X, y, sw, validation_data, seeds.generator(0), counts))
        elif split:
            X, T, sw, Xv, Tv = self._prepare_data(
                X, y, sw, validation_data, seeds.generator(0))
        else:
            T, Xv, Tv = self._targets(y, X.shape[0]), None, None
        run = _Run(X, T, sw, Xv, Tv, seeds)
        self.history = run.history
        self._schedule = copy.deepcopy(self.schedule)   # fresh state per fit
        run.rules = self._make_rules()
        if not self.optimizer.external:
            self.optimizer.init(model.n_params, model.dtype)
        if resume_from is not None:
            if group is None:
                self._resume(resume_from, run)
            else:
                group.agree(lambda: self._resume(resume_from, run))
        if group is not None:
            group.bcast_array(model.params)
        if not self.optimizer.external:
            run.loss_ceiling = self._loss_ceiling(X, T)
        self.stop_training = False
        run.history.stopped_reason = "max_epochs"
        self._full_batch = (X, T, sw)
        if not self.optimizer.external:
            run.runner = self._runner(X, T, sw)
        run.evaluator = _Evaluator(self, Xv, Tv, X.shape[0], group)
        return run

    def _runner(self, X, T, sw):
        if self._group is None:
            return _EpochRunner(self, X, T, sw)
        return distributed.Runner(self, X, T, sw, self._group)

    def _epochs_per_call(self, run):
        """How many epochs the next compiled call trains: 1, unless nothing
        runs between epochs (no progress bar, validation, callbacks,
        checkpoints, stopping rules, dropout or noise, or MPI; a constant
        rate) and the last epoch was short: then as many as fill about
        ``CALL_SECONDS``.  The results are the same either way."""
        runner = run.runner
        if (self._group is not None or runner.epoch_seconds is None
                or self.verbose or self.callbacks or self.checkpoint_every
                or run.rules or runner.stochastic
                or run.evaluator.Xv is not None
                or type(self._schedule) is not Constant):
            return 1
        k = int(CALL_SECONDS / max(runner.epoch_seconds, 1e-9))
        return max(1, min(k, MAX_EPOCHS_PER_CALL, MAX_ORDER // runner.n,
                          self.epochs - run.epoch))

    def _make_rules(self):
        rules = {}
        if self.tol is not None:
            rules["tol"] = Tolerance(self.tol, self.n_iter_no_change)
        if self.grad_tol is not None:
            rules["grad"] = GradientNorm(self.grad_tol)
        if self.early_stopping:
            rules["early"] = EarlyStopping(self.patience, self.min_delta)
        return rules

    def _end_epoch(self, run, record):
        """Evaluate, record, then ask schedules and stopping rules; True
        stops.  The checkpoint is written after the rules, before the
        callbacks (so a resumed fit replays the callbacks' epoch)."""
        run.evaluator.add_to(record)
        run.history.append(record)
        epoch = run.epoch
        run.epoch += 1
        monitored = record.get("val_loss", record["loss"])
        self._schedule.update(monitored)
        reason = None
        for rule in run.rules.values():
            if rule.update(epoch, record, self):
                reason = rule.reason
        if self._group is None:
            stop = self._checkpoint_and_callbacks(run, epoch, record)
        else:   # rank 0 decides; an error on any rank stops all
            stop = self.stop_training = self._group.agree(
                lambda: self._checkpoint_and_callbacks(run, epoch, record),
                share=True)
        if stop and reason is None:
            reason = Callbacks.reason
        if reason is not None:
            run.history.stopped_reason = reason
            return True
        return False

    def _checkpoint_and_callbacks(self, run, epoch, record):
        """The checkpoint (on rank 0 only when distributed), then the
        callbacks; True when a callback stops training."""
        if self.checkpoint_every and run.epoch % self.checkpoint_every == 0 \
                and (self._group is None or self._group.root):
            self.save_checkpoint(self.checkpoint_path, run)
        return Callbacks(self.callbacks).update(epoch, record, self)

    def _loss_ceiling(self, X, T):
        """``DIVERGENCE_FACTOR · max(L₀, 1)`` (the same on every rank)."""
        rows = min(X.shape[0], DIVERGENCE_ROWS)
        start = 0.0
        if rows:
            model = self.model
            work = np.empty(model._layout.workspace_size(rows), model.dtype)
            total = _train.evaluate(model._layout, model.params, X[:rows],
                                    T[:rows], get_loss(self.loss).code, 0,
                                    rows, work)[0]
            start = total / rows if math.isfinite(total) else 0.0
        if self._group is not None:
            start = max(self._group.comm.allgather(start))
        return DIVERGENCE_FACTOR * max(start, 1.0)

    def _check_epoch(self, run, loss, snapshot):
        """Raise DivergenceError (weights restored) when the epoch's loss is
        not finite, exceeds the run's ceiling, or a parameter is not
        finite."""
        if not (math.isfinite(loss) and loss <= run.loss_ceiling
                and all_finite(self.model.params)):
            self._diverged(run, snapshot, runaway=math.isfinite(loss))

    def _diverged(self, run, snapshot, runaway=False):
        """Restore the weights of the last epoch that ended finite, raise."""
        self.model.params[...] = snapshot
        run.history.stopped_reason = "diverged"
        what = (f"the loss grew past {run.loss_ceiling:.3g} (DIVERGENCE_FACTOR "
                "times its starting value)" if runaway else
                "the loss or a parameter became NaN or infinite")
        raise DivergenceError(
            f"training diverged in epoch {run.epoch + 1}: {what}. "
            "The model keeps the weights of "
            "the last finite epoch. Try a lower learning rate (lr), gradient "
            "clipping (clip_norm) or scaled inputs (e.g. standardised "
            "features).", run.history)

    def _snapshot_of(self, params):
        """A copy of ``params`` (the weights to return to on divergence) in
        a buffer reused from epoch to epoch and fit to fit."""
        buf = getattr(self, "_snapshot_buf", None)
        if buf is None or buf.shape != params.shape or buf.dtype != params.dtype:
            buf = self._snapshot_buf = np.empty_like(params)
        np.copyto(buf, params)
        return buf

    # ------------------------------------------------------------ full batch
    def _objective(self, params=None):
        """(objective, gradient into model.grads) over the training set:
        Σ w_i L_i / Σ w_i + λ/2 ‖W‖² — the seam's gradient pass."""
        model = self.model
        X, T, sw = self._full_batch
        if self._group is not None:
            return distributed.objective(self, self._group, X, T, sw, params)
        if params is not None:
            model.params[...] = params
        work = model._workspace(X.shape[0])
        total, wsum = _train.gradient(model._layout, model.params, model.grads,
                                      X, T, get_loss(self.loss).code, self.l2,
                                      work, sw, n_threads=self._threads(),
                                      scratch=model._scratch())
        value = total / wsum if wsum else 0.0
        if self.l2:
            value += self.l2 * _train.l2_penalty(model._layout, model.params)
        return value

    def _full_gradient_norm(self):
        """‖∇ objective‖ over the whole training set (mean loss + λ/2 ‖W‖²);
        leaves params unchanged and grads holding that gradient."""
        self._objective()
        return float(np.linalg.norm(self.model.grads.astype(np.float64)))

    def _fit_external(self, run):
        """An optimiser that runs its own minimiser (L-BFGS through SciPy)
        over the flat parameters: ``optimizer.minimize(fun, x0, max_iter,
        callback)``.  One history entry per iteration, stopping rules and
        callbacks asked after each."""
        model, opt = self.model, self.optimizer
        dtype = model.dtype

        def fun(x):
            value = self._objective(x.astype(dtype, copy=False))
            return value, model.grads.astype(np.float64)

        t0 = [time.perf_counter()]

        def each(x, value):
            model.params[...] = x.astype(dtype, copy=False)
            penalty = self.l2 * _train.l2_penalty(model._layout, model.params) \
                if self.l2 else 0.0
            record = {"loss": value - penalty, "lr": 1.0,
                      "accuracy": None, "time": time.perf_counter() - t0[0]}
            run.evaluator.add_accuracy(record, run)
            stop = self._end_epoch(run, record)
            t0[0] = time.perf_counter()
            return stop

        opt.t = 0
        if self.epochs == 0:
            return
        res = opt.minimize(fun, model.params.astype(np.float64),
                           max_iter=self.epochs, callback=each)
        model.params[...] = res.x.astype(dtype, copy=False)
        if run.history.stopped_reason == "max_epochs" and res.status == 0 \
                and run.epoch < self.epochs:
            run.history.stopped_reason = "tol"
        if not all_finite(model.params):
            raise DivergenceError("L-BFGS produced non-finite parameters",
                                  run.history)

    def _threads(self):
        """pynn's threads for this fit's passes (``n_threads`` resolved)."""
        return pool_threads(self.n_threads)

    # ------------------------------------------------------------ checkpoints
    def _config(self):
        cfg = {k: getattr(self, k) for k in (
            "loss", "lr", "batch_size", "epochs", "shuffle", "seed", "l2",
            "clip_norm")}
        cfg["optimizer"] = self.optimizer.name
        cfg["optimizer_config"] = self.optimizer.config()
        if self._group is not None:
            cfg["ranks"] = self._group.size
        return cfg

    def save_checkpoint(self, path, run):
        """Write model, optimiser state, RNG state, schedule and stopping
        state and history to ``path`` (atomically)."""
        from pynn import io
        arrays = {"params": self.model.params}
        opt_state = self.optimizer.state_dict()
        arrays.update({k: v for k, v in opt_state.items() if k != "t"})
        stopping = {}
        for rule in run.rules.values():
            arrays.update(rule.arrays())
            stopping.update(rule.state())
        meta = {"format": CHECKPOINT_FORMAT, "format_version": 1,
                "model": self.model.architecture(),
                "trainer": self._config(), "epoch": run.epoch,
                "step": opt_state["t"], "rng": run.rng.bit_generator.state,
                "schedule": self._schedule.state(), "stopping": stopping,
                "history": self.history.as_dict()}
        io.save_arrays(path, arrays, meta)

    def _resume(self, path, run):
        """Load a checkpoint into ``run`` after validating every field; on
        any error nothing (model, optimiser, history) has changed."""
        from pynn import io
        arrays, meta = io.load_arrays(path, CHECKPOINT_FORMAT)
        model, opt = self.model, self.optimizer
        try:
            state = _validated_checkpoint(self, arrays, meta, run)
        except (ValueError, TypeError, KeyError, AttributeError,
                OverflowError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        model.params[...] = state["params"]
        opt.state, opt.t = state["optimizer"].state, state["optimizer"].t
        run.rng = state["rng"]
        self._schedule = state["schedule"]
        run.rules = state["rules"]
        for k in History.KEYS:
            setattr(run.history, k, getattr(state["history"], k))
        run.epoch = state["epoch"]

    # ------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("_snapshot_buf", "_full_batch", "_partial"):
            state.pop(key, None)
        if state.get("comm") is not None:   # a communicator does not pickle
            state["comm"] = state["_group"] = None
        return state

    def __setstate__(self, state):
        state.setdefault("comm", None)
        state.setdefault("_group", None)
        self.__dict__.update(state)


class _Seeds:
    """The fit's two random streams, the validation split's (0) and the
    shuffles' and dropout masks' (1): ``default_rng`` of the children of
    ``SeedSequence(seed).spawn(2)``, built when first asked for (together
    about 70 µs, which a fit that neither splits nor shuffles nor draws
    masks, such as a ``partial_fit`` call, does not pay).  ``seed`` None
    draws fresh entropy then."""

    def __init__(self, seed):
        self.seed = seed
        self._children = None

    def generator(self, i):
        """A zero-argument function returning a new Generator of stream i."""
        def make():
            if self._children is None:
                self._children = np.random.SeedSequence(self.seed).spawn(2)
            return np.random.default_rng(self._children[i])
        return make


class _Run:
    """The mutable state of one fit.  ``rng`` (stream 1 of ``seeds``) is
    created on first use; resuming a checkpoint sets it."""

    def __init__(self, X, T, sw, Xv, Tv, seeds):
        self.X, self.T, self.sw, self.Xv, self.Tv = X, T, sw, Xv, Tv
        self._new_rng = seeds.generator(1)
        self._rng = None
        self.history = History()
        self.epoch = 0
        self.rules = {}
        self.runner = self.evaluator = None
        self.loss_ceiling = math.inf

    @property
    def rng(self):
        if self._rng is None:
            self._rng = self._new_rng()
        return self._rng

    @rng.setter
    def rng(self, value):
        self._rng = value


class _EpochRunner:
    """One training epoch through the compiled loop ``run_batches``.

    Owns the fit's buffers: the model's per-thread workspace (kept between
    calls, so a fit does not page-fault a fresh one in: ~1.5 ms at
    B = 1024) and the shuffle buffers, allocated once per fit.
    """

    def __init__(self, trainer, X, T, sw):
        model = trainer.model
        n = X.shape[0]
        self.trainer, self.model, self.n = trainer, model, n
        self.B = n if trainer.batch_size is None else min(trainer.batch_size, n)
        self.shuffling = trainer.shuffle and self.B < n
        self.data = _train.Batches(X, T, sw, self.B, self.shuffling)
        self.work = model._workspace(self.B)
        self.loss_code = get_loss(trainer.loss).code
        self.acc_kind = get_loss(trainer.loss).accuracy
        self.update = trainer.optimizer.kernel(trainer.l2, trainer.clip_norm)
        self.stochastic = model._layout.stochastic
        self.n_threads = trainer._threads()
        self.scratch = _train.Scratch()
        self.epoch_seconds = None       # the last epoch's time

    def epoch(self, run, lr):
        """Train one epoch at rate ``lr``; returns its history record."""
        trainer, model, n, B = self.trainer, self.model, self.n, self.B
        self._set_orders(run, 1)
        epoch_seed = int(run.rng.integers(2**63)) if self.stochastic else None
        snapshot = trainer._snapshot_of(model.params)
        t0 = time.perf_counter()
        bar = (ProgressBar(n, prefix=f"epoch {run.epoch + 1}/{trainer.epochs}")
               if trainer.verbose else None)
        total = wsum = correct = done = 0
        n_batches = -(-n // B)
        per_call = None if bar is None else 1   # batches per call
        b = 0
        while b < n_batches:
            b_end = n_batches if per_call is None else min(n_batches, b + per_call)
            tc = time.perf_counter()
            res = _train.run_batches(
                model._layout, model.params, model.grads, self.data, b * B,
                min(b_end * B, n), B, self.loss_code, self.acc_kind,
                self.update, lr, self.work, epoch_seed,
                n_threads=self.n_threads, scratch=self.scratch)
            trainer.optimizer.t = self.update.step
            call_loss, call_w, call_correct, call_done, status = res
            total += call_loss
            wsum += call_w
            correct += call_correct
            done += call_done
            if status:
                trainer._diverged(run, snapshot)
            if bar is not None:
                bar.update(done, total / max(wsum, 1e-300))
                # Size the next call to last ~0.1 s.
                dt = max(time.perf_counter() - tc, 1e-6)
                per_call = max(1, int((b_end - b) * 0.1 / dt))
            b = b_end
        loss = total / wsum if wsum else 0.0
        trainer._check_epoch(run, loss, snapshot)
        record = {"loss": loss, "lr": lr,
                  "accuracy": correct / n if self.acc_kind else None,
                  "time": time.perf_counter() - t0}
        if bar is not None:
            bar.close(_summary(record))
        self.epoch_seconds = record["time"]
        return record

    def _set_orders(self, run, k):
        """The visiting orders of the next k epochs (None in storage
        order): the rows of one ``Generator.permuted``, which draws as k
        calls of ``permutation(n)`` do, so one call per epoch and k epochs
        per call shuffle alike."""
        n = self.n
        self.data.set_order(run.rng.permuted(
            np.tile(np.arange(n, dtype=np.intp), (k, 1)), axis=1).reshape(-1)
            if self.shuffling else None)

    def epochs(self, run, k, lr):
        """Train k epochs at rate ``lr`` in one compiled call (the
        operations and random draws of k calls of ``epoch``).  Returns (columns, m, diverged): the
        History's columns of the m epochs that ended within bounds (each
        timed as the call's mean), and None or a function that raises
        DivergenceError for the next epoch (the weights restored to its
        start)."""
        trainer, model, n, B = self.trainer, self.model, self.n, self.B
        self._set_orders(run, k)
        snapshot = trainer._snapshot_of(model.params)
        sums = np.zeros((k, 3))
        t0 = time.perf_counter()
        res = _train.run_batches(
            model._layout, model.params, model.grads, self.data, 0, n, B,
            self.loss_code, self.acc_kind, self.update, lr, self.work, None,
            n_threads=self.n_threads, scratch=self.scratch, epochs=k,
            records=sums, snapshot=snapshot, ceiling=run.loss_ceiling)
        trainer.optimizer.t = self.update.step
        status, ended = res[4], res[3] // n     # epochs run to their end
        good = ended - (status == 2)
        seconds = (time.perf_counter() - t0) / max(ended, 1)
        self.epoch_seconds = seconds
        total, wsum, correct = sums[:ended].T
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(wsum != 0, total / wsum, 0.0).tolist()
        columns = {"loss": loss[:good], "lr": [lr] * good,
                   "time": [seconds] * good}
        if self.acc_kind:
            columns["accuracy"] = (correct[:good] / n).tolist()
        diverged = None
        if status == 1:
            diverged = lambda: trainer._diverged(run, snapshot)     # noqa: E731
        elif status == 2:
            diverged = lambda: trainer._check_epoch(     # noqa: E731
                run, loss[good], snapshot)
        return columns, good, diverged


class _Evaluator:
    """Loss and accuracy on held-out data, in chunks of a bounded size."""

    def __init__(self, trainer, Xv, Tv, n_train, group=None):
        model = trainer.model
        self.model, self.Xv, self.Tv = model, Xv, Tv
        self.group = group
        self.n_val = None if Xv is None else Xv.shape[0]
        self.n_train = n_train
        if group is not None:
            distributed.check_same(group, "validation setting (validation_data "
                                   "given or not)", repr(Xv is None))
            self.n_train = sum(group.counts(n_train))
            if Xv is not None:
                self.n_val = sum(group.counts(Xv.shape[0]))
        B = n_train if trainer.batch_size is None else min(trainer.batch_size,
                                                           n_train)
        self.chunk = min(max(B, 256), max(n_train, 0 if Xv is None else Xv.shape[0]))
        self.work = np.empty(model._layout.workspace_size(self.chunk), model.dtype)
        self.loss_code = get_loss(trainer.loss).code
        self.acc_kind = get_loss(trainer.loss).accuracy
        self.n_threads = trainer._threads()
        self.scratch = _train.Scratch()

    def _run(self, X, T):
        """(Σ L_i, correct), summed over the ranks when distributed."""
        def local():
            if not X.shape[0]:
                return 0.0, 0
            return _train.evaluate(self.model._layout, self.model.params, X,
                                   T, self.loss_code, self.acc_kind,
                                   self.chunk, self.work,
                                   n_threads=self.n_threads,
                                   scratch=self.scratch)
        if self.group is None:
            return local()
        def into(out):
            out[:] = local()
        total, correct = self.group.reduce(into, 2)
        return float(total), int(correct)

    def loss(self, X, T):
        return self._run(X, T)[0] / X.shape[0]

    def add_to(self, record):
        """Add val_loss / val_accuracy to an epoch's record."""
        if self.Xv is not None:
            total, correct = self._run(self.Xv, self.Tv)
            record["val_loss"] = total / self.n_val
            record["val_accuracy"] = (correct / self.n_val
                                      if self.acc_kind else None)

    def add_accuracy(self, record, run):
        """Training accuracy of the current weights (full-batch methods)."""
        if self.acc_kind:
            record["accuracy"] = self._run(run.X, run.T)[1] / self.n_train


def _summary(record):
    parts = [f"loss {record['loss']:.4f}"]
    for key in ("accuracy", "val_loss", "val_accuracy"):
        if record.get(key) is not None:
            parts.append(f"{key} {record[key]:.4f}")
    return "  ".join(parts)


def _validated_checkpoint(trainer, arrays, meta, run):
    """Every field of a checkpoint checked and converted; raises ValueError
    (or TypeError/KeyError, wrapped by the caller) naming the field."""
    model = trainer.model
    if meta.get("model") != model.architecture():
        raise ValueError("checkpoint is for another architecture")
    config = trainer._config()
    saved = meta.get("trainer")
    if not isinstance(saved, dict):
        raise ValueError("field 'trainer' must be a dict")
    diff = sorted(k for k in config if k != "epochs" and saved.get(k) != config[k])
    if diff:
        raise ValueError(f"checkpoint was written with other trainer settings "
                         f"({', '.join(diff)})")
    params = arrays.get("params")
    if params is None or params.shape != model.params.shape \
            or params.dtype != model.dtype:
        raise ValueError("params do not match the model")
    if not np.isfinite(params).all():
        raise ValueError("params hold NaN or infinity")
    opt = copy.copy(trainer.optimizer)
    step = meta.get("step")
    if not opt.external:
        opt.load_state_dict(dict(arrays, t=step), model.n_params, model.dtype)
    hist = meta.get("history")
    if not isinstance(hist, dict):
        raise ValueError("field 'history' must be a dict")
    history = History.from_dict(hist)
    epoch = meta.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) \
            or not 0 <= epoch <= 2**62 or epoch != len(history.loss):
        raise ValueError(f"field 'epoch' must be the number of recorded "
                         f"epochs ({len(history.loss)}), got {epoch!r}")
    lengths = {k: len(getattr(history, k)) for k in ("loss", "lr", "time")}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"history lists differ in length: {lengths}")
    rng = np.random.default_rng()
    rng.bit_generator.state = meta.get("rng")
    schedule = copy.deepcopy(trainer._schedule)
    sched_state = meta.get("schedule", {})
    if not isinstance(sched_state, dict):
        raise ValueError("field 'schedule' must be a dict")
    schedule.load_state(sched_state)
    stopping = meta.get("stopping", {})
    if not isinstance(stopping, dict):
        raise ValueError("field 'stopping' must be a dict")
    rules = trainer._make_rules()
    for rule in rules.values():
        rule.load_state(stopping)
        rule.load_arrays({"best_params": check_best_params(
            arrays, model.n_params, model.dtype, "checkpoint")})
    return {"params": params, "optimizer": opt, "rng": rng,
            "schedule": schedule, "rules": rules, "history": history,
            "epoch": int(epoch)}
