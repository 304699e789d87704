"""The examples in the public docstrings run and print what they say."""

import doctest

import pytest

from fastrnn import _estimators, _forecasting, _language_model, text


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "module", [_estimators, _language_model, _forecasting, text], ids=lambda m: m.__name__
)
def test_estimator_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
