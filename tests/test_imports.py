"""The dependency rules of DESIGN.md §2, read from the source with `ast`.

- providers/ never imports gateway/, sandboxes/ or strawberry;
- sandboxes/ never imports providers/, gateway/ or strawberry, so an adapter tested against its
  sandbox is two independent readings of the vendor's docs;
- a vendor package (providers/<vendor>/, sandboxes/<vendor>/) never imports another vendor's;
- a `mapping.py` imports no HTTP library;
- gateway/ names no vendor: it reaches adapters and sandboxes through their registries;
- no circle of imports among gateway/'s modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("providers", "sandboxes", "gateway")
HTTP_LIBRARIES = ("httpx", "aiohttp", "urllib.request", "requests")


@dataclass(frozen=True, order=True)
class Violation:
    module: str
    imported: str
    rule: str


# -- reading imports -------------------------------------------------------------------------------


def module_name(path: Path) -> tuple[str, bool]:
    """Dotted module name for a file under ROOT, and whether it is a package's __init__."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports_of(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module name `source` may import, relative imports resolved against `module`.

    `from a import b` gives both `a` and `a.b`, since `b` may be a submodule. Imports inside
    functions and `if TYPE_CHECKING:` count, as do `importlib.import_module("x")` with a literal.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package) - 1:
                    raise ImportError(f"{module}: relative import beyond the top-level package")
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and _is_import_module(node.func):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _is_import_module(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


def project_imports() -> dict[str, set[str]]:
    modules: dict[str, set[str]] = {}
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            name, is_package = module_name(path)
            modules[name] = imports_of(path.read_text(encoding="utf-8"), name, is_package=is_package)
    return modules


# -- the rules -------------------------------------------------------------------------------------


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def vendor_of(module: str) -> str | None:
    """`providers.<vendor>` or `sandboxes.<vendor>` for a module inside a vendor package."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] in ("providers", "sandboxes"):
        return ".".join(parts[:2])
    return None


def vendor_packages(modules: Iterable[str]) -> set[str]:
    return {vendor for m in modules if (vendor := vendor_of(m)) is not None}


# (importer prefix, forbidden prefixes, rule)
PREFIX_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("providers", ("gateway", "sandboxes", "strawberry"), "providers imports gateway, sandboxes or strawberry"),
    ("sandboxes", ("providers", "gateway", "strawberry"), "sandboxes imports providers, gateway or strawberry"),
)


def violations(modules: Mapping[str, set[str]]) -> list[Violation]:
    found: set[Violation] = set()
    vendors = vendor_packages(modules)
    for module, imported in modules.items():
        for prefix, forbidden, rule in PREFIX_RULES:
            if within(module, prefix):
                found.update(Violation(module, name, rule) for name in imported if any(within(name, f) for f in forbidden))
        own = vendor_of(module)
        if own is not None:
            for name in imported:
                other = next((v for v in vendors if within(name, v)), None)
                if other is not None and other != own and other.split(".")[0] == own.split(".")[0]:
                    found.add(Violation(module, name, "a vendor imports another vendor"))
        if module.rsplit(".", 1)[-1] == "mapping" and any(within(name, lib) for name in imported for lib in HTTP_LIBRARIES):
            found.add(Violation(module, next(n for n in sorted(imported) if any(within(n, lib) for lib in HTTP_LIBRARIES)), "mapping imports an HTTP library"))
        if within(module, "gateway"):
            found.update(Violation(module, name, "gateway names a vendor") for name in imported if any(within(name, v) for v in vendors))
    return sorted(found)


def import_cycles(modules: Mapping[str, set[str]], package: str) -> list[list[str]]:
    """Each circle of imports among `package`'s modules, as the list of modules along it."""
    graph = {m: sorted(n for n in imported if n in modules and within(n, package) and n != m and n != package)
             for m, imported in modules.items() if within(m, package)}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


# -- the project follows the rules -----------------------------------------------------------------


@pytest.fixture(scope="module")
def modules() -> dict[str, set[str]]:
    return project_imports()


def test_the_walk_sees_every_package_and_their_real_imports(modules: dict[str, set[str]]) -> None:
    assert {"providers", "providers.models", "gateway.inbox", "gateway.app", "sandboxes.kit"} <= set(modules)
    assert {"providers.socialboards", "sandboxes.socialboards"} <= vendor_packages(modules)
    assert "providers.socialboards.mapping" in modules["providers.socialboards.provider"]  # `from . import mapping`
    assert "providers.models" in modules["providers.base"]  # `from .models import ...`
    assert "sandboxes.kit" in modules["sandboxes.socialboards.app"]  # `from ..kit import ...`
    assert "sandboxes" in modules["gateway.embedded"] and "providers" in modules["gateway.app"]


def test_providers_never_import_gateway_sandboxes_or_strawberry(modules: dict[str, set[str]]) -> None:
    assert [v for v in violations(modules) if v.rule.startswith("providers imports")] == []


def test_sandboxes_never_import_providers_gateway_or_strawberry(modules: dict[str, set[str]]) -> None:
    assert [v for v in violations(modules) if v.rule.startswith("sandboxes imports")] == []


def test_no_vendor_package_imports_another_vendor(modules: dict[str, set[str]]) -> None:
    assert [v for v in violations(modules) if v.rule == "a vendor imports another vendor"] == []


def test_no_mapping_module_imports_an_http_library(modules: dict[str, set[str]]) -> None:
    mappings = [m for m in modules if m.endswith(".mapping")]
    assert mappings, "no mapping.py found: the walk is broken"
    assert [v for v in violations(modules) if v.rule == "mapping imports an HTTP library"] == []


def test_gateway_names_no_vendor(modules: dict[str, set[str]]) -> None:
    assert [v for v in violations(modules) if v.rule == "gateway names a vendor"] == []


def test_no_import_circle_among_gateway_modules(modules: dict[str, set[str]]) -> None:
    assert import_cycles(modules, "gateway") == []


def test_no_rule_is_broken_anywhere(modules: dict[str, set[str]]) -> None:
    assert violations(modules) == []


# -- the checker catches violations ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("from . import mapping", "providers.sb.provider", False, {"providers.sb", "providers.sb.mapping"}),
        ("from ..models import Page", "providers.sb.provider", False, {"providers.models", "providers.models.Page"}),
        ("from .base import Provider", "providers", True, {"providers.base", "providers.base.Provider"}),
        ("from .. import errors", "providers.sb", True, {"providers", "providers.errors"}),
        ("import httpx as h, orjson", "providers.sb.client", False, {"httpx", "orjson"}),
        ("def f():\n    from gateway import app", "providers.x", False, {"gateway", "gateway.app"}),
        ("import importlib\nimportlib.import_module('strawberry')", "providers.x", False, {"importlib", "strawberry"}),
    ],
)
def test_imports_are_resolved_to_package_paths(source: str, module: str, is_package: bool, expected: set[str]) -> None:
    assert imports_of(source, module, is_package=is_package) == expected


def test_a_relative_import_beyond_the_top_package_is_an_error() -> None:
    with pytest.raises(ImportError, match="beyond the top-level package"):
        imports_of("from ... import x", "providers.sb", is_package=False)


def synthetic(**sources: str) -> dict[str, set[str]]:
    """Module name (dots written as `__`) -> its imports, from source text."""
    return {name.replace("__", "."): imports_of(text, name.replace("__", ".")) for name, text in sources.items()}


def rules_broken(modules: dict[str, set[str]]) -> set[tuple[str, str, str]]:
    return {(v.module, v.imported, v.rule) for v in violations(modules)}


def test_checker_catches_providers_importing_gateway_sandboxes_or_strawberry() -> None:
    modules = synthetic(
        providers__base="from gateway.events import Event\n",
        providers__acme__provider="import strawberry.types\n",
        providers__acme__client="from sandboxes.acme import CREDENTIALS\n",
        gateway__app="import strawberry\nfrom providers import Provider\n",
    )
    broken = rules_broken(modules)
    rule = "providers imports gateway, sandboxes or strawberry"
    assert ("providers.base", "gateway.events", rule) in broken
    assert ("providers.acme.provider", "strawberry.types", rule) in broken
    assert ("providers.acme.client", "sandboxes.acme", rule) in broken
    assert not any(module == "gateway.app" for module, _, _ in broken)


def test_checker_catches_sandboxes_importing_providers_or_gateway() -> None:
    modules = synthetic(
        sandboxes__acme__app="from providers.acme.mapping import parse\n",
        sandboxes__acme__state="from gateway.events import Event\n",
        sandboxes__kit="from providers._time import parse_datetime\n",
        sandboxes__acme__model="from ..kit import SandboxClock\n",
    )
    broken = rules_broken(modules)
    rule = "sandboxes imports providers, gateway or strawberry"
    assert ("sandboxes.acme.app", "providers.acme.mapping", rule) in broken
    assert ("sandboxes.acme.state", "gateway.events", rule) in broken
    assert ("sandboxes.kit", "providers._time", rule) in broken
    assert not any(module == "sandboxes.acme.model" for module, _, _ in broken)


def test_checker_catches_a_vendor_importing_another_vendor_even_relatively() -> None:
    modules = synthetic(
        providers__acme__mapping="from ..zeta.mapping import parse\n",
        providers__zeta__mapping="from .._time import parse_datetime\n",
        providers__registry="def f():\n    from .acme.provider import AcmeProvider\n",
        sandboxes__acme__app="from ..zeta.state import State\n",
        sandboxes__zeta__state="from ..kit import SandboxClock\n",
    )
    broken = rules_broken(modules)
    assert ("providers.acme.mapping", "providers.zeta.mapping", "a vendor imports another vendor") in broken
    assert ("sandboxes.acme.app", "sandboxes.zeta.state", "a vendor imports another vendor") in broken
    assert not any(module in ("providers.zeta.mapping", "providers.registry", "sandboxes.zeta.state") for module, _, _ in broken)


def test_checker_catches_an_http_library_in_a_mapping() -> None:
    assert rules_broken(synthetic(providers__acme__mapping="from httpx import Response\n")) == {
        ("providers.acme.mapping", "httpx", "mapping imports an HTTP library")
    }
    assert rules_broken(synthetic(providers__acme__mapping="import aiohttp\n")) == {
        ("providers.acme.mapping", "aiohttp", "mapping imports an HTTP library")
    }


def test_checker_catches_the_gateway_naming_a_vendor() -> None:
    modules = synthetic(
        gateway__embedded="from sandboxes.acme import create_app\nfrom sandboxes import load_sandbox\n",
        gateway__app="from providers.acme.provider import AcmeProvider\nfrom providers import build_provider\n",
        providers__acme__provider="import enum\n",
        sandboxes__acme__app="import enum\n",
    )
    assert rules_broken(modules) == {
        ("gateway.embedded", "sandboxes.acme", "gateway names a vendor"),
        ("gateway.embedded", "sandboxes.acme.create_app", "gateway names a vendor"),
        ("gateway.app", "providers.acme.provider", "gateway names a vendor"),
        ("gateway.app", "providers.acme.provider.AcmeProvider", "gateway names a vendor"),
    }


def test_cycle_finder_reports_each_circle_and_ignores_other_packages() -> None:
    modules = synthetic(
        gateway__app="from .webhooks import endpoint\n",
        gateway__webhooks="from .runtime import Runtime\n",
        gateway__runtime="def f():\n    from .app import create_app\n",
        gateway__events="from providers import Provider\n",
        providers__base="from .models import Page\n",
        providers__models="from .base import Provider\n",
    )
    assert import_cycles(modules, "gateway") == [["gateway.app", "gateway.webhooks", "gateway.runtime", "gateway.app"]]
    assert import_cycles(modules, "providers") == [["providers.base", "providers.models", "providers.base"]]
    del modules["gateway.runtime"]
    assert import_cycles(modules, "gateway") == []
