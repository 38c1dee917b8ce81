"""Every action has plain words (``policies/labels/labels.toml``).

Each Cedar action of the schema needs a table label, a sentence and an audit label; every
action name the code can write to the audit log needs an audit label. The second set is
found by reading the code, not listed by hand: every call that names an audited action
(``unit_of_work``, ``AuditLog.record``, the policy gates, the CSRF check), followed through
helpers that pass an action on, so a new one cannot be missed silently. A call whose
action the reading cannot work out fails the test until the reading is taught.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from app import REPO_ROOT
from app.policy.labels import LabelsError, load_labels, parse_labels
from app.policy.matrix import declared_actions
from app.web import routes as web_routes
from app.web.page_route import is_page
from app.web.pages import PageActor

POLICIES = REPO_ROOT / "policies"
APP = REPO_ROOT / "app"
#: Calls that audit an action, and where the action is: (position, keyword).
SINKS: dict[str, tuple[int, str]] = {
    "unit_of_work": (2, "action"),
    "record": (1, "action"),
    "check_allowed": (2, "action"),
    "check_csrf": (3, "action"),
    "PageActor": (0, "action"),
    "Authorized": (0, "action"),
}
#: Functions that re-record the action of a unit already found (``uow.action``).
PASS_THROUGH = {("app/services/unit.py", "_record_internal_failure")}


@dataclass
class Scan:
    found: dict[str, set[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)


@dataclass
class Module:
    path: str
    tree: ast.Module
    constants: dict[str, set[str]]


def _strings(node: ast.AST, module: Module) -> set[str]:
    """Every string an expression can give: its literals and the module constants it
    names (``TABLE.get(key, "default")``: the table's values and the default)."""
    values: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            values.add(child.value)
        elif isinstance(child, ast.Name) and child.id in module.constants:
            values |= module.constants[child.id]
    return values


def _literals(nodes: list[ast.expr | None]) -> set[str]:
    return {
        c.value
        for node in nodes
        if node is not None
        for c in ast.walk(node)
        if isinstance(c, ast.Constant) and isinstance(c.value, str)
    }


def _module(path: Path, root: Path) -> Module:
    """A module and its top-level string constants (of a table: its values, not its keys)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants: dict[str, set[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        value = node.value
        if isinstance(value, ast.Dict):
            strings = _literals(list(value.values))
        elif isinstance(value, ast.Constant | ast.Tuple | ast.Set | ast.List):
            strings = _literals([value])
        else:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                constants[target.id] = strings
    return Module(str(path.relative_to(root.parent)), tree, constants)


def _enclosing(tree: ast.Module) -> Iterator[tuple[ast.Call, list[ast.AST]]]:
    """Each call with the chain of classes and functions around it, innermost last."""
    stack: list[tuple[ast.AST, list[ast.AST]]] = [(tree, [])]
    while stack:
        node, scope = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = [*scope, child]
            if isinstance(child, ast.Call):
                yield child, scope
            stack.append((child, inner))


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _argument(call: ast.Call, where: tuple[int, str]) -> ast.expr | None:
    position, keyword = where
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def _local_values(function: ast.AST, name: str, module: Module) -> set[str] | None:
    assigned = [
        node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    if not assigned:
        return None
    values: set[str] = set()
    for value in assigned:
        values |= _strings(value, module)
    return values


def scan_audited_actions(root: Path = APP) -> Scan:
    """Every action name the code under ``root`` can audit (to a fixed point over helpers
    that take an action and pass it on)."""
    modules = [_module(p, root) for p in sorted(root.rglob("*.py")) if "_resources" not in p.parts]
    sinks = dict(SINKS)
    while True:
        scan, added = Scan(), False
        for module in modules:
            for call, scope in _enclosing(module.tree):
                name = _callee(call)
                if name not in sinks:
                    continue
                argument = _argument(call, sinks[name])
                where = f"{module.path}:{call.lineno}"
                if argument is None:
                    scan.unresolved.append(f"{where} {name}(...): no action argument")
                    continue
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    scan.found.setdefault(argument.value, set()).add(where)
                    continue
                owners = {getattr(s, "name", "") for s in scope}
                if owners & set(sinks) or any((module.path, o) in PASS_THROUGH for o in owners):
                    continue  # a gate or the unit itself, passing on the action it was given
                function = next(
                    (
                        s
                        for s in reversed(scope)
                        if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
                    ),
                    None,
                )
                if isinstance(argument, ast.Name) and function is not None:
                    parameters = _parameters(function)
                    if argument.id in parameters:
                        if function.name not in sinks:
                            sinks[function.name] = (parameters.index(argument.id), argument.id)
                            added = True
                        continue
                    values = _local_values(function, argument.id, module)
                    if values is None and argument.id in module.constants:
                        values = module.constants[argument.id]
                    if values:
                        for value in values:
                            scan.found.setdefault(value, set()).add(where)
                        continue
                if isinstance(argument, ast.Name) and argument.id in module.constants:
                    for value in module.constants[argument.id]:
                        scan.found.setdefault(value, set()).add(where)
                    continue
                scan.unresolved.append(f"{where} {name}(...): {ast.unparse(argument)}")
        if not added:
            return scan


@pytest.fixture(scope="module")
def scan() -> Scan:
    return scan_audited_actions()


@pytest.fixture(scope="module")
def labels():
    return load_labels(POLICIES)


def test_every_cedar_action_has_a_label_a_sentence_and_an_audit_label(labels) -> None:
    actions = declared_actions((POLICIES / "schema.cedarschema").read_text(encoding="utf-8"))
    assert len(actions) >= 30
    missing = [a for a in actions if a not in labels.actions]
    assert missing == [], f'add [actions."…"] to policies/labels/labels.toml for {missing}'


def test_the_reading_of_the_code_works_out_every_audited_action(scan: Scan) -> None:
    assert scan.unresolved == [], "teach scan_audited_actions these calls:\n" + "\n".join(
        scan.unresolved
    )


def test_every_action_the_code_can_audit_has_an_audit_label(scan: Scan, labels) -> None:
    missing = {name: sorted(places)[0] for name, places in scan.found.items()}
    missing = {n: p for n, p in missing.items() if n not in labels.labelled()}
    assert missing == {}, f"add labels to policies/labels/labels.toml for {missing}"


def test_the_reading_finds_actions_of_every_kind_of_call(scan: Scan) -> None:
    for name in (
        "auth.login",  # unit_of_work, a literal
        "page.view",  # AuditLog.record with a module constant
        "mesh.fail",  # a local variable from a table
        "mesh.accept",
        "submission.upload-start",  # AuditLog.record with a literal
        "db.upgrade",
        "audit.export",
        "policy.read",  # the page and API gates
    ):
        assert name in scan.found, name


def test_a_new_audited_action_without_a_label_is_found(tmp_path: Path, labels) -> None:
    code = tmp_path / "app" / "services" / "new.py"
    code.parent.mkdir(parents=True)
    code.write_text(
        "def _helper(ctx, actor, action):\n"
        "    with unit_of_work(ctx, actor, action):\n"
        "        pass\n"
        "def use(ctx, actor):\n"
        "    _helper(ctx, actor, 'widget.frobnicate')\n",
        encoding="utf-8",
    )
    found = scan_audited_actions(tmp_path / "app")
    assert "widget.frobnicate" in found.found and found.unresolved == []
    assert "widget.frobnicate" not in labels.labelled()


def test_every_page_has_a_title_for_its_page_view_entries(labels) -> None:
    for route in web_routes.router.routes:
        assert isinstance(route, APIRoute)
        gated = any(isinstance(d.call, PageActor) for d in route.dependant.dependencies)
        if is_page(route) and gated:
            assert route.path in labels.pages, route.path


def test_a_labels_file_with_an_unknown_key_or_area_is_refused() -> None:
    with pytest.raises(LabelsError, match="has the keys"):
        parse_labels('[actions."a.b"]\narea = "x"\nlabel = "A"\nsentence = "s"\n')
    with pytest.raises(LabelsError, match="no area"):
        parse_labels('[actions."a.b"]\narea = "x"\nlabel = "A"\nsentence = "s"\naudit = "A"\n')
    with pytest.raises(LabelsError, match="unknown section"):
        parse_labels("[colours]\n")


def test_a_role_is_named_by_its_policy_title_in_sentences_and_headings(labels) -> None:
    assert labels.role_title("ig_officer") == "IG officer"
    assert labels.role_heading("ig_officer") == "IG officer"
    assert labels.role_title("analyst") == "council analyst"
    assert labels.role_heading("analyst") == "Council analyst"
    assert labels.role_title("auditor_of_auditors") == "auditor of auditors"
    assert labels.role_heading("auditor_of_auditors") == "Auditor of auditors"
