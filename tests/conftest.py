"""Fixtures shared by the test folders (helpers live in ``tests/helpers.py``)."""

import os

import pytest

from tests.helpers import CELLS


def pytest_report_header(config):
    import fastrnn
    from fastrnn._kernels import backends

    where = os.path.dirname(fastrnn.__file__)
    return f"fastrnn {fastrnn.__version__} from {where}; backends {backends()}"


def pytest_configure(config):
    # .ci/wheel runs the tests against installed builds, FASTRNN_TEST_INSTALLED
    # naming the backend that should serve there ("cython" for a wheel, "numba"
    # for an install without a compiler): make sure they import that install,
    # not a source tree on the path.
    expected = os.environ.get("FASTRNN_TEST_INSTALLED")
    if expected:
        import fastrnn
        from fastrnn._kernels import backends

        where = os.path.dirname(fastrnn.__file__)
        if "site-packages" not in where:
            raise pytest.UsageError(f"testing an installed fastrnn, but it comes from {where}")
        if backends()[0] != expected:
            raise pytest.UsageError(
                f"testing an install served by {expected!r}, but it has {backends()}"
            )


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param
