"""The product's modules stay small enough to hold in one's head: no Python module of the apps
and no blotter script over 500 lines (migrations are generated; tests and benchmarks are not
product code)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 500
PACKAGES = ("oms", "rules", "executions", "blotter")


def _modules() -> list[Path]:
    found = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts]
    found += list((ROOT / "static" / "blotter").rglob("*.js"))
    return found


def test_no_product_module_is_over_500_lines() -> None:
    modules = _modules()
    assert len(modules) > 100  # the walk found the packages
    too_long = {
        str(p.relative_to(ROOT)): n for p in modules if (n := len(p.read_text().splitlines())) > LIMIT
    }
    assert too_long == {}
