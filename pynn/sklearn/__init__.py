"""scikit-learn estimators backed by pynn's compiled kernels.

Importing this package imports scikit-learn (``pip install pynn[sklearn]``);
``import pynn`` alone never does.

=========================  ===================================================
MLPClassifier              scikit-learn's MLPClassifier, same API and results
MLPRegressor               scikit-learn's MLPRegressor (squared error)
Perceptron                 Rosenblatt's rule, one-vs-rest for several classes
Adaline                    the LMS rule on ±1 targets (classifier)
LMSRegressor               the LMS (Widrow–Hoff) rule for linear units
GeneralizedDeltaRegressor  the generalized delta rule (sigmoid/tanh units)
Hebbian                    Oja's rule as a transformer (``components_``)
AutoencoderTransformer     pynn.Autoencoder: transform / inverse_transform
RBFRegressor               pynn.RBFNetwork, linear output (squared error)
RBFClassifier              pynn.RBFNetwork, softmax output (cross-entropy)
=========================  ===================================================
"""
try:
    import sklearn  # noqa: F401
except ImportError as exc:                      # pragma: no cover
    raise ImportError("pynn.sklearn needs scikit-learn: pip install "
                      "'pynn[sklearn]'") from exc

from pynn.sklearn._mlp import MLPClassifier, MLPRegressor
from pynn.sklearn._rules import (Adaline, AutoencoderTransformer,
                                 GeneralizedDeltaRegressor, Hebbian,
                                 LMSRegressor, Perceptron)
from pynn.sklearn._rbf import RBFClassifier, RBFRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "Perceptron", "Adaline",
           "LMSRegressor", "GeneralizedDeltaRegressor", "Hebbian",
           "AutoencoderTransformer", "RBFRegressor", "RBFClassifier"]
