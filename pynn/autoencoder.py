"""Autoencoders and stacked greedy layer-wise pretraining (Bengio et al.,
2007).

An autoencoder learns the identity through a bottleneck: an encoder
x ↦ c (widths d_0 → … → d_k) and a mirrored decoder c ↦ x̂ (d_k → … → d_0),
trained by the ordinary Trainer with the inputs as targets (loss
"squared_error", or "binary_cross_entropy" for data in [0, 1]).  Variants:
tied weights (decoder W = encoderᵀ), a sparsity penalty on the code,
dropout / Gaussian-noise input corruption (denoising).

Stacked pretraining trains one shallow autoencoder per layer, each on the
previous one's code; ``MLP.from_encoders`` then stacks the encoders under a
softmax head for fine-tuning.
"""
import copy
import inspect

import numpy as np

from pynn._validation import as_float_array, check_positive
from pynn.layers import Dense
from pynn.model import Model, _size_list
from pynn.regularization import Dropout, GaussianNoise
from pynn.trainer import Trainer


class Autoencoder(Model):
    """Encoder d_0 → … → d_k and mirrored decoder d_k → … → d_0.

    Parameters
    ----------
    sizes : list of int
        Encoder widths [d_0, d_1, …, d_k]; d_k is the code.
    hidden : str
        Activation of every encoder layer and of the decoder's hidden
        layers (default "sigmoid").
    output : str
        Activation of the reconstruction (default "sigmoid", for data in
        [0, 1] with binary_cross_entropy; "identity" for squared_error on
        unbounded data).
    tied : bool
        Decoder weights are the encoder's transposed (one shared matrix per
        pair; the gradient is the sum of both uses).
    sparsity : pynn.KLSparsity or pynn.L1Activity, optional
        Activity penalty on the code layer.
    input_dropout, input_noise : float
        Denoising: masking (inverted dropout) rate and Gaussian noise σ on
        the input, in training only.
    code_dropout : float
        Dropout on the code, in training only.
    dtype, seed, init
        As for Model.
    """

    def __init__(self, sizes, hidden="sigmoid", output="sigmoid", tied=False,
                 sparsity=None, input_dropout=0.0, input_noise=0.0,
                 code_dropout=0.0, dtype="float32", seed=None,
                 init="glorot_normal"):
        given, sizes = sizes, _size_list(sizes) or []
        if len(sizes) < 2:
            raise ValueError("sizes must list at least [n_inputs, code_size], "
                             f"got {given!r}")
        k = len(sizes) - 1
        stack = []
        if input_dropout:
            stack.append(Dropout(input_dropout))
        if input_noise:
            stack.append(GaussianNoise(input_noise))
        encoder = [Dense(sizes[i], sizes[i + 1], hidden,
                         activity_regularizer=sparsity if i == k - 1 else None)
                   for i in range(k)]
        stack += encoder
        if code_dropout:
            stack.append(Dropout(code_dropout))
        for j, i in enumerate(range(k, 0, -1)):
            stack.append(Dense(sizes[i], sizes[i - 1],
                               output if i == 1 else hidden,
                               tied_to=encoder[i - 1] if tied else None))
        super().__init__(stack, dtype=dtype, seed=seed, init=init)
        self.code_size = sizes[-1]
        self.n_encoder_layers = k
        self.tied = bool(tied)
        self.history_ = None

    def _extra_architecture(self):
        return {"autoencoder": {"n_encoder_layers": self.n_encoder_layers,
                                "tied": self.tied}}

    @classmethod
    def _extra_attributes(cls, arch, dense):
        extra = arch.get("autoencoder")
        k = extra.get("n_encoder_layers") if isinstance(extra, dict) else None
        if isinstance(k, bool) or not isinstance(k, int) \
                or not 1 <= k < len(dense):
            raise ValueError("an Autoencoder architecture needs "
                             "'autoencoder': {'n_encoder_layers': k} with "
                             f"1 ≤ k < {len(dense)}, got {extra!r}")
        return {"n_encoder_layers": k, "code_size": dense[k - 1].n_out,
                "tied": bool(extra.get("tied", False)), "history_": None}

    @property
    def encoder_layers(self):
        return self.layers[:self.n_encoder_layers]

    @property
    def decoder_layers(self):
        return self.layers[self.n_encoder_layers:]

    def encode(self, X):
        """The code c of each row of X (inference: no noise or dropout)."""
        return self._forward_range(X, 0, self.n_encoder_layers)

    def decode(self, C):
        """The reconstruction from codes C (n_samples, code_size)."""
        return self._forward_range(C, self.n_encoder_layers, len(self.layers),
                                   name="C")

    def reconstruct(self, X):
        """decode(encode(X)), in one pass."""
        return self.forward(X)


def pretrain_stack(X, sizes, hidden="sigmoid", loss=None, tied=False,
                   sparsity=None, input_dropout=0.0, input_noise=0.0,
                   optimizer="adam", lr=1e-3, batch_size=32, epochs=10,
                   dtype="float32", seed=0, verbose=0, **trainer_kwargs):
    """Greedy layer-wise pretraining of a stack of autoencoders.

    For widths [d_0, d_1, …, d_k], trains an autoencoder d_{i−1} → d_i →
    d_{i−1} (stage i = 1 … k) on the codes c_{i−1} of the previous one
    (c_0 = X), minimising the mean reconstruction loss
    (1/n) Σ_j L(x̂_j, c_{i−1,j}) with c_{i−1} as its own target, and returns
    the k trained autoencoders.  Each has ``history_`` (its Trainer
    History) and ``stage_loss_`` = (reconstruction loss before training,
    after training) on its own input.

    ``loss`` defaults to "binary_cross_entropy" with sigmoid outputs when
    the stage's input lies in [0, 1], else "squared_error" with identity
    outputs.  Pass the result to ``pynn.MLP.from_encoders`` to build a
    classifier for fine-tuning.

    Parameters
    ----------
    optimizer, lr, batch_size, epochs, verbose
        As for ``pynn.Trainer``; every stage uses them (an optimiser
        instance is copied per stage, so stages share no state).
    seed : int or None
        Stage i's weights, shuffling and masks use ``seed + i``.
    **trainer_kwargs
        Any other option of ``pynn.Trainer`` (``n_threads``, ``momentum``,
        ``beta1``, ``beta2``, ``eps``, ``l2``, ``clip_norm``,
        ``lr_schedule``, ``schedule_params``, ``tol``, ``n_iter_no_change``,
        ``grad_tol``, ``early_stopping``, ``validation_fraction``,
        ``patience``, ``min_delta``, ``callbacks``, ``shuffle``,
        ``checkpoint_path``, ``checkpoint_every``, ``comm``), passed on to
        every stage's Trainer.  Callbacks run in every stage (``epoch``
        restarts at 0; ``trainer.model`` is the stage's autoencoder).  With
        more than one stage, ``checkpoint_path`` must contain ``{stage}``,
        replaced by the stage's number 1 … k.

    Raises
    ------
    TypeError
        For a keyword that is not a Trainer option (named in the message).
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least two widths, got {sizes!r}")
    _check_trainer_kwargs(trainer_kwargs, n_stages=len(sizes) - 1)
    codes = as_float_array(X, "X", np.dtype(dtype).type, allow_empty=False)
    if codes.shape[1] != sizes[0]:
        raise ValueError(f"X has {codes.shape[1]} features, sizes[0] is {sizes[0]}")
    check_positive(epochs, "epochs", integer=True)
    stages = []
    for i in range(1, len(sizes)):
        unit = codes.min() >= 0 and codes.max() <= 1
        stage_loss = loss or ("binary_cross_entropy" if unit else "squared_error")
        output = "sigmoid" if stage_loss != "squared_error" else "identity"
        ae = Autoencoder([sizes[i - 1], sizes[i]], hidden=hidden, output=output,
                         tied=tied, sparsity=sparsity,
                         input_dropout=input_dropout, input_noise=input_noise,
                         dtype=dtype, seed=None if seed is None else seed + i)
        before = ae.loss(codes, codes, stage_loss)
        trainer = Trainer(ae, loss=stage_loss,
                          optimizer=copy.deepcopy(optimizer), lr=lr,
                          batch_size=batch_size, epochs=epochs,
                          seed=None if seed is None else seed + i,
                          verbose=verbose, **_stage_kwargs(trainer_kwargs, i))
        ae.history_ = trainer.fit(codes, codes)
        ae.stage_loss_ = (before, ae.loss(codes, codes, stage_loss))
        ae.loss_name_ = stage_loss
        stages.append(ae)
        codes = ae.encode(codes)
    return stages


def _check_trainer_kwargs(kwargs, n_stages):
    """TypeError naming any keyword that is not a Trainer option
    pretrain_stack passes on; ValueError for a checkpoint path that stages
    would overwrite."""
    allowed = sorted(set(inspect.signature(Trainer).parameters) - _OWN - {"model"})
    for name in kwargs:
        if name == "model":
            raise TypeError("pretrain_stack() builds each stage's model "
                            "itself; 'model' cannot be passed on to Trainer")
        if name not in allowed:
            raise TypeError(f"pretrain_stack() got an unexpected keyword "
                            f"argument {name!r}; the Trainer options it "
                            f"passes on are: {', '.join(allowed)}")
    path = kwargs.get("checkpoint_path")
    if path is not None and n_stages > 1 and "{stage}" not in str(path):
        raise ValueError(f"checkpoint_path={str(path)!r} would be overwritten "
                         f"by each of the {n_stages} stages; put '{{stage}}' "
                         f"in it (e.g. 'stage-{{stage}}.ckpt'), replaced by "
                         f"the stage's number")


def _stage_kwargs(kwargs, stage):
    """Stage ``stage``'s Trainer options: its own checkpoint path."""
    out = dict(kwargs)
    if out.get("checkpoint_path") is not None:
        out["checkpoint_path"] = str(out["checkpoint_path"]).replace(
            "{stage}", str(stage))
    return out


# pretrain_stack's own parameters that are also Trainer options.
_OWN = {"loss", "optimizer", "lr", "batch_size", "epochs", "seed", "verbose"}
