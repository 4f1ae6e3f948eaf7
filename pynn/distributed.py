"""Data-parallel training over MPI (mpi4py), equal to one process.

``Trainer(..., comm=MPI.COMM_WORLD)`` trains one model on several processes
(ranks), each holding a shard of the data (``shard``).  This module holds
the pieces that talk between ranks; it never imports mpi4py itself (the
caller passes a communicator), so ``import pynn`` stays free of it.

The global training set is the concatenation of the ranks' shards in rank
order.  Every epoch all ranks draw the same sample order over the global
set (from the Trainer's seed, exactly as one process does) and split each
global batch by ownership: rank r computes, over the samples of the batch
that it holds,

    g_r = Σ_{i ∈ batch ∩ shard_r} w_i ∇L_i,   L_r = Σ w_i L_i,   W_r = Σ w_i,

then the ranks sum (g_r, L_r, W_r) in rank order, g = ((g_0 + g_1) + g_2)…,
and every rank applies the same optimiser step with the gradient g / W
(L2 penalty and clipping inside the step).  The batch is therefore exactly
the mean over its samples, as in one process; only the rounding of the
partial sums differs (about 1e-16 relative per step in float64).

The rank-ordered sum is a reduce-scatter followed by an all-gather
(``MPI_Alltoall`` of equal blocks, a local sum, ``MPI_Allgather``), which moves 2(N − 1)/N times the
gradient's bytes per rank, as a ring all-reduce does, but adds the partial
sums in a fixed order, so reruns with the same number of ranks are
bit-identical whatever algorithm the MPI library picks.

Errors: every reduction carries a status word.  A rank that fails (an
exception, Ctrl-C) contributes zeros and its status; all ranks see the
status in the same reduction, exchange the failing rank's message and raise
the same ``DistributedError`` (or, for Ctrl-C, stop as an interrupted fit),
so no rank is left waiting in a collective.
"""
import numbers
import os
import signal
from contextlib import contextmanager

import numpy as np

__all__ = ["DistributedError", "shard", "shard_range"]

# Status words carried by every reduction (summed over ranks).
_FAILED, _INTERRUPTED = 1.0, 1.0 / 1024


class DistributedError(RuntimeError):
    """Raised on every rank when one rank fails.

    Attributes
    ----------
    rank : int
        The lowest rank that failed.
    error_type : str
        The name of the exception it raised.
    """

    def __init__(self, rank, error_type, message):
        super().__init__(f"rank {rank} failed with {error_type}: {message}")
        self.rank, self.error_type = rank, error_type


# ---------------------------------------------------------------- sharding
def shard_range(n, rank, size):
    """Rows [lo, hi) of ``n`` that rank ``rank`` of ``size`` holds:
    lo = ⌊n·rank/size⌋, hi = ⌊n·(rank + 1)/size⌋ (sizes differ by ≤ 1)."""
    for name, v in (("n", n), ("rank", rank), ("size", size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if size < 1 or rank >= size:
        raise ValueError(f"rank must be in [0, size), got rank={rank}, size={size}")
    return n * rank // size, n * (rank + 1) // size


def _rank_size(comm, rank, size):
    if comm is not None:
        return comm.Get_rank(), comm.Get_size()
    if rank is None or size is None:
        raise ValueError("shard needs a comm or both rank and size")
    return rank, size


def shard(data, comm=None, *, rank=None, size=None):
    """This rank's contiguous block of rows of ``data``.

    Parameters
    ----------
    data : array-like, numpy.memmap, str or os.PathLike
        An array (sliced without a copy: a memory map stays on disk, only
        the rows the trainer reads are loaded) or the path of an IDX file
        (plain or gzip), of which only this rank's rows are read.
    comm : mpi4py communicator, optional
        Gives rank and size; else pass ``rank`` and ``size``.

    Returns
    -------
    ndarray
        Rows [⌊n·r/N⌋, ⌊n·(r+1)/N⌋) for rank r of N.  Concatenated in rank
        order, the shards are ``data``.
    """
    rank, size = _rank_size(comm, rank, size)
    if isinstance(data, (str, os.PathLike)):
        return read_idx_rows(data, rank=rank, size=size)
    if not hasattr(data, "shape"):
        data = np.asarray(data)
    if len(data.shape) == 0:
        raise ValueError("data must have at least one dimension (rows)")
    lo, hi = shard_range(data.shape[0], rank, size)
    return data[lo:hi]


def _idx_header(f, path):
    from pynn.datasets import _IDX_TYPES
    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    ndim = head[3]
    raw = f.read(4 * ndim)
    if ndim < 1 or len(raw) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4"))
    return _IDX_TYPES[head[2]], shape, 4 + 4 * ndim


def read_idx_rows(path, *, rank, size):
    """Rows of an IDX file (see ``pynn.datasets.load_idx``) for one rank,
    reading only those rows (a gzip file is decompressed as a stream up to
    them).  Raises ValueError for a file that is not IDX or is truncated."""
    import gzip
    from pynn.datasets import _GZIP_MAGIC
    path = os.fspath(path)
    with open(path, "rb") as raw:
        packed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw) if packed else raw
        dtype, shape, header = _idx_header(f, path)
        lo, hi = shard_range(shape[0], rank, size)
        row = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        if not packed:
            total = os.fstat(raw.fileno()).st_size
            if total != header + row * shape[0]:
                raise ValueError(f"{path}: the file has {total} bytes, its "
                                 f"header announces {header + row * shape[0]}")
        f.seek(header + lo * row)
        buf = f.read((hi - lo) * row)
        if len(buf) != (hi - lo) * row:
            raise ValueError(f"{path}: truncated IDX file")
    data = np.frombuffer(buf, dtype).reshape((hi - lo,) + shape[1:])
    return data.astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------- ranks
class Group:
    """The ranks of one communicator and the collectives training needs.

    ``ordered=True`` (default) sums in rank order (reduce-scatter by
    ``Alltoall`` + ``Allgather``); False uses ``Allreduce`` (the MPI
    library's order; for comparison in bench/).
    """

    def __init__(self, comm, ordered=True):
        for name in ("Get_rank", "Get_size", "Alltoall", "Allgather",
                     "Bcast", "allgather"):
            if not callable(getattr(comm, name, None)):
                raise TypeError("comm must be an mpi4py communicator (e.g. "
                                f"MPI.COMM_WORLD), got {type(comm).__name__}")
        self.comm, self.ordered = comm, bool(ordered)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.root = self.rank == 0
        self.sigint = False
        self._plans = {}

    # -- the rank-ordered sum
    def _plan(self, n):
        """Buffers for sums of length n: (block length m, send (m·N, zero
        padded), receive (m·N), block sum (m), result (m·N))."""
        plan = self._plans.get(n)
        if plan is None:
            m = -(-n // self.size)          # block length (padded)
            plan = (m, np.zeros(m * self.size), np.empty(m * self.size),
                    np.empty(m), np.empty(m * self.size))
            self._plans[n] = plan
        return plan

    def ordered_sum(self, vec):
        """Σ_r vec_r over ranks, added in rank order; float64, the same
        bits on every rank (the returned buffer is reused by the next call
        of the same length)."""
        vec = np.ascontiguousarray(vec, np.float64)
        self._plan(vec.size)[1][:vec.size] = vec
        return self._exchange(vec.size)

    def _exchange(self, n):
        """The rank sum of the first n entries of ``_plan(n)``'s send buffer.

        Rank k receives block k of every rank's vector (``Alltoall``), adds
        the N blocks in rank order and sends its sum to all
        (``Allgather``): each rank sends and receives 2(N − 1)/N of the
        vector.  (MPICH's ``Alltoallv`` was 15× slower here than the padded
        equal-block ``Alltoall``.)"""
        m, send, recv, acc, out = self._plan(n)
        if self.size == 1:
            return send[:n]
        if not self.ordered:
            self.comm.Allreduce(send, out)
            return out[:n]
        self.comm.Alltoall(send, recv)
        parts = recv.reshape(self.size, m)
        np.copyto(acc, parts[0])
        for k in range(1, self.size):
            np.add(acc, parts[k], out=acc)
        self.comm.Allgather(acc, out)
        return out[:n]

    # -- error protocol
    def reduce(self, compute, n):
        """Run ``compute(out)`` (fills the n floats of ``out``) on every
        rank and return the rank sum; if any rank raised (or got Ctrl-C),
        every rank raises."""
        buf = self._plan(n + 1)[1]
        err = None
        try:
            if self.sigint:
                raise KeyboardInterrupt
            compute(buf[:n])
            buf[n] = 0
        except BaseException as exc:      # includes KeyboardInterrupt
            err = exc
            buf[:n] = 0
            buf[n] = _INTERRUPTED if isinstance(exc, KeyboardInterrupt) else _FAILED
        out = self._exchange(n + 1)
        if out[n]:
            self._raise(err)
        return out[:n]

    def agree(self, compute, share=False):
        """Run ``compute()`` on every rank and return its result (rank 0's
        result on every rank with ``share=True``); if any rank raised, every
        rank raises.  ``compute`` must not call collectives."""
        err = value = None
        try:
            if self.sigint:
                raise KeyboardInterrupt
            value = compute()
        except BaseException as exc:
            err = exc
        infos = self.comm.allgather(None if err is None else _describe(err))
        if any(infos):
            self._raise(err, infos)
        if share:
            return self.comm.bcast(value if self.root else None, root=0)
        return value

    def _raise(self, err, infos=None):
        if infos is None:
            infos = self.comm.allgather(None if err is None else _describe(err))
        rank, (kind, message, interrupt) = next(
            (r, i) for r, i in enumerate(infos) if i is not None)
        if any(i is not None and i[2] for i in infos):
            raise KeyboardInterrupt(f"interrupted on rank {rank}")
        raise DistributedError(rank, kind, message) from err

    @contextmanager
    def sigint_guard(self):
        """Ctrl-C during training sets a flag that the next reduction turns
        into a coordinated stop (so no rank stops between a reduction and
        its step)."""
        self.sigint = False
        try:
            old = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:              # not the main thread
            old = None
        try:
            yield
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def _on_sigint(self, signum, frame):
        self.sigint = True

    # -- small helpers
    def counts(self, n):
        """Every rank's ``n`` in rank order."""
        return [int(c) for c in self.comm.allgather(int(n))]

    def bcast_array(self, arr):
        """Overwrite ``arr`` with rank 0's values."""
        self.comm.Bcast(arr, root=0)


def _describe(err):
    return (type(err).__name__, str(err), isinstance(err, KeyboardInterrupt))


def split_validation(fraction, counts, rank, rng, X, T, sw):
    """The early-stopping split over the global set: the same
    ⌈fraction·n⌉ samples as one process holds out (from ``rng``), each rank
    keeping those it owns.  Returns X, T, sw, Xv, Tv of this rank."""
    import math
    n = sum(counts)
    n_val = int(math.ceil(fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            "early_stopping needs validation_data or a validation_fraction "
            f"that leaves samples on both sides (got {fraction} of {n})")
    lo = sum(counts[:rank])
    hi = lo + counts[rank]
    perm = rng.permutation(n)
    val, train = perm[:n_val], np.sort(perm[n_val:])
    val = val[(val >= lo) & (val < hi)] - lo
    train = train[(train >= lo) & (train < hi)] - lo
    return (X[train], T[train], None if sw is None else
            np.ascontiguousarray(sw[train]), X[val], T[val])


def check_same(group, what, value):
    """ValueError on every rank unless ``value`` (a string) is the same on
    all ranks."""
    values = group.comm.allgather(value)
    bad = [r for r, v in enumerate(values) if v != values[0]]
    if bad:
        raise ValueError(f"rank {bad[0]} has another {what} than rank 0")


def make_group(comm):
    """None for ``comm=None``, else a ``Group`` (TypeError for anything that
    is not a communicator)."""
    if comm is None or isinstance(comm, Group):
        return comm
    return Group(comm)


# ---------------------------------------------------------------- training
class Runner:
    """One epoch of data-parallel training (the interface of the Trainer's
    compiled epoch runner: ``epoch(run, lr)`` → history record).

    Per global batch: each rank's share of the batch (the batch's samples
    that it holds), its gradient sum through ``pynn._train.gradient``, one
    rank-ordered sum of [g, L, W, correct, status], then the optimiser's
    step ``pynn._train.step`` (with L2 and clipping) on every rank.

    Each rank computes its share as a single-process fit does: split into
    chunks whose boundaries depend only on the share's size, run on up to
    the Trainer's ``n_threads`` of pynn's threads (the BLAS on one), the
    weight gradient formed in blocks fixed by the layout — so the result
    is bit-identical for any ``n_threads``.  The chunks' memory (a ``Scratch``) is kept for
    the whole fit.
    """

    def __init__(self, trainer, X, T, sw, group):
        from pynn import _train
        from pynn.losses import get_loss
        model = trainer.model
        if model._layout.has_penalty and group.size > 1:
            raise ValueError(
                "activity penalties (KLSparsity, L1Activity) depend on "
                "statistics of the whole batch, which a batch split over "
                "ranks does not have: train them on one process")
        self.trainer, self.model, self.group = trainer, model, group
        self._train = _train
        counts = group.counts(X.shape[0])
        self.n = n = sum(counts)
        if n == 0:
            raise ValueError("no rank holds any training sample")
        self.lo = sum(counts[:group.rank])
        self.X, self.T, self.sw = X, T, sw
        self.B = n if trainer.batch_size is None else min(trainer.batch_size, n)
        self.shuffling = trainer.shuffle and self.B < n
        rows = max(1, min(self.B, X.shape[0]))
        self.xb = np.empty((rows, X.shape[1]), model.dtype)
        self.tb = np.empty((rows, T.shape[1]), model.dtype)
        self.wb = None if sw is None else np.empty(rows, model.dtype)
        self.work = np.empty(model._layout.workspace_size(rows), model.dtype)
        self.loss_code = get_loss(trainer.loss).code
        self.acc_kind = get_loss(trainer.loss).accuracy
        self.update = trainer.optimizer.kernel(trainer.l2, trainer.clip_norm)
        self.stochastic = model._layout.stochastic
        self.n_threads = trainer._threads()
        self.scratch = _train.Scratch()

    def _local_batches(self, order):
        """(local row indices or a slice, start offsets per global batch)."""
        n, B, lo, m = self.n, self.B, self.lo, self.X.shape[0]
        starts = np.arange(0, n + B, B)[: -(-n // B) + 1]
        starts[-1] = n
        if order is None:
            pos = np.arange(lo, lo + m)
            return None, np.searchsorted(pos, starts)
        mine = (order >= lo) & (order < lo + m)
        positions = np.flatnonzero(mine)
        return order[positions] - lo, np.searchsorted(positions, starts)

    def _rows(self, ids, a, b):
        if ids is None:
            sl = slice(a, b)
            return self.X[sl], self.T[sl], None if self.sw is None else self.sw[sl]
        idx = ids[a:b]
        k = b - a
        X = np.take(self.X, idx, axis=0, out=self.xb[:k])
        T = np.take(self.T, idx, axis=0, out=self.tb[:k])
        w = None if self.sw is None else np.take(self.sw, idx, out=self.wb[:k])
        return X, T, w

    def local_sum(self, out, X, T, w, seed):
        """out ← [Σ w ∇L, Σ w L, Σ w, correct] over this rank's rows."""
        _train, model = self._train, self.model
        if not X.shape[0]:
            out[:] = 0
            return
        correct = 0
        if self.acc_kind:
            correct = _train.evaluate(model._layout, model.params, X, T,
                                      self.loss_code, self.acc_kind,
                                      X.shape[0], self.work,
                                      n_threads=self.n_threads,
                                      scratch=self.scratch)[1]
        total, wsum = _train.gradient(model._layout, model.params,
                                      model.grads, X, T, self.loss_code,
                                      0.0, self.work, w, seed,
                                      n_threads=self.n_threads,
                                      scratch=self.scratch)
        np.multiply(model.grads, wsum, out=out[:-3])
        out[-3:] = total, wsum, correct

    def epoch(self, run, lr):
        """Train one epoch at rate ``lr``; returns its (global) record."""
        import math
        import time
        trainer, model, group = self.trainer, self.model, self.group
        _train = self._train
        rng = run.rng
        order = rng.permutation(self.n).astype(np.intp) if self.shuffling else None
        epoch_seed = int(rng.integers(2**63)) if self.stochastic else None
        ids, bounds = self._local_batches(order)
        snapshot = trainer._snapshot_of(model.params)
        t0 = time.perf_counter()
        total = wsum = correct = 0.0
        P = model.n_params
        for b in range(len(bounds) - 1):
            X, T, w = self._rows(ids, bounds[b], bounds[b + 1])
            seed = None if epoch_seed is None else \
                (epoch_seed + b * 0xD1B54A32D192ED03 + group.rank * 0x9E3779B97F4A7C15) % 2**64
            s = group.reduce(lambda out: self.local_sum(out, X, T, w, seed),
                             P + 3)
            if not math.isfinite(s[P]):
                trainer._diverged(run, snapshot)
            total += s[P]
            wsum += s[P + 1]
            correct += s[P + 2]
            if s[P + 1] > 0:        # a batch of zero weights takes no step
                np.divide(s[:P], s[P + 1], out=model.grads, casting="unsafe")
                _train.step(model._layout, model.params, model.grads,
                            self.update, lr)
        trainer.optimizer.t = self.update.step
        loss = float(total / wsum) if wsum else 0.0
        trainer._check_epoch(run, loss, snapshot)
        return {"loss": loss, "lr": lr,
                "accuracy": float(correct / self.n) if self.acc_kind else None,
                "time": time.perf_counter() - t0}


def objective(trainer, group, X, T, sw, params=None):
    """The full-batch objective over all ranks' data, Σ w L / Σ w + λ/2‖W‖²,
    with its gradient in ``trainer.model.grads`` (same on every rank).
    Each rank's pass runs on the Trainer's ``n_threads`` of pynn's threads
    (the same bits on any thread count)."""
    from pynn import _train
    from pynn.losses import get_loss
    model = trainer.model
    if params is not None:
        model.params[...] = params
    P = model.n_params

    def local(out):
        out[:] = 0
        if X.shape[0]:
            work = model._workspace(X.shape[0])
            total, wsum = _train.gradient(model._layout, model.params,
                                          model.grads, X, T,
                                          get_loss(trainer.loss).code, 0.0,
                                          work, sw,
                                          n_threads=trainer._threads(),
                                          scratch=model._scratch())
            np.multiply(model.grads, wsum, out=out[:P])
            out[P:] = total, wsum

    s = group.reduce(local, P + 2)
    wsum = s[P + 1]
    if wsum:
        np.divide(s[:P], wsum, out=model.grads, casting="unsafe")
    else:
        model.grads[...] = 0
    value = float(s[P] / wsum) if wsum else 0.0
    if trainer.l2:
        for off, size, is_weight in model._layout.regions:
            if is_weight:
                region = slice(off, off + size)
                model.grads[region] += trainer.l2 * model.params[region]
        value += trainer.l2 * _train.l2_penalty(model._layout, model.params)
    return value
