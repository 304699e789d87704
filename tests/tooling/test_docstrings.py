"""Every public docstring passes numpydoc's validation.

The public objects are the names in ``fastrnn.__all__`` (the submodules ``nn``
and ``optim`` by their own ``__all__``), the public classes and functions of
``fastrnn.callbacks``, ``fastrnn.text``, ``fastrnn.onnx`` and ``fastrnn.dask``,
and the public methods and properties those classes define themselves (what they
inherit from scikit-learn or ``object`` is not ours to document). Each object is
one test, named by its import path, so a failure says which docstring to fix
and lists numpydoc's errors.
"""

import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

# The checks not enforced, in the style of scikit-learn's `numpydoc_validation_checks`.
IGNORED_CHECKS = {
    # The summary starts on the line of the opening quotes (PEP 257's style,
    # the project's throughout); numpydoc's default wants the line after.
    "GL01",
    # An extended summary is written where the summary leaves something to say;
    # a method whose one line says it all needs none.
    "ES01",
    # "See Also" sections are written where a pointer helps, not on every object.
    "SA01",
    # Examples are given on the main entry points (and run by
    # tests/fronts/test_docs.py), not on every method and property.
    "EX01",
}


def _module_names(module):
    """The public names of ``module``: its ``__all__``, or those defined in it."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__
        ]
    return [name for name in names if name != "__version__"]


def _own_members(cls):
    """The public methods and properties ``cls`` defines or inherits from fastrnn."""
    seen = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("fastrnn"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if inspect.isfunction(member) or isinstance(member, property):
                seen[name] = member
    return dict(sorted(seen.items()))


def _public_objects():
    """Import paths of every public class, function, method and property.

    An object reachable by several paths (a method a subclass inherits, a class
    exported twice) is validated once, by the first path found.
    """
    modules = ["fastrnn", "fastrnn.nn", "fastrnn.optim", "fastrnn.callbacks"]
    modules += ["fastrnn.text", "fastrnn.onnx", "fastrnn.dask"]
    paths, seen = [], set()
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a module whose optional dependency is missing
            paths.append(pytest.param(module_name, marks=pytest.mark.skip("needs dask")))
            continue
        for name in _module_names(module):
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue  # nn and optim are walked as modules; constants have no docstring
            if not getattr(obj, "__module__", "").startswith("fastrnn"):
                continue  # a name re-exported from elsewhere
            prefix = f"{module_name}.{name}"
            members = _own_members(obj) if inspect.isclass(obj) else {}
            found = [(prefix, obj)] + [(f"{prefix}.{m}", o) for m, o in members.items()]
            for path, member in found:
                if id(member) in seen:
                    continue
                seen.add(id(member))
                paths.append(path)
    return paths


PUBLIC_OBJECTS = _public_objects()


@pytest.mark.parametrize("import_path", PUBLIC_OBJECTS)
def test_docstring(import_path):
    if import_path.startswith("fastrnn.dask"):
        pytest.importorskip("dask")
    result = numpydoc_validate.validate(import_path)
    errors = [f"{code}: {text}" for code, text in result["errors"] if code not in IGNORED_CHECKS]
    where = f"{import_path} ({result['file']}:{result['file_line']})"
    assert not errors, where + "\n" + "\n".join(errors)
