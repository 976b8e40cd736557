"""The package is a plain module: importing it is cheap, and every module its docstring maps imports."""

import importlib
import subprocess
import sys

import pytest

import rnncourse

MODULES = [
    "reference", "gradcheck", "modules", "topologies", "training", "bptt", "gradients", "sampling", "charlm",
    "captioning", "data", "plots", "widgets", "grade",
]


def test_import_is_cheap():
    code = "import sys, rnncourse; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"], "import rnncourse must not import torch or matplotlib"


@pytest.mark.parametrize("name", MODULES)
def test_every_module_of_the_map_imports_and_has_its_row(name):
    module = importlib.import_module(f"rnncourse.{name}")
    assert f"``{name}``" in rnncourse.__doc__
    assert module.__doc__, f"rnncourse.{name} has no docstring"


def test_the_map_names_no_other_module():
    rows = [line.split()[1] for line in rnncourse.__doc__.splitlines() if line.startswith("- ``")]
    assert rows == [f"``{name}``:" for name in MODULES]


def test_no_generated_export_table():
    assert not hasattr(rnncourse, "_EXPORTS") and not hasattr(rnncourse, "__getattr__")
    with pytest.raises(AttributeError):
        rnncourse.no_such_name  # noqa: B018
