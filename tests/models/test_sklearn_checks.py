"""scikit-learn's own estimator checks over both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastrnn import RNNClassifier, RNNRegressor

SAMPLE_WEIGHT_REASON = (
    "minibatch Adam cannot make integer weights equal repeated rows exactly "
    "(the batches differ); scikit-learn's MLP declares the same"
)
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON,
}


@parametrize_with_checks(
    [RNNRegressor(random_state=0), RNNClassifier(random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
