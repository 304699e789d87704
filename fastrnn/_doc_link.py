"""Where an estimator's HTML repr links ("?" in a notebook): its API reference page."""

from fastrnn._version import __version__

DOCS = "https://fastrnn.readthedocs.io/en"


class DocLinked:
    """Link scikit-learn's HTML repr of a fastrnn estimator to its reference page.

    scikit-learn's repr links estimators to scikit-learn's site by default; these
    are its three hooks, pointing at fastrnn's (``docs/``: the API reference pages
    are ``api/generated/<public path>.html``). A release links to its own
    version's pages, a development version to the latest.
    """

    _doc_link_module = "fastrnn"
    _doc_link_template = DOCS + "/{version}/api/generated/{path}.html"

    def _doc_link_url_param_generator(self):
        import fastrnn

        name = type(self).__name__
        # The public path: fastrnn.X for what the package exports, else the
        # public module the class lives in (fastrnn.dask.DaskRNNRegressor).
        module = "fastrnn" if name in fastrnn.__all__ else type(self).__module__
        version = "latest" if "dev" in __version__ else __version__
        return {"version": version, "path": f"{module}.{name}"}
