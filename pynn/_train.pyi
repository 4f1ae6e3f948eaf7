"""Compiled training loops (csrc/_train.pyx)."""
import enum
from pynn._network import Layout

N_OPTIMIZERS: int
N_ACCURACY: int
FLUSHES_SUBNORMALS: bool
N_LOSSES: int

class Optimizer(enum.IntEnum):
    SGD: int
    MOMENTUM: int
    NESTEROV: int
    ADAM: int
    RPROP: int

class Accuracy(enum.IntEnum):
    NO_ACCURACY: int
    ARGMAX: int
    THRESHOLD: int

class Update:
    kind: int
    h0: float
    h1: float
    h2: float
    h3: float
    l2: float
    clip: float
    state1: object
    state2: object
    step: int
    sklearn: bool
    track_penalty: bool
    penalty_sum: float
    fuse_online: bool
    def __init__(self, kind: int, hyper=..., l2: float = ..., clip: float | None = ...,
                 state1=..., state2=..., step: int = ..., sklearn: bool = ...,
                 track_penalty: bool = ..., fuse_online: bool = ...) -> None: ...
    @property
    def needs_gradient(self) -> bool: ...
    def check(self, n_params: int, dtype) -> None: ...

class Batches:
    X: object
    T: object
    weights: object
    order: object
    capacity: int
    def __init__(self, X, T, weights=..., batch_size: int = ...,
                 shuffled: bool = ...) -> None: ...
    def set_order(self, order) -> None: ...

def run_batches(layout: Layout, params, grads, data: Batches, start: int,
                stop: int, batch_size: int, loss: int, accuracy: int,
                update: Update, lr: float, work,
                seed: int | None = ..., n_threads: int = ...,
                scratch: Scratch | None = ..., epochs: int = ...,
                records=..., snapshot=...,
                ceiling: float = ...) -> tuple[float, float, int, int, int]: ...
def gradient(layout: Layout, params, grads, X, T, loss: int, l2: float, work,
             weights=..., seed: int | None = ..., n_threads: int = ...,
             scratch: Scratch | None = ...) -> tuple[float, float]: ...
def step(layout: Layout, params, grads, update: Update, lr: float) -> None: ...
def l2_penalty(layout: Layout, params) -> float: ...
def evaluate(layout: Layout, params, X, T, loss: int, accuracy: int, chunk: int,
             work, n_threads: int = ...,
             scratch: Scratch | None = ...) -> tuple[float, int]: ...

CHUNK_FLOPS: float

class Scratch:
    @property
    def nbytes(self) -> int: ...

def chunk_rows(layout: Layout, batch: int, passes: int = ...) -> int: ...
def weight_blocks(layout: Layout, batch: int) -> list[tuple[int, int, int]]: ...
def split_columns(layout: Layout, batch: int,
                  backward: bool = ...) -> list[int]: ...
def pool_workers() -> int: ...
def predict(layout: Layout, params, X, out, n_threads: int = ...,
            scratch: Scratch | None = ...): ...
