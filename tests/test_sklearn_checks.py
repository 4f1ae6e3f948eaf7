"""scikit-learn's own estimator checks on every pynn.sklearn estimator, with
default parameters and no expected failures."""
import os
import subprocess
import tempfile
import sys

import pytest

pytest.importorskip("sklearn", minversion="1.7")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import pynn.sklearn as ps  # noqa: E402

ESTIMATORS = [ps.MLPClassifier(), ps.MLPRegressor(), ps.Perceptron(),
              ps.Adaline(), ps.LMSRegressor(), ps.GeneralizedDeltaRegressor(),
              ps.Hebbian(), ps.AutoencoderTransformer()]


def _run_with_array_api(estimator, check):
    """scikit-learn runs its array-API check only when SciPy was imported
    with SCIPY_ARRAY_API=1: run it in a fresh interpreter that has it."""
    name = type(estimator).__name__
    code = ("import pynn.sklearn as ps\n"
            "from sklearn.utils.estimator_checks import check_array_api_input\n"
            f"check_array_api_input({name!r}, ps.{name}(), "
            f"**{check.keywords!r})\n")
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env,
                   cwd=tempfile.gettempdir())   # not the checkout's source folder


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    if getattr(check, "func", None) is not None \
            and check.func.__name__ == "check_array_api_input" \
            and os.environ.get("SCIPY_ARRAY_API") is None:
        _run_with_array_api(estimator, check)
    else:
        check(estimator)
