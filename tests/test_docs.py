"""The examples in the public docstrings run and print what they say."""

import doctest

import pytest

from fastrnn import _estimators


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_docstring_examples():
    result = doctest.testmod(_estimators, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
