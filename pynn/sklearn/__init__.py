"""scikit-learn estimators backed by pynn's compiled kernels.

Importing this package imports scikit-learn (``pip install pynn[sklearn]``);
``import pynn`` alone never does.

=========================  ===================================================
MLPClassifier              scikit-learn's MLPClassifier, same API and results
MLPRegressor               scikit-learn's MLPRegressor (squared error)
=========================  ===================================================
"""
try:
    import sklearn  # noqa: F401
except ImportError as exc:                      # pragma: no cover
    raise ImportError("pynn.sklearn needs scikit-learn: pip install "
                      "'pynn[sklearn]'") from exc

from pynn.sklearn._mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
