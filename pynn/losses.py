"""Losses: the name-keyed registry of per-sample losses L_i(y_i, t_i).

Every loss is a per-sample divergence L_i; a batch reports the mean.  The
compiled kernel ``pynn._losses.loss_and_delta`` computes the sum and the
output delta ∂L_i/∂u_i (from the logits, stably, for the canonical pairs).

=========================  =================================  =================
name                       L_i                                canonical output
=========================  =================================  =================
squared_error              ½ ‖y − t‖²                         identity
binary_cross_entropy       −mean_j [t log y + (1−t) log(1−y)] sigmoid
multilabel_cross_entropy   −Σ_j [t log y + (1−t) log(1−y)]    sigmoid
cross_entropy              −Σ_j t_j log y_j                   softmax
=========================  =================================  =================

The cross-entropies need outputs in [0, 1]; pairing them with another output
activation (sigmoid with cross_entropy, say) goes through ∂L/∂y and is
exact too, but only the canonical pairs are stable for huge logits.
"""
from dataclasses import dataclass

from pynn._losses import Loss
from pynn._registry import Registry
from pynn._train import Accuracy


@dataclass(frozen=True)
class LossSpec:
    """A registry entry: the kernel code, the output activation that makes
    the delta exactly y − t, whether outputs and targets must lie in
    [0, 1], whether 1-D class indices are accepted as targets, and how the
    training loops count a correct prediction (``pynn._train.Accuracy``:
    none, argmax y = argmax t, or every (y > ½) = (t > ½))."""
    name: str
    code: int
    canonical_output: str
    probabilistic: bool        # needs outputs and targets in [0, 1]
    class_indices: bool = False  # accepts 1-D class-index targets
    accuracy: int = Accuracy.NO_ACCURACY


LOSSES = Registry("loss")
for _spec in [
    LossSpec("squared_error", Loss.SQUARED_ERROR, "identity", False),
    LossSpec("binary_cross_entropy", Loss.BINARY_CROSS_ENTROPY, "sigmoid",
             True, accuracy=Accuracy.THRESHOLD),
    LossSpec("multilabel_cross_entropy", Loss.MULTILABEL_CROSS_ENTROPY,
             "sigmoid", True, accuracy=Accuracy.THRESHOLD),
    LossSpec("cross_entropy", Loss.CROSS_ENTROPY, "softmax", True,
             class_indices=True, accuracy=Accuracy.ARGMAX),
]:
    LOSSES.register(_spec)


def get_loss(name):
    """Return the registry entry for ``name``; ValueError lists valid names."""
    if isinstance(name, LossSpec):
        return name
    return LOSSES.lookup(name, "loss")


def check_training_pair(loss, output_activation, n_outputs):
    """``check_pair``, and refuse the pairs that train silently to nonsense.

    cross_entropy, −Σ_j t_j log y_j, assumes the outputs form one
    distribution (Σ_j y_j = 1, as softmax makes them).  With independent
    outputs (several sigmoid units, say) every y_j → 1 minimises it whatever
    the targets, and with a single unit it ignores the samples with t = 0:
    both are refused, naming the loss or output that fits.
    """
    check_pair(loss, output_activation)
    if loss.name != "cross_entropy" or output_activation.name == "softmax":
        return
    if n_outputs == 1:
        raise ValueError(
            f"loss 'cross_entropy' on a single {output_activation.name!r} "
            "output unit ignores the samples whose target is 0; use "
            "loss='binary_cross_entropy' (with output='sigmoid')")
    raise ValueError(
        f"loss 'cross_entropy' needs outputs that sum to 1, but the "
        f"{n_outputs}-unit output layer is {output_activation.name!r}: every "
        "output would be driven to 1. Use output='softmax' for one class per "
        "sample, or loss='multilabel_cross_entropy' for independent labels")


def check_pair(loss, output_activation):
    """Raise ValueError if the output activation cannot feed the loss."""
    if loss.probabilistic:
        low, high = output_activation.output_range
        if low < 0 or high > 1 or output_activation.name == "step":
            raise ValueError(
                f"loss {loss.name!r} needs outputs in (0, 1), but the output "
                f"activation is {output_activation.name!r}; use "
                f"output={loss.canonical_output!r} (or loss='squared_error')")
