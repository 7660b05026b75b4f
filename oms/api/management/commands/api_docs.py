"""Write the API reference (docs/api.md) and the OpenAPI description (docs/openapi.yaml).

    manage.py api_docs            # regenerate both from the live schema
    manage.py api_docs --check    # exit 1 if either differs from what the code describes

The reference's tables come from the OpenAPI schema (the one `/api/schema` serves, itself derived
from the typed commands and the read-side registry), so they cannot drift from the server; the
conventions above them are written by hand in `oms/api/reference_intro.md`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from drf_spectacular.generators import SchemaGenerator

INTRO = Path(__file__).resolve().parents[2] / "reference_intro.md"


class Command(BaseCommand):
    help = "Write docs/api.md and docs/openapi.yaml from the live OpenAPI schema (--check: compare only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="fail if the files are not current")
        parser.add_argument("--dir", default=str(Path(settings.BASE_DIR) / "docs"))

    def handle(self, *args: Any, check: bool = False, dir: str = "docs", **options: Any) -> None:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        files = {
            Path(dir) / "openapi.yaml": yaml.safe_dump(
                schema, sort_keys=False, allow_unicode=True, width=100
            ),
            Path(dir) / "api.md": reference(schema),
        }
        stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text() != text]
        if check:
            if stale:
                raise CommandError(f"not current (run manage.py api_docs): {', '.join(stale)}")
            self.stdout.write("API docs are current")
            return
        for path, text in files.items():
            path.write_text(text)
        self.stdout.write(f"wrote {', '.join(str(p) for p in files)}")


def reference(schema: dict[str, Any]) -> str:
    components = schema["components"]["schemas"]
    out = [INTRO.read_text().rstrip("\n"), ""]
    out += ["## Commands", ""]
    for path, ops in schema["paths"].items():
        if not path.startswith("/api/commands/") or "post" not in ops:
            continue
        body = ops["post"]["requestBody"]["content"]["application/json"]["schema"]
        mapping = components[_ref(body)].get("discriminator", {}).get("mapping", {})
        if not mapping:
            continue
        out += [f"### `POST {path}`", ""]
        for command_type, ref in mapping.items():
            out += [f"#### `{command_type}`", ""]
            out += _fields(components, components[_ref({"$ref": ref})], skip=frozenset({"commandType"}))
    out += ["## Queries", ""]
    for path, ops in schema["paths"].items():
        if not path.startswith("/api/queries/") or "get" not in ops:
            continue
        op = ops["get"]
        out += [f"### `GET {path}`", ""]
        if op.get("description"):
            out += [op["description"].strip(), ""]
        params = [p for p in op.get("parameters", []) if p["in"] == "query"]
        if params:
            out += ["| parameter | type | meaning |", "|---|---|---|"]
            for p in params:
                out.append(
                    f"| `{p['name']}` | {_type(components, p.get('schema', {}))} | {_cell(p.get('description'))} |"
                )
            out.append("")
        ok = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        if ok:
            out += [f"Answers `{_type(components, ok)}`.", ""]
    out += ["## Documents", ""]
    for name, component in components.items():
        if name.endswith("State") or name in ("Event", "Error", "OrderTree"):
            out += [f"### `{name}`", ""]
            out += _fields(components, component)
    return "\n".join(out).rstrip("\n") + "\n"


def _fields(
    components: dict[str, Any], component: dict[str, Any], skip: frozenset[str] = frozenset()
) -> list[str]:
    props = component.get("properties", {})
    required = set(component.get("required", []))
    if not props:
        return ["(no fields)", ""]
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, prop in props.items():
        if name in skip:
            continue
        rows.append(
            f"| `{name}` | {_type(components, prop)} | {'yes' if name in required else ''} | "
            f"{_cell(prop.get('description'))} |"
        )
    return [*rows, ""]


def _ref(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def _type(components: dict[str, Any], prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = _ref(prop)
        target = components.get(name, {})
        if "enum" in target:
            return " \\| ".join(f"`{v}`" for v in target["enum"] if v is not None)
        return f"`{name}`"
    if "oneOf" in prop or "allOf" in prop:
        kinds = [_type(components, p) for p in prop.get("oneOf", prop.get("allOf", []))]
        text = " \\| ".join(k for k in kinds if k and k != "")
        return text + (" or null" if prop.get("nullable") else "")
    kind = prop.get("type", "any")
    if kind == "array":
        kind = f"array of {_type(components, prop.get('items', {}))}"
    elif "enum" in prop:
        kind = " \\| ".join(f"`{v}`" for v in prop["enum"] if v is not None)
    elif prop.get("format"):
        kind = f"{kind} ({prop['format']})"
    if prop.get("nullable"):
        kind += " or null"
    return kind


def _cell(text: str | None) -> str:
    return (text or "").replace("\n", " ").replace("|", "\\|").strip()
