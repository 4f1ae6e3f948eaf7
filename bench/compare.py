#!/usr/bin/env python
"""Side-by-side speed comparison: pynn vs PyTorch, scikit-learn and NumPy.

Every library runs in this one process on the same data.  For each repeat
the runs are interleaved — pynn, peer A, pynn, peer B, … — with a short
pause between libraries (so one library's thread pool has gone to sleep
before the next starts), after one untimed warm-up run of each.  A table
reports the median time per unit of work, samples/s, GFLOP/s where that
means something, and pynn's speed-up over each peer: the median over the
repeats of (peer time / the adjacent pynn time), which cancels most of the
drift of a shared machine.  Absolute numbers are only comparable within one
run; the ratios are the result.

Run it as a user's machine would, without the CI's OpenBLAS overrides::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py \\
        --quick --workloads online,inference --threads 1 --markdown out.md

Workloads (``--workloads``, comma-separated names or numbers; default all):

1. ``online``    online SGD (batch 1), one epoch, 64-32-10 sigmoid and
                 784-128-10 relu (softmax + cross-entropy): pynn Trainer vs
                 PyTorch eager, the NumPy loop and scikit-learn MLPClassifier;
                 the same nets and data as FANN trains them (sigmoid/squared
                 error, float32, 1 thread) vs FANN 2.2 through
                 bench/small_nets.py's C harness (skipped without gcc and
                 libfann-dev); online momentum, Nesterov and Adam epochs vs
                 plain SGD on MNIST 784-300-10 tanh/softmax, [0, 1] inputs,
                 1 thread (bench/online_optimizers.py's epoch).
2. ``minibatch`` mini-batch SGD 784-256-256-10, B = 32, 256, 1024, one epoch,
                 against the sgemm rate measured in the same run.
3. ``inference`` forward pass 784-256-256-10 at B = 1 and B = 1024.
4. ``rules``     one perceptron / LMS epoch on 100,000 × 100 (float32 and
                 float64) vs scikit-learn Perceptron / SGDRegressor and one
                 X @ w pass (marginal epoch: fit(k2) − fit(k1) epochs).
5. ``memory``    peak RSS of a 10-epoch fit of 784-256-10 on MNIST-sized
                 data, in a clean subprocess, and the RSS after every epoch.
6. ``scaling``   pynn epoch time vs number of samples and vs hidden width
                 (plus bench-scaling.png when matplotlib is installed).

Peers that are not installed are skipped with a note.  ``--threads N``
(default 2) sets torch.set_num_threads(N) and the BLAS threads of NumPy
and SciPy.  pynn runs as a user gets it: its default threads
(``n_threads=None``: the CPUs the process may use) on its own pool, the
BLAS on one thread; every training and inference table also has a row
"pynn, 1 thread" (``n_threads=1``), whose ratio is pynn's default-thread
speed-up over its own single thread (target ≥ 0.8×, above all with
``--busy``).

``--busy`` starts a competing CPU-bound process (a subprocess spinning on
one core) for the whole run and stops it at exit, as on a shared machine.  The default run takes a few
minutes on 2 cores (about 3.5 here); ``--quick`` is a smoke run of one to
two.  ``--budget`` (seconds per case, default 25) cuts the repeats short
on an overloaded machine, so the run stays bounded.
"""
import argparse
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pynn                                    # noqa: E402
from pynn import _threads                      # noqa: E402
from numpy_reference import NumpyMLP           # noqa: E402
from pynn._train import CHUNK_FLOPS             # noqa: E402

WORKLOADS = ["online", "minibatch", "inference", "rules", "memory", "scaling"]
# pynn's default threads against its own single thread (the "pynn1" row).
OWN = {"pynn1": (0.8, "≥ 0.8×")}
OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
LIB_NAMES = {"pynn": "pynn", "pynn1": "pynn, 1 thread",
             "torch": "PyTorch eager", "numpy": "NumPy",
             "sklearn": "scikit-learn", "fann": "FANN 2.2"}


# --------------------------------------------------------------- optional peers
def _optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


torch = _optional("torch")
try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Perceptron as SkPerceptron, SGDRegressor
    from sklearn.neural_network import MLPClassifier
except ImportError:
    sklearn = None
try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None
try:
    from pynn import rules as pynn_rules
except ImportError as exc:                      # the rules module is optional
    pynn_rules, RULES_ERROR = None, str(exc)


# --------------------------------------------------------------- formatting
def fmt_time(s):
    if s is None or not math.isfinite(s):
        return "—"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_num(x, digits=3):
    if x is None or not math.isfinite(x):
        return "—"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.{digits}g} M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.{digits}g} k"
    return f"{x:.{digits}g}"


def fmt_bytes(n):
    return f"{n / 2**20:.1f} MiB"


class Table:
    """A markdown table with a title and notes under it."""

    def __init__(self, title, columns):
        self.title, self.columns, self.rows, self.notes = title, columns, [], []

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def note(self, text):
        self.notes.append(text)

    def markdown(self):
        out = [f"### {self.title}", ""]
        out.append("| " + " | ".join(self.columns) + " |")
        out.append("|" + "|".join("---" for _ in self.columns) + "|")
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


# --------------------------------------------------------------- timing
class Contestant:
    """One library's way of doing the work.

    setup() (untimed, before every run) returns a state passed to run(state);
    run either returns None (the call is timed here) or its own measured
    seconds (for marginal timings).  ``units`` is the work of one run (e.g.
    samples or calls); times are reported per unit.  ``warm``, another
    Contestant (e.g. on a prefix of the data), does the warm-up run; by
    default the contestant itself.
    """

    def __init__(self, lib, run, setup=None, units=1, warm=None):
        self.lib, self.run, self.setup, self.units = lib, run, setup, units
        self.warm = warm or self


def time_once(c, pause):
    state = c.setup() if c.setup is not None else None
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        measured = c.run(state)
        dt = time.perf_counter() - t0
    finally:
        gc.enable()
    time.sleep(pause)
    return (dt if measured is None else measured) / c.units


def race(contestants, args, notes):
    """Median time per unit of each contestant and pynn's paired speed-ups.

    contestants[0] is pynn.  Returns ({lib: median s/unit},
    {peer: median of peer_time / adjacent pynn_time}).  A contestant whose
    run raises is dropped with a note.  The repeats stop early (once every
    library has a time) when the case has run ``args.budget`` seconds — on
    an overloaded machine multi-threaded runs can be 10-50× slower than
    usual, and the whole run must stay bounded.
    """
    alive = []
    t_start = time.perf_counter()
    for c in contestants:                       # warm-up, and weed out failures
        try:
            time_once(c.warm, args.pause)
            alive.append(c)
        except Exception as exc:               # noqa: BLE001  (report, go on)
            notes.append(f"{LIB_NAMES.get(c.lib, c.lib)} failed: "
                         f"{type(exc).__name__}: {exc}")
            if c is contestants[0]:
                return {}, {}
    me, peers = alive[0], alive[1:]
    times = {c.lib: [] for c in alive}
    ratios = {c.lib: [] for c in peers}
    cut = False
    for _ in range(args.repeats):
        for peer in peers or [None]:
            _pair(me, peer, times, ratios, args.pause)
            if time.perf_counter() - t_start > args.budget and \
                    all(times.values()) and \
                    len(times[me.lib]) < args.repeats * max(1, len(peers)):
                cut = True
                break
        else:
            continue
        break
    if cut:
        counts = (f"{min(map(len, times.values()))}-"
                  f"{max(map(len, times.values()))}")
        topped = _top_up(me, peers, times, ratios, args)
        notes.append(
            f"cut short: {counts} timed runs per library instead of "
            f"{args.repeats} ({args.budget:g} s budget per case, --budget)"
            + (f"; then {', '.join(topped)} topped up to {args.repeats} "
               "pairs" if topped else ""))
    return ({k: statistics.median(v) for k, v in times.items()},
            {k: statistics.median(v) for k, v in ratios.items()})


def _pair(me, peer, times, ratios, pause):
    """Time pynn, then ``peer`` (None: pynn alone), and record the pair."""
    t_me = time_once(me, pause)
    times[me.lib].append(t_me)
    if peer is not None:
        t_peer = time_once(peer, pause)
        times[peer.lib].append(t_peer)
        ratios[peer.lib].append(t_peer / t_me)


def _top_up(me, peers, times, ratios, args):
    """After a cut-short race, give the peers whose pairs are cheap (in
    peer order: "pynn, 1 thread" first) the pairs they missed, while the
    estimated cost stays within one more ``args.budget``.  On a loaded
    machine the slow peers end the repeats after two or three rounds; in
    one --busy run the median of three paired ratios of two identical runs
    (pynn's batch-1 step takes one thread either way) was 0.79 where the
    ratio of their medians was 1.19, and pynn's own-thread ratio is the one
    its target reads.  Returns the names of the peers topped up."""
    spent, topped = 0.0, []
    for peer in peers:
        missing = args.repeats - len(ratios[peer.lib])
        if missing <= 0:
            continue
        cost = (times[me.lib][-1] * me.units + times[peer.lib][-1] * peer.units
                + 2 * args.pause)               # seconds per pair
        if spent + missing * cost > args.budget:
            continue
        spent += missing * cost
        topped.append(LIB_NAMES.get(peer.lib, peer.lib))
        for _ in range(missing):
            _pair(me, peer, times, ratios, args.pause)
    return topped


def best_of(fn, repeats=5, inner=1):
    """Median seconds per call of fn() over `repeats` timings of `inner` calls."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t0) / inner)
    return statistics.median(ts)


def mlp_flops(sizes):
    """Multiply-add FLOPs of one forward pass of one sample: 2·Σ n_in·n_out."""
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def verdict(value, target, higher=True):
    if value is None or not math.isfinite(value):
        return "—"
    ok = value >= target if higher else value <= target
    return "yes" if ok else "**no**"


def result_table(title, unit, results, ratios, samples_per_unit=None,
                 flops_per_unit=None, targets=None, extra_rows=(),
                 notes=(), threads=None):
    """The standard table: one row per library, pynn first."""
    targets = targets or {}
    tab = Table(title, ["library", f"time / {unit}", "samples/s", "GFLOP/s",
                        "pynn speed-up", "target", "met"])
    for lib, t in results.items():
        sps = samples_per_unit / t if samples_per_unit and t > 0 else None
        gf = flops_per_unit / t / 1e9 if flops_per_unit and t > 0 else None
        if lib == "pynn":
            ratio, tgt, met = "—", "—", "—"
        else:
            r = ratios.get(lib)
            ratio = f"{r:.2f}×" if r is not None else "—"
            if lib in targets:
                goal, text = targets[lib][:2]
                tgt, met = text, verdict(r, goal)
            else:
                tgt, met = "—", "—"
        tab.add(LIB_NAMES.get(lib, lib), fmt_time(t), fmt_num(sps),
                f"{gf:.3g}" if gf is not None else "—", ratio, tgt or "—", met)
    for row in extra_rows:
        tab.add(*row)
    if threads:
        tab.note(threads)
    for n in notes:
        tab.note(n)
    return tab


# --------------------------------------------------------------- data
def classification_data(n, n_in, n_classes=10, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in), dtype=np.float64).astype(dtype)
    y = rng.integers(0, n_classes, n)
    return X, y


def digits_data():
    try:
        from pynn.datasets import load_digits
        X, y = load_digits(dtype=np.float32, scale=True)
        return X, y, "UCI digits (1797 × 64, pynn.datasets.load_digits)"
    except Exception:                          # noqa: BLE001
        X, y = classification_data(1797, 64)
        return X, y, "random 1797 × 64 (digits not found)"


def mnist_dir():
    here = os.path.dirname(HERE)
    for d in (os.environ.get("PYNN_MNIST_DIR"), "/work/shared/data/mnist",
              os.path.join(here, "..", "shared", "data", "mnist")):
        if d and os.path.isdir(d):
            return os.path.abspath(d)
    return None


def one_hot(y, k=10, dtype=np.float32):
    return np.eye(k, dtype=dtype)[y]


# --------------------------------------------------------------- peers' loops
def torch_mlp(sizes, hidden, softmax=False, seed=0):
    torch.manual_seed(seed)
    act = torch.nn.ReLU if hidden == "relu" else torch.nn.Sigmoid
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if softmax:
        layers.append(torch.nn.Softmax(dim=1))
    return torch.nn.Sequential(*layers)


def torch_epoch(sizes, hidden, X, y, B, lr):
    """Contestant pieces for one eager PyTorch epoch of plain SGD."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    n = X.shape[0]

    def setup():
        net = torch_mlp(sizes, hidden)
        return net, torch.optim.SGD(net.parameters(), lr=lr)

    def run(state):
        net, opt = state
        for i in range(0, n, B):
            opt.zero_grad()
            loss_fn(net(Xt[i:i + B]), yt[i:i + B]).backward()
            opt.step()
    return setup, run


def numpy_epoch(sizes, hidden, X, y, B, lr):
    T = one_hot(y, sizes[-1], X.dtype)
    n = X.shape[0]

    def setup():
        return NumpyMLP(sizes, dtype=X.dtype, seed=0, hidden=hidden)

    def run(net):
        for i in range(0, n, B):
            net.step(X[i:i + B], T[i:i + B], lr)
    return setup, run


def sklearn_epoch(sizes, hidden, X, y, B, lr):
    classes = np.arange(sizes[-1])

    def setup():
        return MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]),
            activation="relu" if hidden == "relu" else "logistic",
            solver="sgd", batch_size=B, learning_rate_init=lr,
            learning_rate="constant", momentum=0.0, nesterovs_momentum=False,
            alpha=0.0, max_iter=1, shuffle=False, random_state=0)

    def run(clf):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)
    return setup, run


def pynn_epoch(sizes, hidden, X, y, B, lr, inner=1, n_threads=None):
    def setup():
        model = pynn.MLP(sizes, hidden=hidden, output="softmax", seed=0)
        return pynn.Trainer(model, loss="cross_entropy", optimizer="sgd",
                            lr=lr, batch_size=B, epochs=1, shuffle=False,
                            n_threads=n_threads)

    def run(trainer):
        for _ in range(inner):
            trainer.fit(X, y)
    return setup, run


def training_contestants(sizes, hidden, X, y, B, lr, n_peer, inner_pynn=1,
                         notes=None):
    """pynn on all of X (`inner_pynn` epochs per run), peers on n_peer[lib]
    samples each; units are samples so times are per sample."""
    n = X.shape[0]
    w = min(n, max(4 * B, 256))                 # warm-up on a prefix

    def contestant(lib, make, m, inner=None, **kw):
        extra = dict(kw) if inner is None else dict(kw, inner=inner)
        setup, run = make(sizes, hidden, X[:m], y[:m], B, lr, **extra)
        wsetup, wrun = make(sizes, hidden, X[:w], y[:w], B, lr, **kw)
        return Contestant(lib, run, setup, units=m * (inner or 1),
                          warm=Contestant(lib, wrun, wsetup, units=w))
    out = [contestant("pynn", pynn_epoch, n, inner_pynn),
           contestant("pynn1", pynn_epoch, n, inner_pynn, n_threads=1)]
    peers = [("torch", torch, torch_epoch), ("numpy", np, numpy_epoch),
             ("sklearn", sklearn, sklearn_epoch)]
    for lib, module, make in peers:
        if module is None:
            notes.append(f"{LIB_NAMES[lib]} is not installed: skipped.")
            continue
        out.append(contestant(lib, make, min(n, n_peer.get(lib, n))))
    return out


# --------------------------------------------------------------- environment
def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_summary():
    parts = [f"pynn pool {_threads.pool_threads()} (1 for 'pynn, 1 thread')"]
    if torch is not None:
        parts.append(f"torch {torch.get_num_threads()}")
    if threadpoolctl is not None:
        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas":
                owner = "scipy/pynn" if "scipy" in info["filepath"] and \
                    "numpy" not in info["filepath"] else \
                    "numpy" if "numpy" in info["filepath"] else \
                    os.path.basename(info["filepath"])
                parts.append(f"{info['internal_api']} ({owner}) "
                             f"{info['num_threads']}")
    else:
        parts.append(f"pynn BLAS {_threads.blas_threads()}")
    return "threads: " + ", ".join(parts)


def header(args):
    def version(mod):
        return getattr(mod, "__version__", "?") if mod is not None else \
            "not installed"
    import scipy
    lines = ["# pynn benchmark comparison", "",
             f"- command: `{' '.join([os.path.basename(sys.executable)] + sys.argv)}`",
             f"- date: {time.strftime('%Y-%m-%d %H:%M:%S')}",
             f"- versions: pynn {pynn.__version__}, numpy {np.__version__}, "
             f"scipy {scipy.__version__}, torch {version(torch)}, "
             f"scikit-learn {version(sklearn)}, Python "
             f"{platform.python_version()}",
             f"- CPU: {cpu_model()}; {os.cpu_count()} logical CPUs, "
             f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
             " usable; load average "
             f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} at start",
             f"- {thread_summary()} (requested --threads {args.threads}; pynn "
             "BLAS now "
             f"{_threads.blas_threads()})",
             f"- repeats: {args.repeats} (median; one warm-up each), pause "
             f"{args.pause} s between libraries"
             + (", --quick sizes" if args.quick else ""),
             "- pynn speed-up = median over repeats of peer time / adjacent "
             "pynn time (> 1: pynn faster); for 'pynn, 1 thread' it is pynn's "
             "default-thread speed-up over its own single thread",
             "- **--busy**: a competing process spins on one core for the "
             "whole run" if args.busy else "- quiet run (no --busy)"]
    load = os.getloadavg()[0]
    if load > 0.5:
        lines.append(f"- **warning**: load average {load:.1f} before the run "
                     f"on {os.cpu_count()} CPUs: other processes compete, and "
                     "multi-threaded BLAS/OpenMP runs slow down far more than "
                     "the lost CPU share (threads wait for each other); "
                     "compare ratios, or use --threads 1")
    set_vars = [v for v in OVERRIDES if v in os.environ]
    if set_vars:
        lines.append(f"- **warning**: {', '.join(set_vars)} set in the "
                     "environment: not a user's configuration (run with "
                     "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)")
    threadpool_libs = []
    if threadpoolctl is not None:
        threadpool_libs = [f"{i['internal_api']} {i.get('version')} "
                           f"({os.path.basename(i['filepath'])})"
                           for i in threadpoolctl.threadpool_info()]
        lines.append(f"- thread pools: {'; '.join(threadpool_libs)}")
    return "\n".join(lines) + "\n"


class pool_threads:
    """``with pool_threads(n):`` pynn's default thread count is n inside
    (for the "pynn, 1 thread" inference rows: model(X) has no n_threads)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.saved = _threads._cpus
        _threads._cpus = (os.getpid(), self.n)

    def __exit__(self, *exc):
        _threads._cpus = self.saved


def CHUNK_ROWS(sizes, B):
    from pynn import _train
    layout = pynn.MLP(sizes, hidden="relu", output="softmax")._layout
    return _train.chunk_rows(layout, B)


class Busy:
    """A competing CPU-bound process (one core spinning) for the run."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        import atexit
        atexit.register(self.stop)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def set_threads(n):
    """torch, pynn's (SciPy's) BLAS and NumPy's BLAS to n threads."""
    if torch is not None:
        torch.set_num_threads(n)
    _threads.set_blas_threads(n)
    if threadpoolctl is not None:
        # Kept for the process' lifetime: covers NumPy's own OpenBLAS too.
        set_threads.limiter = threadpoolctl.threadpool_limits(n, user_api="blas")


# --------------------------------------------------------------- workloads
def w_online(args, threads):
    """Online SGD, batch 1, one epoch, no shuffle."""
    tables = []
    Xd, yd, what = digits_data()
    Xm, ym = classification_data(2000 if args.quick else 5000, 784)
    cases = [
        ("64-32-10 sigmoid/softmax", [64, 32, 10], "sigmoid", Xd, yd, 0.1,
         what, {"torch": 300, "numpy": 1797, "sklearn": 300},
         {"torch": (20, "≥ 20×"), "numpy": (3, "≥ 3×"), **OWN}, 10),
        ("784-128-10 relu/softmax", [784, 128, 10], "relu", Xm, ym, 0.01,
         f"random {Xm.shape[0]} × 784 (MNIST-sized)",
         {"torch": 300, "numpy": 1000, "sklearn": 300},
         {"torch": (10, "≥ 10×"), **OWN}, 1),
    ]
    for name, sizes, hidden, X, y, lr, data, n_peer, targets, inner in cases:
        if args.quick:
            n_peer = {k: max(50, v // 4) for k, v in n_peer.items()}
            inner = max(1, inner // 2)
        notes = []
        cs = training_contestants(sizes, hidden, X, y, 1, lr, n_peer,
                                  inner_pynn=inner, notes=notes)
        res, ratios = race(cs, args, notes)
        counts = ", ".join(f"{LIB_NAMES[c.lib]} {c.units}" for c in cs)
        notes += [f"data: {data}; lr {lr}; float32; samples per run: {counts} "
                  "(slow peers see a prefix of the data; times are per sample)",
                  "pynn: Trainer(batch_size=1, optimizer='sgd', shuffle=False, "
                  "epochs=1).fit; PyTorch: nn.Sequential + optim.SGD, "
                  "zero_grad/backward/step per sample; NumPy: "
                  "bench/numpy_reference.py NumpyMLP.step per sample; "
                  "scikit-learn: MLPClassifier(solver='sgd', batch_size=1, "
                  "momentum=0, alpha=0).partial_fit — a per-sample Python "
                  "loop of NumPy steps inside, so it is comparable."]
        tables.append(result_table(
            f"1. Online SGD (batch 1), one epoch: {name}", "sample", res,
            ratios, 1, 3 * mlp_flops(sizes), targets, notes=notes,
            threads=threads()))
    n_m = 1000 if args.quick else Xm.shape[0]
    tables.append(fann_table(args, [64, 32, 10], Xd, yd, what,
                             epochs=2 if args.quick else 5, target_us=0.5))
    tables.append(fann_table(args, [784, 128, 10], Xm[:n_m], ym[:n_m],
                             f"random {n_m} × 784 (MNIST-sized)", epochs=1))
    tables.append(optimizer_table(args, 1000 if args.quick else 3000))
    return tables


def _bench_module(name):
    """A sibling script of bench/ as a module.  bench/small_nets.py sets
    OPENBLAS_NUM_THREADS=1 (if unset) when imported; that must not reach
    this run's subprocesses (the memory child, --busy), so it is undone."""
    had = "OPENBLAS_NUM_THREADS" in os.environ
    module = __import__(name)
    if not had:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
    return module


def fann_table(args, sizes, X, y, data, epochs, target_us=None, lr=0.1):
    """pynn vs FANN 2.2 as FANN trains: online SGD, sigmoid hidden and
    output units, squared error, float32, one thread, the same net, data
    and starting weights, ``epochs`` epochs per run (both through
    bench/small_nets.py: ``time_pynn`` and the C harness ``time_fann``).
    ``target_us``: pynn's own target in µs per sample."""
    sn = _bench_module("small_nets")
    X = np.ascontiguousarray(X, np.float32)
    T = one_hot(y, sizes[-1])
    n, net = X.shape[0], "-".join(map(str, sizes))
    w = min(n, 256)
    notes, mse = [], {}

    def pynn_run(m, k):
        return lambda _: sn.time_pynn(sizes, X[:m], T[:m], lr, k) * m * k
    cs = [Contestant("pynn", pynn_run(n, epochs), units=n * epochs,
                     warm=Contestant("pynn", pynn_run(w, 1), units=w))]
    with tempfile.TemporaryDirectory() as tmp:
        exe, why = sn.build_harness(tmp)
        if exe is None:
            notes.append(f"FANN 2.2 not timed: {why} (needs gcc and Debian's "
                         "libfann-dev)")
        else:
            start = sn.pynn_trainer(sizes, lr, epochs)[0]   # pynn's start
            net_file, data_file = sn.write_inputs(tmp, "cmp", start, X, T)

            def fann_run(k):
                def run(_):
                    t, mse["fann"] = sn.time_fann(exe, net_file, data_file, n,
                                                  k, lr)
                    return t * n * k
                return run
            cs.append(Contestant("fann", fann_run(epochs), units=n * epochs,
                                 warm=Contestant("fann", fann_run(1), units=n)))
        res, ratios = race(cs, args, notes)
    model, trainer = sn.pynn_trainer(sizes, lr, epochs)
    trainer.fit(X, T)
    mse["pynn"] = float(np.mean((model.forward(X) - T) ** 2))
    extra = []
    if target_us is not None and "pynn" in res:
        extra.append((f"pynn target: ≤ {target_us:g} µs / sample",
                      fmt_time(res["pynn"]), "—", "—", "—",
                      f"≤ {target_us:g} µs",
                      verdict(res["pynn"] * 1e6, target_us, higher=False)))
    notes += [f"data: {data}; {epochs} epoch{'s' if epochs > 1 else ''} per "
              f"run, lr {lr}, targets one-hot; the same starting weights "
              "(pynn's initial model through pynn.interop.to_fann)",
              "pynn: bench/small_nets.py time_pynn — Trainer(batch_size=1, "
              "optimizer='sgd', shuffle=False, loss='squared_error', "
              "n_threads=1) on MLP(sizes, hidden='sigmoid', "
              "output='sigmoid'); FANN: fann_train per sample "
              "(FANN_TRAIN_INCREMENTAL, FANN_ERRORFUNC_LINEAR, no momentum), "
              "its own clock in a gcc -O2 harness (bench/small_nets.py)",
              "MSE after one run: " + ", ".join(
                  f"{LIB_NAMES[k]} {mse[k]:.4f}" for k in ("pynn", "fann")
                  if k in mse) + " (≈ equal when both do the same training)"]
    return result_table(
        f"1. pynn vs FANN 2.2, sigmoid/squared error, float32, 1 thread: "
        f"online SGD {net}", "sample", res, ratios, 1, 3 * mlp_flops(sizes),
        {"fann": (8, "≥ 8×")}, extra_rows=extra, notes=notes,
        threads="threads: pynn 1 (n_threads=1), BLAS 1; FANN 1")


def optimizer_table(args, n):
    """Online (batch 1) momentum, Nesterov and Adam epochs against the
    plain-SGD epoch, MNIST 784-300-10 tanh/softmax, [0, 1] inputs, float32,
    one thread — bench/online_optimizers.py's ``one_epoch`` (a fresh model
    per run) on its ``load_data``."""
    oo = _bench_module("online_optimizers")
    X, y, source = oo.load_data(mnist_dir() or oo.DEFAULT_IDX, n)
    n = X.shape[0]
    w = min(n, 200)

    def epoch(opt, lr, m):
        return lambda _: oo.one_epoch(X[:m], y[:m], opt, lr, 0)
    cs = [Contestant(name, epoch(opt, lr, n), units=n,
                     warm=Contestant(name, epoch(opt, lr, w), units=w))
          for name, opt, lr in oo.OPTIMIZERS]
    notes = []
    res, ratios = race(cs, args, notes)
    base = cs[0].lib
    tab = Table("1. Online optimisers (batch 1), one epoch: MNIST 784-300-10 "
                "tanh/softmax, [0, 1] inputs, float32, 1 thread",
                ["optimizer", "time / sample", "samples/s",
                 f"time / {base}'s (paired)", "target", "met"])
    targets = {"momentum": 2.0, "adam": 2.0}
    for name, t in res.items():
        r = ratios.get(name)
        goal = targets.get(name)
        tab.add(name, fmt_time(t), fmt_num(1 / t if t > 0 else None),
                "—" if name == base else (f"{r:.2f}×" if r is not None else "—"),
                f"≤ {goal:g}×" if goal else "—",
                verdict(r, goal, higher=False) if goal else "—")
    tab.note("threads: pynn 1 (n_threads=1), BLAS 1")
    for text in notes:
        tab.note(text)
    tab.note(f"data: {source}, first {n} training images, pixels / 255; "
             + ", ".join(f"{name} lr {lr:g}" for name, _, lr in oo.OPTIMIZERS)
             + "; shuffle=False; a fresh model (seed 0) per run")
    tab.note("ratio: median over repeats of (optimiser epoch / the adjacent "
             f"{base} epoch); a step of momentum or Adam reads and writes "
             "every parameter and its state (issue 15, item 3), and Adam "
             "also takes a correctly rounded square root and division per "
             "parameter: on a 2-core AMD EPYC its update pass ran at the "
             "same speed on rows held in L1 as on rows from L3, so the "
             "divider, not memory, bounds it there")
    return tab


def gemm_rates(sizes, B, repeats, step_threads):
    """(sgemm 1024³ GFLOP/s, GFLOP/s of the step's own gemms at batch B on
    `step_threads` threads, or None without threadpoolctl)."""
    rng = np.random.default_rng(0)
    A = rng.random((1024, 1024), dtype=np.float32)
    C = rng.random((1024, 1024), dtype=np.float32)
    peak = 2 * 1024 ** 3 / best_of(lambda: A @ C, repeats) / 1e9
    Ws = [rng.random((b, a), dtype=np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    Zs = [rng.random((B, a), dtype=np.float32) for a in sizes]

    def step_gemms():                   # forward, dW and dX products of a step
        for l, W in enumerate(Ws):
            Zs[l] @ W.T
            Zs[l + 1].T @ Zs[l]
            if l:
                Zs[l + 1] @ W
    flops = B * (3 * mlp_flops(sizes) - 2 * sizes[0] * sizes[1])
    if threadpoolctl is None:
        return peak, None
    with threadpoolctl.threadpool_limits(step_threads, user_api="blas"):
        t = best_of(step_gemms, repeats, inner=max(1, 512 // B))
    return peak, flops / t / 1e9


def w_minibatch(args, threads):
    tables = []
    sizes = [784, 256, 256, 10]
    n = 2048 if args.quick else 10000
    X, y = classification_data(n, 784, seed=1)
    flops = 3 * mlp_flops(sizes)                 # forward + backward + update
    for B in (32, 256, 1024):
        notes = []
        # NumPy's gemms of one step run on the peers' thread count.
        step_threads = args.threads
        peak, same = gemm_rates(sizes, B, 3, step_threads)
        cs = training_contestants(sizes, "relu", X, y, B, 0.01,
                                  {"sklearn": n, "torch": n, "numpy": n},
                                  notes=notes)
        res, ratios = race(cs, args, notes)
        t = res.get("pynn")
        gf = flops / t / 1e9 if t else float("nan")
        targets = {"torch": (1.0, "≥ 1.0×"), "sklearn": (1.5, "≥ 1.5×"),
                   **OWN}
        extra = [("sgemm 1024³ (NumPy)", "—", "—", f"{peak:.3g}",
                  f"pynn at {100 * gf / peak:.0f} %", "≥ 70 %",
                  verdict(gf / peak, 0.7)),
                 (f"NumPy gemms of one step, same shapes, {step_threads} "
                  f"thread{'s' if step_threads > 1 else ''}", "—", "—",
                  f"{same:.3g}" if same else "—",
                  f"pynn at {100 * gf / same:.0f} %" if same else "—",
                  "—", "—")]
        notes += [f"data: random {n} × 784, 10 classes; lr 0.01; float32; "
                  "one epoch, no shuffle, every library on all samples",
                  "GFLOP/s counts 6·Σ n_in·n_out per sample (forward + "
                  "backward + update); sgemm measured in the same run",
                  "pynn ran this step on its own threads "
                  f"({_threads.pool_threads()}: chunks of "
                  f"{CHUNK_ROWS(sizes, B)} rows, one BLAS thread each), "
                  f"the peers on {args.threads}",
                  "scikit-learn: MLPClassifier(solver='sgd', momentum=0, "
                  f"alpha=0, batch_size={B}).partial_fit (one epoch)"]
        tables.append(result_table(
            f"2. Mini-batch SGD 784-256-256-10, B = {B}, one epoch",
            "sample", res, ratios, 1, flops, targets, extra_rows=extra,
            notes=notes, threads=threads()))
    return tables


def w_inference(args, threads):
    tables = []
    sizes = [784, 256, 256, 10]
    for B, calls in ((1, 500 if args.quick else 2000), (1024, 5 if args.quick else 20)):
        X, _ = classification_data(B, 784, seed=2)
        notes = []
        model = pynn.MLP(sizes, hidden="relu", output="softmax", seed=0)

        def run_pynn(_, model=model, X=X, calls=calls):
            for _ in range(calls):
                model(X)

        def run_pynn1(_, model=model, X=X, calls=calls):
            with pool_threads(1):
                for _ in range(calls):
                    model(X)
        cs = [Contestant("pynn", run_pynn, units=calls),
              Contestant("pynn1", run_pynn1, units=calls)]
        if torch is not None:
            net, Xt = torch_mlp(sizes, "relu", softmax=True), torch.from_numpy(X)

            def run_torch(_, net=net, Xt=Xt, calls=calls):
                with torch.inference_mode():
                    for _ in range(calls):
                        net(Xt)
            cs.append(Contestant("torch", run_torch, units=calls))
        else:
            notes.append("PyTorch is not installed: skipped.")
        ref = NumpyMLP(sizes, seed=0)

        def run_numpy(_, ref=ref, X=X, calls=calls):
            for _ in range(calls):
                ref.predict(X)
        cs.append(Contestant("numpy", run_numpy, units=calls))
        res, ratios = race(cs, args, notes)
        notes += [f"{calls} calls per run, float32, softmax output included "
                  "in all; pynn: model(X); PyTorch: nn.Sequential under "
                  "torch.inference_mode(); NumPy: NumpyMLP.predict"]
        tables.append(result_table(
            f"3. Inference 784-256-256-10, B = {B}", "call", res, ratios, B,
            B * mlp_flops(sizes), {"torch": (1.0, "≥ 1.0×"), **OWN}, notes=notes,
            threads=threads()))
    return tables


def rules_data(n, d, dtype, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    w = rng.standard_normal(d)
    u = X @ w
    t = (u > 0).astype(np.int64)
    flip = rng.random(n) < 0.05             # not separable: every epoch updates
    t[flip] = 1 - t[flip]
    dd = (u / np.sqrt(d) + 0.1 * rng.standard_normal(n)).astype(dtype)
    return X, t, dd


def marginal(fit, k1, k2):
    """(time of fit(k2) − time of fit(k1)) / (k2 − k1): one epoch."""
    def run(_):
        gc.collect()
        t0 = time.perf_counter()
        fit(k1)
        t1 = time.perf_counter()
        fit(k2)
        t2 = time.perf_counter()
        return ((t2 - t1) - (t1 - t0)) / (k2 - k1)
    return run


def w_rules(args, threads):
    if pynn_rules is None:
        tab = Table("4. Perceptron and LMS epochs", ["library", "time / epoch"])
        tab.note(f"skipped: pynn.rules is not available ({RULES_ERROR})")
        return [tab]
    tables = []
    n, d = (20000 if args.quick else 100000), 100
    k1, k2 = 1, 4
    for dtype in (np.float32, np.float64):
        X, t, dd = rules_data(n, d, dtype)
        w = np.ones(d, dtype)
        dname = np.dtype(dtype).name
        for rule in ("Perceptron", "LMS"):
            notes = []
            if rule == "Perceptron":
                def fit_pynn(k):
                    pynn_rules.Perceptron(lr=1.0, max_epochs=k,
                                          dtype=dname).fit(X, t)

                def fit_sk(k):
                    SkPerceptron(max_iter=k, tol=None, shuffle=False,
                                 eta0=1.0).fit(X, t)
                sk_text = ("Perceptron(max_iter=k, tol=None, shuffle=False, "
                           "eta0=1)")
            else:
                def fit_pynn(k):
                    pynn_rules.LMS(lr=1e-3, epochs=k, dtype=dname).fit(X, dd)

                def fit_sk(k):
                    SGDRegressor(loss="squared_error", penalty=None,
                                 max_iter=k, tol=None, shuffle=False,
                                 learning_rate="constant", eta0=1e-3).fit(X, dd)
                sk_text = ("SGDRegressor(loss='squared_error', penalty=None, "
                           "max_iter=k, tol=None, shuffle=False, "
                           "learning_rate='constant', eta0=1e-3)")
            cs = [Contestant("pynn", marginal(fit_pynn, k1, k2))]
            if sklearn is not None:
                def fit_sk_quiet(k, fit_sk=fit_sk):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        fit_sk(k)
                cs.append(Contestant("sklearn", marginal(fit_sk_quiet, k1, k2)))
            else:
                notes.append("scikit-learn is not installed: skipped.")

            def xw(_, X=X, w=w):
                for _ in range(10):
                    X @ w
            cs.append(Contestant("numpy", xw, units=10))
            res, ratios = race(cs, args, notes)
            if "numpy" in res:
                res["one X @ w pass"] = res.pop("numpy")
                ratios["one X @ w pass"] = ratios.pop("numpy", None)
            targets_text = ("{0,1} targets of a linear rule, 5 % flipped "
                            "(never converges)" if rule == "Perceptron"
                            else "linear targets + noise")
            notes += [f"data: {n} × {d} {dname}, standard normal; "
                      f"{targets_text}",
                      f"epoch time is marginal: (fit with {k2} epochs − fit "
                      f"with {k1}) / {k2 - k1}, so validation and setup "
                      "cancel", f"scikit-learn: {sk_text}",
                      "'one X @ w pass': NumPy gemv over X (memory-bound "
                      "floor); target: a pynn epoch ≤ 2× it, i.e. "
                      "speed-up ≥ 0.5×"]
            tables.append(result_table(
                f"4. {rule} epoch, {n} × {d} {dname}", "epoch", res, ratios,
                n, None,
                {"sklearn": (3, "≥ 3×"), "one X @ w pass": (0.5, "≥ 0.5×")},
                notes=notes, threads=threads()))
    return tables


def memory_child(n, epochs, batch):
    """Runs in a subprocess: a 10-epoch fit, RSS and tracemalloc figures."""
    import tracemalloc
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    def hwm():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    sizes = [784, 256, 10]
    # Warm up the library (BLAS buffers, code pages) on tiny data first.
    Xw, yw = classification_data(512, 784)
    pynn.Trainer(pynn.MLP(sizes, "relu", "softmax", seed=0), "cross_entropy",
                 batch_size=batch, epochs=1).fit(Xw, yw)
    del Xw, yw
    gc.collect()
    base = rss()
    src = mnist_dir()
    data = None
    if src is not None:
        try:
            from pynn.datasets import load_mnist
            X, y = load_mnist(src, "train")
            X, y = X[:n].astype(np.float32), y[:n].copy()   # copies: frees the rest
            data = f"MNIST from {src}"
        except Exception as exc:               # noqa: BLE001
            data = f"random (MNIST unreadable: {exc})"
    if data is None or data.startswith("random"):
        X, y = classification_data(n, 784)
        data = data or "random (no MNIST directory found)"
    gc.collect()
    try:                         # hand the loader's freed heap back to the OS
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    model = pynn.MLP(sizes, "relu", "softmax", seed=0)
    per_epoch = []
    trainer = pynn.Trainer(model, "cross_entropy", optimizer="sgd", lr=0.05,
                           batch_size=batch, epochs=epochs, shuffle=True,
                           seed=0,
                           callbacks=[lambda e, logs, tr: per_epoch.append(rss())])
    try:                                         # reset the peak (Linux ≥ 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    before = rss()
    tracemalloc.start()
    t0 = time.perf_counter()
    hist = trainer.fit(X, y)
    elapsed = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({
        "data": data, "n": int(X.shape[0]), "batch": batch, "epochs": epochs,
        "base": base, "before": before, "peak": hwm(), "peak_reset": reset,
        "traced_peak": traced_peak, "per_epoch": per_epoch,
        "dataset": int(X.nbytes + y.nbytes), "model": int(model.params.nbytes),
        "activations": int(2 * batch * sum(sizes) * X.itemsize),
        "seconds": elapsed, "final_loss": float(hist.loss[-1])}))


def w_memory(args, threads):
    n = 10000 if args.quick else 60000
    epochs, batch = 10, 128
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child",
           f"{n},{epochs},{batch}", "--threads", "1"]
    tab = Table(f"5. Memory: 10-epoch fit of 784-256-10, batch {batch}",
                ["quantity", "value", "target", "met"])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tab.note(f"the subprocess failed: {proc.stderr.strip()[-500:]}")
        return [tab]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = r["dataset"] + 2 * r["model"] + r["activations"]
    used = r["peak"] - r["base"]
    growth = r["per_epoch"][-1] - r["per_epoch"][0]
    tab.add("dataset (X float32 + y)", fmt_bytes(r["dataset"]), "—", "—")
    tab.add("model parameters (×2: params + grads)",
            f"{fmt_bytes(r['model'])} (×2 = {fmt_bytes(2 * r['model'])})",
            "—", "—")
    tab.add("one batch of activations (u and z of every layer)",
            fmt_bytes(r["activations"]), "—", "—")
    tab.add("**expected**: dataset + 2× model + activations",
            fmt_bytes(expected), "—", "—")
    tab.add("**peak RSS during fit** − RSS of the warmed-up interpreter",
            fmt_bytes(used), "≤ 1.25 × expected + 8 MiB",
            verdict(used, 1.25 * expected + 8 * 2**20, higher=False))
    tab.add("… of which the loaded data (RSS before fit − interpreter)",
            fmt_bytes(r["before"] - r["base"]), "—", "—")
    tab.add("… of which fit's own (peak − RSS before fit)",
            fmt_bytes(r["peak"] - r["before"]), "—", "—")
    tab.add("peak of NumPy/Python allocations in fit (tracemalloc)",
            fmt_bytes(r["traced_peak"]), "—", "—")
    tab.add("absolute: interpreter + libraries / peak",
            f"{fmt_bytes(r['base'])} / {fmt_bytes(r['peak'])}", "—", "—")
    tab.add("RSS after each epoch (MiB)", ", ".join(
        f"{x / 2**20:.1f}" for x in r["per_epoch"]), "—", "—")
    tab.add("growth, epoch 1 → last", fmt_bytes(growth), "< 1 MiB",
            verdict(growth, 2**20, higher=False))
    tab.note(f"data: {r['data']}, {r['n']} samples; {r['epochs']} epochs "
             f"took {r['seconds']:.1f} s in a subprocess (final loss "
             f"{r['final_loss']:.3f}); Trainer(optimizer='sgd', shuffle=True); "
             "1 BLAS thread (memory is measured here, not speed)")
    tab.note("peak is VmHWM after resetting it just before fit"
             if r["peak_reset"] else
             "peak is ru_maxrss (could not reset it: includes data loading)")
    return [tab]


def rounds(args, cases):
    """{key: [s/unit, …]}: round-robin over the cases after one warm-up
    run, up to args.repeats rounds while within args.budget seconds."""
    out = {key: [] for key, _ in cases}
    time_once(cases[0][1], 0.05)                 # warm-up: the smallest case
    t0 = time.perf_counter()
    for r in range(args.repeats):
        for key, c in cases:
            out[key].append(time_once(c, 0.05))
        per_round = (time.perf_counter() - t0) / (r + 1)
        if time.perf_counter() - t0 + per_round > args.budget:
            break
    return out


def w_scaling(args, threads):
    tables = []
    B = 64
    ns = [1000, 2000, 4000] if args.quick else [2000, 4000, 8000, 16000]
    Xall, yall = classification_data(max(ns), 784, seed=4)
    sizes = [784, 128, 10]      # one BLAS thread at B=64: no thread noise
    per = rounds(args, [(n, Contestant("pynn", *pynn_epoch(
        sizes, "relu", Xall[:n], yall[:n], B, 0.01)[::-1])) for n in ns])
    tab = Table(f"6a. Scaling with samples: pynn 784-128-10, B = {B}, one epoch",
                ["samples", "epoch time", "µs / sample", "GFLOP/s",
                 "per-sample time / median over n", "target", "met"])
    t0 = statistics.median(statistics.median(per[n]) / n for n in ns)
    flops = 3 * mlp_flops(sizes)
    for n in ns:
        t = statistics.median(per[n])
        rel = (t / n) / t0
        tab.add(n, fmt_time(t), f"{t / n * 1e6:.3g}", f"{flops * n / t / 1e9:.3g}",
                f"{rel:.2f}", "0.75–1.25 (linear)", verdict(abs(rel - 1), 0.25,
                                                            higher=False))
    tab.note(threads())
    tables.append(tab)

    n = 2000 if args.quick else 4000
    X, y = Xall[:n], yall[:n]
    widths = [32, 64, 128, 256, 512, 1024]
    per_w = rounds(args, [(h, Contestant("pynn", *pynn_epoch(
        [784, h, 10], "relu", X, y, B, 0.01)[::-1])) for h in widths])
    tab = Table(f"6b. Scaling with width: pynn 784-h-10, B = {B}, {n} samples",
                ["h", "epoch time", "µs / sample", "GFLOP/s", "time / h (ns)"])
    for h in widths:
        t = statistics.median(per_w[h])
        tab.add(h, fmt_time(t), f"{t / n * 1e6:.3g}",
                f"{3 * mlp_flops([784, h, 10]) * n / t / 1e9:.3g}",
                f"{t / h * 1e9 / n:.3g}")
    tab.note("pynn splits a batch into chunks of at least "
             f"{CHUNK_FLOPS / 1e6:g} MFLOP on its own threads (one BLAS "
             "thread each); a batch of one chunk runs on one thread")
    tab.note(threads())
    tables.append(tab)

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        a1.plot(ns, [statistics.median(per[n]) for n in ns], "o-")
        a1.set(xlabel="samples", ylabel="epoch time (s)",
               title="784-128-10, B=64")
        a2.plot(widths, [statistics.median(per_w[h]) for h in widths], "o-")
        a2.set(xlabel="hidden width h", ylabel="epoch time (s)", xscale="log",
               yscale="log", title=f"784-h-10, B=64, n={n}")
        fig.tight_layout()
        out_dir = os.path.dirname(os.path.abspath(args.markdown)) \
            if args.markdown else os.getcwd()
        path = os.path.join(out_dir, "bench-scaling.png")
        fig.savefig(path, dpi=100)
        tables[-1].note(f"plot: {path}")
    except ImportError:
        tables[-1].note("matplotlib is not installed: no plot")
    return tables


RUNNERS = {"online": w_online, "minibatch": w_minibatch,
           "inference": w_inference, "rules": w_rules, "memory": w_memory,
           "scaling": w_scaling}


# --------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Compare pynn with PyTorch, scikit-learn and NumPy in one "
                    "process (run under `env -u OPENBLAS_CORETYPE -u "
                    "OPENBLAS_L2_SIZE`).")
    p.add_argument("--workloads", default="all",
                   help="comma list of names or numbers: " + ", ".join(
                       f"{i + 1}={w}" for i, w in enumerate(WORKLOADS))
                   + " (default all)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch and BLAS threads (default 2)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per case, median reported "
                        "(default 5, 3 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes: a smoke run")
    p.add_argument("--pause", type=float, default=0.2,
                   help="seconds of sleep between libraries (default 0.2)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per case before repeats are cut (default "
                        "25, 8 with --quick)")
    p.add_argument("--busy", action="store_true",
                   help="run a competing CPU-bound process (one core) for "
                        "the whole run")
    p.add_argument("--markdown", metavar="FILE",
                   help="also write the tables to FILE")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be ≥ 1")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.budget is None:
        args.budget = 8.0 if args.quick else 25.0
    if args.repeats < 1:
        p.error("--repeats must be ≥ 1")
    if args.workloads == "all":
        args.workloads = list(WORKLOADS)
    else:
        chosen = []
        for w in args.workloads.split(","):
            w = w.strip()
            if w.isdigit() and 1 <= int(w) <= len(WORKLOADS):
                w = WORKLOADS[int(w) - 1]
            if w not in WORKLOADS:
                p.error(f"unknown workload {w!r}; choose from "
                        f"{', '.join(WORKLOADS)} (or 1-{len(WORKLOADS)})")
            if w not in chosen:
                chosen.append(w)
        args.workloads = chosen
    return args


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    if args.memory_child:
        memory_child(*map(int, args.memory_child.split(",")))
        return 0
    for var in OVERRIDES:
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; benchmark a "
                  "user's configuration with `env -u OPENBLAS_CORETYPE -u "
                  "OPENBLAS_L2_SIZE python bench/compare.py`", file=sys.stderr)
    busy = Busy() if args.busy else None
    try:
        return run_all(args)
    finally:
        if busy is not None:
            busy.stop()


def run_all(args):
    start = time.perf_counter()
    out = [header(args)]
    print(out[0], flush=True)
    for w in args.workloads:
        t0 = time.perf_counter()
        for tab in RUNNERS[w](args, thread_summary):
            text = tab.markdown()
            out.append(text)
            print(text, flush=True)
        print(f"({w}: {time.perf_counter() - t0:.0f} s)\n", file=sys.stderr,
              flush=True)
    footer = (f"Total {time.perf_counter() - start:.0f} s; load average "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end.\n")
    out.append(footer)
    print(footer)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
