"""Fixtures shared by the test folders (helpers live in ``tests/helpers.py``)."""

import pytest

from tests.helpers import CELLS


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param
