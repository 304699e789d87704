"""The examples in the public docstrings run and print what they say."""

import doctest
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import _estimators, _forecasting, _language_model, callbacks, text


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "module",
    [fastrnn, _estimators, _language_model, _forecasting, callbacks, text],
    ids=lambda m: m.__name__,
)
def test_estimator_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


ROOT = Path(__file__).resolve().parents[2]


def _readme_section(title):
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("\n```", 1)[0] for block in section.split("```python\n")[1:]]


def _rst_code_blocks(page):
    """The ``.. code-block:: python`` bodies of a page of docs/, dedented."""
    blocks = []
    for part in (ROOT / "docs" / page).read_text().split(".. code-block:: python\n")[1:]:
        body = []
        for line in part.split("\n")[1:]:  # [0]: the blank line after the directive
            if line and not line.startswith("   "):
                break
            body.append(line[3:])
        blocks.append("\n".join(body).strip("\n"))
    return blocks


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_keras_and_pytorch_recipes_run_and_learn():
    keras_recipe, torch_loop = _readme_section("Coming from Keras or PyTorch")
    scope = {}
    exec(keras_recipe, scope)
    assert scope["mse"] < 0.02  # the noise alone is 0.0025
    assert len(scope["model"].validation_scores_) == scope["model"].n_iter_
    scope = {}
    exec(torch_loop, scope)
    assert scope["loss"] < 0.01 * np.var(scope["y"]) + 1e-4


def test_docs_keras_and_pytorch_recipes_are_the_readmes():
    # The docs page shows the same two recipes the README runs above, character for character.
    readme = [block.strip("\n") for block in _readme_section("Coming from Keras or PyTorch")]
    assert _rst_code_blocks("coming_from_keras_pytorch.rst") == readme
