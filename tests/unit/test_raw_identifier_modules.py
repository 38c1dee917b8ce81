"""SECURITY.md's table of the modules that touch raw identifiers is the one the imports give.

A module touches raw identifiers if it is one of ``SOURCES`` (the code that reads, splits,
normalises or keys raw cells) or imports one of them directly. The importers are found
by parsing every ``.py`` file under ``app/``, ``linkage/`` and ``privacy/`` with ``ast``
(``import a.b``, ``from a import b`` where ``b`` may be a submodule, relative imports,
imports inside functions and under ``TYPE_CHECKING``: a type-only import still means the
module is handed such values) and every ``.pyx``/``.pxd`` file's ``import`` and
``cimport`` lines by regular expression.

Only direct importers count: a module that calls a service which reads an upload is not
handed a raw cell by the import. A few modules read raw values without importing a
source (a file's bytes, a gold standard's record ids): ``DECLARED`` names them.
``benchmarks/`` and ``tests/`` are not scanned: they run on synthetic data only and are
not installed with the service.

The table to match is in SECURITY.md, section "Ingest: where raw identifiers exist, and
for how long": one row per module, its path in backticks in the first column.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("app", "linkage", "privacy")
SECTION = "## Ingest: where raw identifiers exist, and for how long"

#: The modules whose job is to hold raw cells. Everything importing one of them directly
#: is handed raw values too. ``privacy.normalise`` re-exports the normalisers below it.
SOURCES = frozenset(
    {
        "app.api.streaming",  # the upload's request body, chunk by chunk
        "app.ingest.reader",  # the CSV reader
        "app.ingest._csvscan",  # its native line splitter
        "app.ingest.rows",  # the row kernel (definition)
        "app.ingest._kernel",  # the row kernel (native)
        "app.ingest._memo",  # the native memo tables: raw value -> token
        "privacy.normalise",
        "privacy.ages",
        "privacy.dates",
        "privacy.geography",
        "privacy.names",
        "privacy.nhs_number",
        "privacy.postcodes",
        "privacy.sex",
        "privacy.pseudonym",
        "privacy.bloom",
        "privacy._keyed",
    }
)

#: Modules that read raw values without importing a source, listed by hand (their
#: importers are not counted: they are handed a service call, not the values).
DECLARED = {
    "app.cli.upload": "reads an extract file and sends its bytes",
    "app.cli.link": "opens a gold-standard file and hands it to the service",
    "app.services.linkage.evaluate": "reads a gold standard's raw local record ids",
}

_PYX_IMPORT = re.compile(
    r"^\s*(?:from\s+(?P<from>\.*[\w.]*)\s+c?import\s+(?P<names>[\w ,*()]+)"
    r"|c?import\s+(?P<modules>[\w., ]+))",
    re.MULTILINE,
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, list[Path]]:
    """Module name -> its files (a .pyx and its .pxd are one module)."""
    found: dict[str, list[Path]] = {}
    for top in SCANNED:
        for pattern in ("*.py", "*.pyx", "*.pxd"):
            for path in sorted((ROOT / top).rglob(pattern)):
                found.setdefault(module_name(path), []).append(path)
    return found


def _resolve(base: str | None, level: int, package: str) -> str:
    """The absolute name of ``from <level dots><base> import ...`` in ``package``."""
    if not level:
        return base or ""
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{base}" if base else package


def _with_submodules(base: str, names: list[str], known: set[str]) -> set[str]:
    """``from base import a, b``: base itself, and ``base.a`` where that is a module."""
    targets = {base}
    targets.update(f"{base}.{n}" for n in names if f"{base}.{n}" in known)
    return targets


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports (anywhere in the file), as absolute dotted names."""
    module = module_name(path)
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), path.suffix, package, known)


def imports_in(text: str, suffix: str, package: str, known: set[str]) -> set[str]:
    """The modules ``text`` (a file's source, in ``package``) imports."""
    targets: set[str] = set()
    if suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module, node.level, package)
                names = [alias.name for alias in node.names]
                targets |= _with_submodules(base, names, known)
        return targets
    for match in _PYX_IMPORT.finditer(text):
        if match["modules"]:
            targets.update(m.split(" as ")[0].strip() for m in match["modules"].split(","))
        else:
            spec = match["from"]
            level = len(spec) - len(spec.lstrip("."))
            base = _resolve(spec.lstrip(".") or None, level, package)
            names = [n.split(" as ")[0].strip() for n in match["names"].strip("() ").split(",")]
            targets |= _with_submodules(base, names, known)
    return targets


def raw_identifier_modules() -> dict[str, set[str]]:
    """Module -> the sources it imports (empty for a source that imports none)."""
    files = source_files()
    known = set(files)
    touching: dict[str, set[str]] = {m: set() for m in SOURCES | set(DECLARED) if m in known}
    for module, paths in files.items():
        imported = set().union(*(imports_of(p, known) for p in paths))
        hits = (imported & SOURCES) - {module}
        if hits:
            touching.setdefault(module, set()).update(hits)
    return touching


def documented_modules(text: str) -> list[str]:
    """The first-column paths of the table in SECURITY.md's ingest section, as modules."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    modules: list[str] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2:
            continue
        for path in re.findall(r"`([\w/.]+\.(?:py|pyx))`", cells[0]):
            modules.append(module_name(ROOT / path))
    return modules


def _path_of(module: str) -> str:
    paths = source_files()[module]
    main = next((p for p in paths if p.suffix != ".pxd"), paths[0])
    return str(main.relative_to(ROOT))


def test_the_security_table_lists_exactly_the_modules_that_touch_raw_identifiers():
    touching = raw_identifier_modules()
    documented = documented_modules((ROOT / "SECURITY.md").read_text(encoding="utf-8"))
    missing = sorted(set(touching) - set(documented))
    stale = sorted(set(documented) - set(touching))
    twice = sorted({m for m in documented if documented.count(m) > 1})
    advice = [
        f"add a row to the table in SECURITY.md, section {SECTION[3:]!r}, saying why it "
        f"touches raw values: | `{_path_of(m)}` | ... | (it imports "
        f"{', '.join(sorted(touching[m])) or 'nothing: it is a source or declared'})"
        for m in missing
    ]
    advice += [
        f"remove the row of {m} from SECURITY.md: it no longer imports a raw-identifier "
        "module (or no longer exists)"
        for m in stale
    ]
    advice += [f"`{m}` has more than one row in SECURITY.md's table" for m in twice]
    assert not advice, "\n".join(advice)


def test_every_source_and_declared_module_exists():
    """A source renamed away would silently stop counting its importers."""
    assert SOURCES | set(DECLARED) <= set(source_files())


def test_the_scanner_sees_each_kind_of_import():
    """The import forms a module can use, each resolved to the module imported."""
    known = {"app.ingest", "app.ingest.reader", "app.ingest.rows", "privacy", "privacy.names"}
    cases = {
        "import app.ingest.reader\n": {"app.ingest.reader"},
        "from app.ingest.reader import Record\n": {"app.ingest.reader"},
        "from app.ingest import reader\n": {"app.ingest", "app.ingest.reader"},
        "from . import rows\n": {"app.ingest", "app.ingest.rows"},
        "from .reader import Record\n": {"app.ingest.reader"},
        "from ..ingest import rows as r\n": {"app.ingest", "app.ingest.rows"},
        "def f():\n    from privacy import names\n": {"privacy", "privacy.names"},
        "if TYPE_CHECKING:\n    import privacy.names\n": {"privacy.names"},
    }
    for text, expected in cases.items():
        assert imports_in(text, ".py", "app.ingest", known) == expected, text
    pyx = (
        "from app.ingest._memo cimport MemoTable\ncimport privacy._keyed\n"
        "from privacy cimport names\nimport app.ingest.reader as r\n"
        "from .reader cimport x, y\n"
    )
    assert imports_in(pyx, ".pyx", "app.ingest", known) == {
        "app.ingest._memo",
        "privacy._keyed",
        "privacy",
        "privacy.names",
        "app.ingest.reader",
    }


def test_a_table_without_a_new_module_fails_with_the_row_to_add():
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    documented = documented_modules(text)
    assert "app.ingest.reader" in documented
    without = text.replace("| `app/ingest/reader.py` |", "| (removed) |")
    assert "app.ingest.reader" not in documented_modules(without)
