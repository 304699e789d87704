"""A fitted estimator's HTML repr ("?" in a notebook) links to its reference page."""

import pytest
from sklearn.utils import estimator_html_repr

import fastrnn


@pytest.mark.parametrize(
    "estimator, path",
    [
        (fastrnn.RNNRegressor(), "fastrnn.RNNRegressor"),
        (fastrnn.RNNClassifier(), "fastrnn.RNNClassifier"),
        (fastrnn.RNNForecaster(), "fastrnn.RNNForecaster"),
        (fastrnn.RNNLanguageModel(), "fastrnn.RNNLanguageModel"),
        (fastrnn.TextTokenizer(), "fastrnn.TextTokenizer"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_repr_links_to_the_estimators_reference_page(estimator, path):
    version = "latest" if "dev" in fastrnn.__version__ else fastrnn.__version__
    url = f"https://fastrnn.readthedocs.io/en/{version}/api/generated/{path}.html"
    assert estimator._get_doc_link() == url
    assert f'href="{url}"' in estimator_html_repr(estimator)


def test_the_dask_estimators_link_to_their_module():
    pytest.importorskip("dask")
    from fastrnn.dask import DaskRNNClassifier

    assert (
        DaskRNNClassifier()
        ._get_doc_link()
        .endswith("/api/generated/fastrnn.dask.DaskRNNClassifier.html")
    )
