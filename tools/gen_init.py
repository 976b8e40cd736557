"""Regenerate the lazy re-export table of ``src/rnncourse/__init__.py`` from the modules' ``__all__``.

Run ``.venv/bin/python tools/gen_init.py`` after adding a public name; ``tests/test_package.py`` fails
when the table and the modules disagree.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnncourse"
MODULES = [
    "reference", "gradcheck", "modules", "topologies", "bptt", "training", "gradients", "sampling", "charlm",
    "captioning", "data", "plots", "widgets",
]


def public_names(module: str) -> list[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise SystemExit(f"{module}.py has no __all__")


def render() -> str:
    lines = []
    for module in MODULES:
        names = public_names(module)
        lines.append(f"    # {module}")
        lines.extend(f'    "{name}": "{module}",' for name in names)
    table = "\n".join(lines)
    return f'''"""rnncourse: the library of an executable course on recurrent neural networks.

The chapters, exercises and graders import it. Submodules hold one concept each (see CONTRIBUTING.md):
``reference`` (numpy forward/backward pairs), ``gradcheck``, ``modules`` (torch RNN cells), ``topologies``,
``bptt``, ``training``, ``gradients``, ``sampling``, ``charlm``, ``captioning``, ``data``, ``plots``,
``widgets`` and ``grade``. Their public names are also available here, e.g. ``rnncourse.RNN``; they are
imported on first use, so ``import rnncourse`` itself is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {{
{table}
}}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        if name in set(_EXPORTS.values()) | {{"grade"}}:
            return importlib.import_module(f"{{__name__}}.{{name}}")
        raise AttributeError(f"module 'rnncourse' has no attribute {{name!r}}")
    value = getattr(importlib.import_module(f"{{__name__}}.{{module}}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
'''


if __name__ == "__main__":
    (PACKAGE / "__init__.py").write_text(render())
