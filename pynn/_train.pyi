"""Compiled training loops (csrc/_train.pyx)."""
import enum
from pynn._network import Layout

class Optimizer(enum.IntEnum):
    SGD: int
    MOMENTUM: int
    NESTEROV: int
    ADAM: int

class Accuracy(enum.IntEnum):
    NO_ACCURACY: int
    ARGMAX: int
    THRESHOLD: int

def run_batches(layout: Layout, params, grads, X, T, order, start: int, stop: int,
                batch_size: int, loss: int, accuracy: int, optimizer: int,
                lr: float, momentum: float, beta1: float, beta2: float,
                eps: float, l2: float, clip_norm: float, state1, state2,
                step: int, work, x_buf, t_buf,
                seed: int | None = ...) -> tuple[float, int, int, int, int]: ...
def evaluate(layout: Layout, params, X, T, loss: int, accuracy: int, chunk: int,
             work) -> tuple[float, int]: ...
