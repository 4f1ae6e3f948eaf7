"""scikit-learn's own estimator checks on every pynn.sklearn estimator, with
default parameters and no expected failures."""
import pytest

pytest.importorskip("sklearn", minversion="1.7")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import pynn.sklearn as ps  # noqa: E402

ESTIMATORS = [ps.MLPClassifier(), ps.MLPRegressor(), ps.Perceptron(),
              ps.Adaline(), ps.LMSRegressor(), ps.GeneralizedDeltaRegressor(),
              ps.Hebbian(), ps.AutoencoderTransformer()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
