"""The dependency rules of DESIGN.md §2, read from the source with `ast`.

- providers/ never imports gateway/ or strawberry;
- a vendor package (providers/<vendor>/) never imports another vendor's package;
- a `mapping.py` imports no httpx;
- a vendor's sandbox modules (`sandbox.py`, `_sandbox*.py`) import nothing from that vendor's
  client/mapping/provider, and those import nothing from the sandbox modules, directly or through
  another module of the same vendor;
- the shared sandbox kit (`providers/sandbox_kit.py`) is for sandboxes only: no adapter module uses it,
  and it imports no vendor package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("providers", "gateway")
SANDBOX_KIT = "providers.sandbox_kit"
ADAPTER = ("client", "mapping", "provider")


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
    parts = module.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "providers" else None


def is_sandbox(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return vendor_of(module) is not None and (leaf == "sandbox" or leaf.startswith("_sandbox"))


def is_adapter(module: str) -> bool:
    return vendor_of(module) is not None and module.rsplit(".", 1)[-1] in ADAPTER


def vendor_packages(modules: Iterable[str]) -> set[str]:
    return {f"providers.{vendor}" for m in modules if (vendor := vendor_of(m)) is not None}


def reachable_in_vendor(start: str, modules: Mapping[str, set[str]]) -> dict[str, str]:
    """Modules of `start`'s vendor that `start` imports directly or through other modules of that
    vendor, each with the module that imports it."""
    vendor = f"providers.{vendor_of(start)}"
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for name in modules.get(current, ()):
            if name in modules and within(name, vendor) and name != vendor and name not in seen and name != start:
                seen[name] = current
                todo.append(name)
    return seen


def violations(modules: Mapping[str, set[str]]) -> list[Violation]:
    found: set[Violation] = set()
    vendors = vendor_packages(modules)
    for module, imported in modules.items():
        if within(module, "providers"):
            for name in imported:
                if within(name, "gateway") or within(name, "strawberry"):
                    found.add(Violation(module, name, "providers imports gateway or strawberry"))
        own = vendor_of(module)
        if own is not None:
            for name in imported:
                other = next((v for v in vendors if within(name, v)), None)
                if other is not None and other != f"providers.{own}":
                    found.add(Violation(module, name, "a vendor imports another vendor"))
        if module.rsplit(".", 1)[-1] == "mapping" and any(within(name, "httpx") for name in imported):
            found.add(Violation(module, "httpx", "mapping imports httpx"))
        if is_sandbox(module):
            for name, via in reachable_in_vendor(module, modules).items():
                if is_adapter(name):
                    found.add(Violation(module, name, f"sandbox imports its adapter (via {via})"))
        if is_adapter(module):
            for name, via in reachable_in_vendor(module, modules).items():
                if is_sandbox(name):
                    found.add(Violation(module, name, f"adapter imports its sandbox (via {via})"))
            for via in (module, *reachable_in_vendor(module, modules)):
                if any(within(name, SANDBOX_KIT) for name in modules.get(via, ())):
                    found.add(Violation(module, SANDBOX_KIT, f"adapter uses the sandbox kit (via {via})"))
        if within(module, SANDBOX_KIT):
            for name in imported:
                if any(within(name, v) for v in vendors):
                    found.add(Violation(module, name, "the sandbox kit imports a vendor"))
    return sorted(found)


# -- the project follows the rules -----------------------------------------------------------------


@pytest.fixture(scope="module")
def modules() -> dict[str, set[str]]:
    return project_imports()


def test_the_walk_sees_every_package_and_their_real_imports(modules: dict[str, set[str]]) -> None:
    assert {"providers", "providers.models", "gateway.inbox", "gateway.app"} <= set(modules)
    assert "providers.socialboards" in vendor_packages(modules)
    assert "providers.socialboards.mapping" in modules["providers.socialboards.provider"]  # `from . import mapping`
    assert "providers.models" in modules["providers.base"]  # `from .models import ...`
    assert "httpx" in modules["providers._http"] and "providers._http" in modules["providers.socialboards.client"]
    assert "providers.socialboards.sandbox" in modules["gateway.embedded"]


def test_providers_never_import_gateway_or_strawberry(modules: dict[str, set[str]]) -> None:
    assert [v for v in violations(modules) if v.rule.startswith("providers imports")] == []


def test_no_vendor_package_imports_another_vendor(modules: dict[str, set[str]]) -> None:
    assert [v for v in violations(modules) if v.rule == "a vendor imports another vendor"] == []


def test_no_mapping_module_imports_httpx(modules: dict[str, set[str]]) -> None:
    mappings = [m for m in modules if m.endswith(".mapping")]
    assert mappings, "no mapping.py found: the walk is broken"
    assert [v for v in violations(modules) if v.rule == "mapping imports httpx"] == []


def test_sandboxes_and_adapters_do_not_import_each_other(modules: dict[str, set[str]]) -> None:
    assert any(is_sandbox(m) for m in modules) and any(is_adapter(m) for m in modules)
    assert [v for v in violations(modules) if "sandbox" in v.rule] == []


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


def test_checker_catches_providers_importing_gateway_or_strawberry() -> None:
    modules = synthetic(
        providers__base="from gateway.events import Event\n",
        providers__acme__provider="import strawberry.types\n",
        gateway__app="import strawberry\nfrom providers import Provider\n",
    )
    broken = rules_broken(modules)
    assert ("providers.base", "gateway.events", "providers imports gateway or strawberry") in broken
    assert ("providers.acme.provider", "strawberry.types", "providers imports gateway or strawberry") in broken
    assert not any(module == "gateway.app" for module, _, _ in broken)


def test_checker_catches_a_vendor_importing_another_vendor_even_relatively() -> None:
    modules = synthetic(
        providers__acme__mapping="from ..zeta.mapping import parse\n",
        providers__zeta__mapping="from .._time import parse_datetime\n",
        providers__registry="def f():\n    from .acme.provider import AcmeProvider\n",
    )
    broken = rules_broken(modules)
    assert ("providers.acme.mapping", "providers.zeta.mapping", "a vendor imports another vendor") in broken
    assert not any(module in ("providers.zeta.mapping", "providers.registry") for module, _, _ in broken)


def test_checker_catches_httpx_in_a_mapping() -> None:
    broken = rules_broken(synthetic(providers__acme__mapping="from httpx import Response\n"))
    assert broken == {("providers.acme.mapping", "httpx", "mapping imports httpx")}


def test_checker_catches_a_sandbox_importing_its_adapter_directly_or_through_a_helper() -> None:
    modules = synthetic(
        providers__acme__sandbox="from ._sandbox_state import State\n",
        providers__acme___sandbox_state="from .helpers import slug\n",
        providers__acme__helpers="from .mapping import parse_conversation\n",
        providers__acme__mapping="from ..models import Conversation\n",
        providers__acme___sandbox_demo="from providers.acme.client import AcmeClient\n",
        providers__acme__client="import httpx\n",
    )
    broken = rules_broken(modules)
    assert (
        "providers.acme.sandbox",
        "providers.acme.mapping",
        "sandbox imports its adapter (via providers.acme.helpers)",
    ) in broken
    assert (
        "providers.acme._sandbox_demo",
        "providers.acme.client",
        "sandbox imports its adapter (via providers.acme._sandbox_demo)",
    ) in broken


def test_checker_catches_an_adapter_importing_its_sandbox() -> None:
    modules = synthetic(
        providers__acme__provider="from . import sandbox\n",
        providers__acme__sandbox="from starlette.applications import Starlette\n",
        providers__acme__client="from ._sandbox_model import ErrorCode\n",
        providers__acme___sandbox_model="import enum\n",
    )
    broken = rules_broken(modules)
    assert ("providers.acme.provider", "providers.acme.sandbox", "adapter imports its sandbox (via providers.acme.provider)") in broken
    assert (
        "providers.acme.client",
        "providers.acme._sandbox_model",
        "adapter imports its sandbox (via providers.acme.client)",
    ) in broken


def test_checker_catches_an_adapter_using_the_sandbox_kit_and_the_kit_using_a_vendor() -> None:
    modules = synthetic(
        providers__acme__client="from .helpers import gate\n",
        providers__acme__helpers="from ..sandbox_kit import VendorGate\n",
        providers__acme__sandbox="from ..sandbox_kit import SandboxControls\n",
        providers__sandbox_kit="from providers.acme import mapping\n",
        providers__acme__mapping="import enum\n",
    )
    broken = rules_broken(modules)
    assert ("providers.acme.client", SANDBOX_KIT, "adapter uses the sandbox kit (via providers.acme.helpers)") in broken
    assert ("providers.sandbox_kit", "providers.acme.mapping", "the sandbox kit imports a vendor") in broken
    assert not any(module == "providers.acme.sandbox" for module, _, _ in broken)


def test_checker_allows_sandbox_and_adapter_to_share_neutral_modules() -> None:
    modules = synthetic(
        providers__acme__sandbox="from .._time import format_datetime\nfrom ..models import Conversation\n",
        providers__acme__provider="from .._time import format_datetime\nfrom . import mapping\n",
        providers__acme__mapping="from ..models import Conversation\n",
    )
    assert violations(modules) == []
