"""The package's re-export table matches the public names of its modules, and importing it is cheap."""

import importlib
import subprocess
import sys
from pathlib import Path

import rnncourse

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_is_reexported_from_its_module():
    for name, module in rnncourse._EXPORTS.items():
        mod = importlib.import_module(f"rnncourse.{module}")
        assert name in mod.__all__, f"rnncourse.{name} is exported but not in rnncourse.{module}.__all__"
        assert getattr(rnncourse, name) is getattr(mod, name)


def test_export_table_is_up_to_date():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        gen_init = importlib.import_module("gen_init")
    finally:
        sys.path.pop(0)
    current = (ROOT / "src" / "rnncourse" / "__init__.py").read_text()
    assert current == gen_init.render(), "run `.venv/bin/python tools/gen_init.py` to refresh __init__.py"


def test_import_is_lazy():
    code = "import sys, rnncourse; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = done.stdout.split()
    assert out == ["False", "False"], "importing rnncourse must not import torch or matplotlib"


def test_unknown_attribute_raises():
    try:
        rnncourse.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("rnncourse.no_such_name did not raise AttributeError")
