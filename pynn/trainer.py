"""Trainer: batch, online and mini-batch gradient descent (DESIGN.md §1, §3).

The epoch loop runs in ``pynn._train.run_batches`` (compiled, nogil): one
call per epoch when silent (a whole epoch of online SGD without Python per
sample), or a few calls per epoch when a progress bar is shown.  This module
validates, allocates the buffers once per fit, draws the sample orders,
applies schedules and stopping rules, records the History and writes
checkpoints.
"""
import copy
import math
import numbers
import os
import time

import numpy as np

from pynn import _train
from pynn._threads import limit_blas_threads, threads_for
from pynn._validation import (all_finite, check_positive, check_seed,
                              check_targets, check_X)
from pynn.exceptions import DivergenceError
from pynn.history import History
from pynn.losses import check_pair, get_loss
from pynn.model import Model
from pynn.progress import ProgressBar
from pynn.schedules import make_schedule

OPTIMIZERS = {
    "sgd": (_train.Optimizer.SGD, 0),        # (kernel code, state buffers)
    "momentum": (_train.Optimizer.MOMENTUM, 1),
    "nesterov": (_train.Optimizer.NESTEROV, 1),
    "adam": (_train.Optimizer.ADAM, 2),
}

ACCURACY = {
    "squared_error": _train.Accuracy.NO_ACCURACY,
    "cross_entropy": _train.Accuracy.ARGMAX,
    "binary_cross_entropy": _train.Accuracy.THRESHOLD,
    "multilabel_cross_entropy": _train.Accuracy.THRESHOLD,
}

CHECKPOINT_FORMAT = "pynn-checkpoint"


class StopTraining(Exception):
    """Raise from a callback to stop training after the current epoch."""


class Trainer:
    """Fit a ``Model`` by gradient descent.

    Parameters
    ----------
    model : pynn.Model
    loss : str
        "squared_error", "binary_cross_entropy", "multilabel_cross_entropy"
        or "cross_entropy" (targets: class indices or one-hot rows).
    optimizer : {"sgd", "momentum", "nesterov", "adam"}
        "sgd" is the plain update of the notes, W ← W − η ∇W.
    lr : float
        Initial learning rate η₀.
    batch_size : int or None
        None: full-batch gradient descent (one step per epoch); 1: online
        SGD (one step per sample); k: mini-batches of k (the last, partial
        batch uses its own mean).
    epochs : int
        Maximum number of epochs.
    shuffle : bool
        Visit the samples in a new random order every epoch (from ``seed``);
        False visits them in the given order.
    seed : int or None
        Seeds shuffling and the validation split: the same seed, data and
        arguments give bit-identical parameters.
    momentum : float
        μ for "momentum" and "nesterov" (default 0.9).
    beta1, beta2, eps : float
        Adam's parameters (0.9, 0.999, 1e-8).
    l2 : float
        L2 penalty λ: adds λW to the gradient of every weight matrix (not the
        biases); the reported loss is the data loss alone.
    clip_norm : float or None
        Rescale each step's gradient so its global norm is at most this.
    lr_schedule : str or pynn.schedules.Schedule
        "constant", "inverse_scaling", "step", "exponential" or "plateau";
        ``schedule_params`` are passed to it (e.g. {"factor": 0.5}).
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
        BLAS threads during fit; None picks 1 for small steps (fewer than
        ``pynn._threads.SINGLE_THREAD_FLOPS``) and leaves the BLAS default
        otherwise.
    checkpoint_path, checkpoint_every : str, int
        Save a checkpoint (model, optimiser state, RNG state, history) every
        k epochs (every epoch when only the path is given); ``fit(..., resume_from=path)`` continues from one with
        bit-identical results.
    """

    def __init__(self, model, loss="squared_error", optimizer="sgd", lr=0.01,
                 batch_size=32, epochs=10, shuffle=True, seed=None,
                 momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0,
                 clip_norm=None, lr_schedule="constant", schedule_params=None,
                 tol=None, n_iter_no_change=10, grad_tol=None,
                 early_stopping=False, validation_fraction=0.1, patience=10,
                 min_delta=0.0, callbacks=None, verbose=0, n_threads=None,
                 checkpoint_path=None, checkpoint_every=None):
        if not isinstance(model, Model):
            raise TypeError(f"model must be a pynn.Model, got {type(model).__name__}")
        self.model = model
        self.loss = get_loss(loss).name
        check_pair(get_loss(loss), model.layers[-1].activation)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid names: "
                             f"{', '.join(sorted(OPTIMIZERS))}")
        self.optimizer = optimizer
        self.lr = check_positive(lr, "lr")
        if batch_size is not None:
            check_positive(batch_size, "batch_size", integer=True)
        self.batch_size = batch_size
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
        # Validated here; a fresh copy runs each fit (see _fit).
        self.schedule = make_schedule(lr_schedule, self.lr, **(schedule_params or {}))
        self.tol = None if tol is None else check_positive(tol, "tol", allow_zero=True)
        self.n_iter_no_change = check_positive(n_iter_no_change, "n_iter_no_change",
                                               integer=True)
        self.grad_tol = None if grad_tol is None else check_positive(grad_tol, "grad_tol")
        self.early_stopping = bool(early_stopping)
        if not 0 <= validation_fraction < 1:
            raise ValueError("validation_fraction must be in [0, 1), got "
                             f"{validation_fraction!r}")
        self.validation_fraction = float(validation_fraction)
        self.patience = check_positive(patience, "patience", integer=True)
        self.min_delta = check_positive(min_delta, "min_delta", allow_zero=True)
        if callable(callbacks):
            callbacks = [callbacks]
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of callables, got {callbacks!r}")
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables, got {cb!r}")
        if isinstance(verbose, bool):
            verbose = int(verbose)
        if not isinstance(verbose, numbers.Integral) or verbose < 0:
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        self.verbose = int(verbose)
        self.n_threads = None if n_threads is None else check_positive(
            n_threads, "n_threads", integer=True)
        if checkpoint_every is not None:
            check_positive(checkpoint_every, "checkpoint_every", integer=True)
            if checkpoint_path is None:
                raise ValueError("checkpoint_every needs a checkpoint_path")
        if checkpoint_path is not None:
            folder = os.path.dirname(os.path.abspath(os.fspath(checkpoint_path)))
            if not os.path.isdir(folder):
                raise ValueError(f"checkpoint_path {checkpoint_path!r}: the "
                                 f"folder {folder!r} does not exist")
            checkpoint_every = checkpoint_every or 1
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------ data
    def _targets(self, y, n, name="y"):
        spec = get_loss(self.loss)
        return check_targets(y, n, self.model.n_outputs, self.model.dtype,
                             name=name, class_indices=spec.class_indices,
                             unit_interval=spec.probabilistic)

    def _prepare_data(self, X, y, validation_data, split_rng):
        # X was checked by fit (check_X): a C-contiguous finite array.
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
        elif self.early_stopping:
            n_val = int(math.ceil(self.validation_fraction * X.shape[0]))
            if n_val < 1 or n_val >= X.shape[0]:
                raise ValueError(
                    "early_stopping needs validation_data or a "
                    "validation_fraction that leaves samples on both sides "
                    f"(got {self.validation_fraction} of {X.shape[0]})")
            perm = split_rng.permutation(X.shape[0])
            train = np.sort(perm[n_val:])
            Xv, Tv = X[perm[:n_val]], T[perm[:n_val]]
            X, T = X[train], T[train]
        return X, T, Xv, Tv

    # ------------------------------------------------------------ fit
    def fit(self, X, y, validation_data=None, resume_from=None):
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

        Notes
        -----
        Never modifies X or y.  On Ctrl-C (KeyboardInterrupt) between
        compiled calls fit returns the History so far with
        ``history.interrupted = True``; the model holds the weights after the
        last completed call (at most one epoch's work is lost when silent).
        A non-finite loss raises ``DivergenceError`` and leaves the last
        finite weights in the model.
        """
        X_check = check_X(X, self.model.n_inputs, self.model.dtype,
                          allow_empty=False)
        B = X_check.shape[0] if self.batch_size is None else \
            min(self.batch_size, X_check.shape[0])
        threads = self.n_threads or threads_for(self.model._flops(B, passes=3))
        with limit_blas_threads(threads):
            return self._fit(X_check, y, validation_data, resume_from)

    def _fit(self, X, y, validation_data, resume_from):
        model = self.model
        seq = np.random.SeedSequence(self.seed)
        split_seq, shuffle_seq = seq.spawn(2)
        X, T, Xv, Tv = self._prepare_data(X, y, validation_data,
                                          np.random.default_rng(split_seq))
        n = X.shape[0]
        B = n if self.batch_size is None else min(self.batch_size, n)
        dtype = model.dtype
        code, n_state = OPTIMIZERS[self.optimizer]
        state = [np.zeros(model.n_params, dtype) if i < n_state else None
                 for i in range(2)]
        rng = np.random.default_rng(shuffle_seq)
        history = History()
        self.history = history
        self._schedule = copy.deepcopy(self.schedule)   # fresh state per fit
        # Stopping-rule state, saved in checkpoints: epochs without change
        # (tol) and early stopping's best (val loss, epoch, params).
        self._stopping = {"no_change": 0, "best_val": math.inf,
                          "best_epoch": None, "best_params": None}
        step, start_epoch = 0, 0
        if resume_from is not None:
            step, start_epoch, rng = self._load_checkpoint(resume_from, state,
                                                          history)

        # Buffers: the model's own per-thread workspace (kept between calls,
        # so a fit does not page-fault a fresh one in: ~1.5 ms at B = 1024),
        # the rest allocated once per fit.
        work = model._workspace(B)
        shuffling = self.shuffle and B < n
        x_buf = np.empty((B, model.n_inputs), dtype) if shuffling else None
        t_buf = np.empty((B, model.n_outputs), dtype) if shuffling else None
        eval_chunk = min(max(B, 256), max(n, Xv.shape[0] if Xv is not None else 0))
        eval_work = np.empty(model._layout.workspace_size(eval_chunk), dtype)
        loss_code = get_loss(self.loss).code
        acc_kind = ACCURACY[self.loss]
        stochastic = model._layout.stochastic   # dropout/noise masks from rng
        stop = self._stopping
        self.stop_training = False
        history.stopped_reason = "max_epochs"
        per_call = None if not self.verbose else 1   # batches per call

        epoch = start_epoch
        try:
            while epoch < self.epochs:
                lr = self._schedule.lr(epoch)
                order = rng.permutation(n).astype(np.intp) if shuffling else None
                epoch_seed = int(rng.integers(2**63)) if stochastic else None
                snapshot = self._snapshot_of(model.params)
                t0 = time.perf_counter()
                bar = (ProgressBar(n, prefix=f"epoch {epoch + 1}/{self.epochs}")
                       if self.verbose else None)
                total = correct = done = 0
                n_batches = -(-n // B)
                b = 0
                while b < n_batches:
                    b_end = n_batches if per_call is None else min(n_batches, b + per_call)
                    tc = time.perf_counter()
                    res = _train.run_batches(
                        model._layout, model.params, model.grads, X, T, order,
                        b * B, min(b_end * B, n), B, loss_code, acc_kind, code,
                        lr, self.momentum, self.beta1, self.beta2, self.eps,
                        self.l2, self.clip_norm or 0.0, state[0], state[1],
                        step, work, x_buf, t_buf,
                        epoch_seed)
                    call_loss, call_correct, call_done, call_steps, status = res
                    total += call_loss
                    correct += call_correct
                    done += call_done
                    step += call_steps
                    if status:
                        self._diverged(snapshot, history, epoch)
                    if bar is not None:
                        bar.update(done, total / max(done, 1))
                        # Size the next call to last ~0.1 s.
                        dt = max(time.perf_counter() - tc, 1e-6)
                        per_call = max(1, int((b_end - b) * 0.1 / dt))
                    b = b_end
                if not all_finite(model.params):
                    self._diverged(snapshot, history, epoch)
                record = {"loss": total / n, "lr": lr,
                          "accuracy": correct / n if acc_kind else None}
                if Xv is not None:
                    vl, vc = _train.evaluate(model._layout, model.params, Xv, Tv,
                                             loss_code, acc_kind, eval_chunk,
                                             eval_work)
                    record["val_loss"] = vl / Xv.shape[0]
                    record["val_accuracy"] = vc / Xv.shape[0] if acc_kind else None
                record["time"] = time.perf_counter() - t0
                history.append(record)
                if bar is not None:
                    bar.close(self._summary(record))
                epoch += 1

                # Stopping rules, schedules, checkpoints, callbacks.
                monitored = record.get("val_loss", record["loss"])
                self._schedule.update(monitored)
                reason = None
                if self.tol is not None and history.epochs > 1:
                    stop["no_change"] = stop["no_change"] + 1 if abs(
                        history.loss[-1] - history.loss[-2]) < self.tol else 0
                    if stop["no_change"] >= self.n_iter_no_change:
                        reason = "tol"
                if self.grad_tol is not None and \
                        self._full_gradient_norm(X, T, eval_chunk) < self.grad_tol:
                    reason = "grad_tol"
                if self.early_stopping:
                    if record["val_loss"] < stop["best_val"] - self.min_delta:
                        stop.update(best_val=record["val_loss"],
                                    best_epoch=epoch - 1,
                                    best_params=model.params.copy())
                    elif epoch - 1 - stop["best_epoch"] >= self.patience:
                        reason = "early_stopping"
                if (self.checkpoint_every and epoch % self.checkpoint_every == 0):
                    self.save_checkpoint(self.checkpoint_path, epoch, step, rng,
                                         state)
                for cb in self.callbacks:
                    try:
                        if cb(epoch - 1, dict(record), self):
                            self.stop_training = True
                    except StopTraining:
                        self.stop_training = True
                if self.stop_training and reason is None:
                    reason = "callback"
                if reason is not None:
                    history.stopped_reason = reason
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            history.stopped_reason = "interrupted"
        if self.early_stopping and stop["best_params"] is not None:
            model.params[...] = stop["best_params"]
            history.best_epoch = stop["best_epoch"]
        return history

    @staticmethod
    def _summary(record):
        parts = [f"loss {record['loss']:.4f}"]
        for key in ("accuracy", "val_loss", "val_accuracy"):
            if record.get(key) is not None:
                parts.append(f"{key} {record[key]:.4f}")
        return "  ".join(parts)

    def _snapshot_of(self, params):
        """A copy of ``params`` (the weights to return to on divergence) in
        a buffer reused from epoch to epoch and fit to fit."""
        buf = getattr(self, "_snapshot_buf", None)
        if buf is None or buf.shape != params.shape or buf.dtype != params.dtype:
            buf = self._snapshot_buf = np.empty_like(params)
        np.copyto(buf, params)
        return buf

    def _diverged(self, snapshot, history, epoch):
        model = self.model
        if not all_finite(model.params):
            model.params[...] = snapshot
        history.stopped_reason = "diverged"
        raise DivergenceError(
            f"training diverged in epoch {epoch + 1}: the loss or a parameter "
            "became NaN or infinite. The model keeps the last finite weights. "
            "Try a lower learning rate (lr), gradient clipping (clip_norm) or "
            "scaled inputs (e.g. standardised features).", history)

    def _full_gradient_norm(self, X, T, chunk):
        """‖∇ objective‖ over the whole training set (chunked).

        The objective is what the optimiser minimises: the mean loss plus
        the L2 penalty λ/2 ‖W‖² (so its gradient gains λW).
        """
        model = self.model
        total = np.zeros(model.n_params, dtype=np.float64)
        for i in range(0, X.shape[0], chunk):
            model.backward(X[i:i + chunk], T[i:i + chunk], self.loss)
            total += model.grads * (min(chunk, X.shape[0] - i) / X.shape[0])
        if self.l2:
            for layer, off in zip(model.layers, model._layout.w_offsets):
                if layer.tied_to is None:
                    off = int(off)
                    size = layer.n_in * layer.n_out
                    total[off:off + size] += self.l2 * model.params[off:off + size]
        return float(np.linalg.norm(total))

    # ------------------------------------------------------------ checkpoints
    def _config(self):
        return {k: getattr(self, k) for k in (
            "loss", "optimizer", "lr", "batch_size", "epochs", "shuffle",
            "seed", "momentum", "beta1", "beta2", "eps", "l2", "clip_norm")}

    def save_checkpoint(self, path, epoch, step, rng, state):
        """Write model, optimiser state, RNG state and history to ``path``."""
        from pynn import io
        arrays = {"params": self.model.params}
        for i, s in enumerate(state):
            if s is not None:
                arrays[f"state{i}"] = s
        stop = self._stopping
        if stop["best_params"] is not None:
            arrays["best_params"] = stop["best_params"]
        meta = {"format": CHECKPOINT_FORMAT, "format_version": 1,
                "model": self.model.architecture(),
                "trainer": self._config(), "epoch": epoch, "step": step,
                "rng": rng.bit_generator.state,
                "schedule": self._schedule.state(),
                "stopping": {"no_change": stop["no_change"],
                             "best_val": (None if math.isinf(stop["best_val"])
                                          else stop["best_val"]),
                             "best_epoch": stop["best_epoch"]},
                "history": self.history.as_dict()}
        io.save_arrays(path, arrays, meta)

    def _load_checkpoint(self, path, state, history):
        from pynn import io
        arrays, meta = io.load_arrays(path, CHECKPOINT_FORMAT)
        if meta.get("model") != self.model.architecture():
            raise ValueError(f"{path}: checkpoint is for another architecture")
        config = self._config()
        saved = meta.get("trainer", {})
        diff = sorted(k for k in config if k != "epochs" and saved.get(k) != config[k])
        if diff:
            raise ValueError(f"{path}: checkpoint was written with other "
                             f"trainer settings ({', '.join(diff)})")
        params = arrays["params"]
        if params.shape != self.model.params.shape or params.dtype != self.model.dtype:
            raise ValueError(f"{path}: params do not match the model")
        self.model.params[...] = params
        for i, s in enumerate(state):
            if s is not None:
                s[...] = arrays[f"state{i}"]
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
        self._schedule.load_state(meta.get("schedule", {}))
        saved_stop = meta.get("stopping", {})
        self._stopping.update(
            no_change=int(saved_stop.get("no_change", 0)),
            best_val=(math.inf if saved_stop.get("best_val") is None
                      else float(saved_stop["best_val"])),
            best_epoch=saved_stop.get("best_epoch"),
            best_params=(arrays["best_params"].copy()
                         if "best_params" in arrays else None))
        old = History.from_dict(meta["history"])
        for k in History.KEYS:
            setattr(history, k, getattr(old, k))
        return int(meta["step"]), int(meta["epoch"]), rng
