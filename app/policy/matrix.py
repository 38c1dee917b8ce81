"""Who may do what, read off the policy set by asking Cedar, never by reading its text.

For each role and each action of the schema, every resource type the action applies to is
asked about as a user of each kind of organisation (trust, council, operator), on a record
of their own and on someone else's where the type's records name an organisation or a user
(a submission's ``organisation``, a release's ``analyst``). The pattern of answers names
the condition: allowed everywhere, only on their own records, only for some kinds of
organisation, or never. A disabled account is asked too, so the page can say it may do
nothing (or show that it may). A record type of another shape is reported as "partial".

Only the vocabulary is read from the schema's text (the names of its actions and entity
types); which resource types an action applies to, and what each entity must hold, are
learnt from Cedar's own validation of each request and entity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Literal

import cedarpy

from app.auth.roles import ROLES
from app.policy.engine import NAMESPACE, PolicySet

__all__ = [
    "KINDS",
    "Cell",
    "Matrix",
    "declared_actions",
    "declared_entity_types",
    "policy_matrix",
]

#: The kinds of organisation a user can belong to (``Organisation.kind``).
KINDS = ("trust", "council", "operator")
Allowed = Literal["always", "conditional", "never"]

_ACTION_BLOCK = re.compile(r"\baction\s+(.*?)\s+appliesTo\b", re.S)
_QUOTED = re.compile(r'"([^"]+)"')
_ENTITY = re.compile(r"\bentity\s+([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)")
_COMMENT = re.compile(r"//[^\n]*")
_OWN, _OTHER = "own", "other"


def _code(schema_text: str) -> str:
    return _COMMENT.sub("", schema_text)


def declared_actions(schema_text: str) -> list[str]:
    """The schema's action names, in the order declared."""
    names: list[str] = []
    for block in _ACTION_BLOCK.findall(_code(schema_text)):
        names += [n for n in _QUOTED.findall(block) if n not in names]
    return names


def declared_entity_types(schema_text: str) -> list[str]:
    types: list[str] = []
    for group in _ENTITY.findall(_code(schema_text)):
        types += [t.strip() for t in group.split(",")]
    return types


@dataclass(frozen=True)
class Cell:
    """One role and action: whether it is allowed, and under what condition."""

    allowed: Allowed
    #: ``own:<type>``: only on that type's records of their own (their organisation's, or
    #: their own where the record names a user);
    #: ``kinds:<kind>,...``: only for users of those kinds of organisation;
    #: ``partial:<type>``: some other pattern (the appendix has the rule).
    conditions: tuple[str, ...] = ()
    #: The ``@id`` of each rule that permitted it somewhere.
    rules: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "conditions": list(self.conditions),
            "rules": list(self.rules),
        }


@dataclass(frozen=True)
class Matrix:
    roles: tuple[str, ...]
    actions: tuple[str, ...]
    cells: dict[tuple[str, str], Cell]
    #: Role and action pairs a disabled account of that role may still do (none, by design).
    disabled_allowed: tuple[tuple[str, str], ...] = field(default=())

    def cell(self, role: str, action: str) -> Cell:
        return self.cells[(role, action)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "roles": list(self.roles),
            "actions": list(self.actions),
            "matrix": {
                role: {action: self.cell(role, action).as_dict() for action in self.actions}
                for role in self.roles
            },
            "disabled_accounts_may": [list(pair) for pair in self.disabled_allowed],
        }


def _uid(type_: str, id_: str) -> dict[str, str]:
    return {"type": f"{NAMESPACE}::{type_}", "id": id_}


def _org_id(kind: str, relation: str) -> str:
    return f"{relation}-{kind}"


def _principal_id(role: str, kind: str, active: bool) -> str:
    return f"{role}/{kind}/{active}"


#: A resource type's shape: each attribute that names an Organisation or a User (which the
#: probes set to the asker's own, or another's), or None when no such shape fits it.
Shape = dict[str, str] | None


@dataclass(frozen=True)
class _Probe:
    role: str
    kind: str
    active: bool
    action: str
    type_: str
    #: "own" or "other" (every attribute of the record names the asker's own organisation
    #: or themselves, or another's), "-" for a record without such attributes, "?" for a
    #: type whose shape is unknown (asked about a record that does not exist).
    relation: str

    def request(self) -> dict[str, Any]:
        principal = _principal_id(self.role, self.kind, self.active)
        resource = self.relation if self.relation in ("-", "?") else f"{self.relation}:{principal}"
        return {
            "principal": _uid("User", principal),
            "action": _uid("Action", self.action),
            "resource": _uid(self.type_, resource),
            "context": {},
        }


class _Cedar:
    def __init__(self, policy: PolicySet) -> None:
        self.policies = cedarpy.PolicySet.from_str(policy.policies_text)
        self.schema = cedarpy.Schema.from_str(policy.schema_text)
        self.rule_ids = _rule_ids(policy.policies_text)

    def ask(
        self, requests: Sequence[dict[str, Any]], entities: list[dict[str, Any]]
    ) -> list[cedarpy.AuthzResult]:
        if not requests:
            return []
        return list(
            cedarpy.is_authorized_batch(list(requests), self.policies, entities, self.schema)
        )


def _rule_ids(policies_text: str) -> dict[str, str]:
    """Cedar's ids (``policy3``) -> each rule's ``@id`` annotation, where it has one."""
    document = json.loads(cedarpy.policies_to_json_str(policies_text))
    ids: dict[str, str] = {}
    for key, rule in document.get("staticPolicies", {}).items():
        ids[key] = str(rule.get("annotations", {}).get("id", key))
    return ids


def _user(id_: str, role: str, organisation: str, active: bool) -> dict[str, Any]:
    return {
        "uid": _uid("User", id_),
        "attrs": {
            "role": role,
            "organisation": {"__entity": _uid("Organisation", organisation)},
            "active": active,
        },
        "parents": [_uid("Role", role)],
    }


def _base_entities(roles: Sequence[str]) -> list[dict[str, Any]]:
    """Organisations (own and other, of each kind), roles, the askers and someone else."""
    entities: list[dict[str, Any]] = []
    for kind, relation in product(KINDS, (_OWN, _OTHER)):
        uid = _uid("Organisation", _org_id(kind, relation))
        entities.append({"uid": uid, "attrs": {"kind": kind}, "parents": []})
    for role in dict.fromkeys([*roles, *ROLES]):
        entities.append({"uid": _uid("Role", role), "attrs": {}, "parents": []})
        for kind, active in product(KINDS, (True, False)):
            principal = _principal_id(role, kind, active)
            entities.append(_user(principal, role, _org_id(kind, _OWN), active))
    for kind in KINDS:
        entities.append(_user(f"someone-else/{kind}", ROLES[0], _org_id(kind, _OTHER), True))
    return entities


_PRINCIPAL_TYPES = {"User", "Role", "Organisation"}
_MISSING = re.compile(r"to have attribute `([^`]+)`")
_MISTYPED = re.compile(r"in attribute `([^`]+)`.*?expected to have type `[^`]*::(\w+)`", re.S)
_REFERENCES = ("Organisation", "User")


def _reference(kind: str, id_: str) -> dict[str, Any]:
    return {"__entity": _uid(kind, id_)}


def _learn_shape(cedar: _Cedar, type_: str, base: list[dict[str, Any]]) -> Shape:
    """Offer Cedar a record of ``type_`` and add what its schema says is missing, as a
    reference to an Organisation or a User, until it conforms (or give up)."""
    principal = _principal_id(ROLES[0], KINDS[0], True)
    refs = {"Organisation": _org_id(KINDS[0], _OWN), "User": principal}
    request = {
        "principal": _uid("User", principal),
        "action": _uid("Action", "session.whoami"),
        "resource": _uid(type_, "shape"),
        "context": {},
    }
    shape: dict[str, str] = {}
    for _ in range(2 * len(_REFERENCES) * 4):
        attrs = {name: _reference(kind, refs[kind]) for name, kind in shape.items()}
        entity = {"uid": _uid(type_, "shape"), "attrs": attrs, "parents": []}
        errors = [str(e) for e in cedar.ask([request], [*base, entity])[0].diagnostics.errors]
        problem = next((e for e in errors if "parse entities" in e), None)
        if problem is None:
            return shape
        missing, mistyped = _MISSING.search(problem), _MISTYPED.search(problem)
        if missing and missing.group(1) not in shape:
            shape[missing.group(1)] = _REFERENCES[0]
        elif mistyped and mistyped.group(2) in _REFERENCES and shape.get(mistyped.group(1)):
            if shape[mistyped.group(1)] == mistyped.group(2):
                return None
            shape[mistyped.group(1)] = mistyped.group(2)
        else:
            return None
    return None


def _resource_entities(shapes: dict[str, Shape], roles: Sequence[str]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    for type_, shape in shapes.items():
        if shape is None:
            continue  # asked about a record that does not exist
        if not shape:
            entities.append({"uid": _uid(type_, "-"), "attrs": {}, "parents": []})
            continue
        for role, kind, active in product(roles, KINDS, (True, False)):
            principal = _principal_id(role, kind, active)
            own = {"Organisation": _org_id(kind, _OWN), "User": principal}
            other = {"Organisation": _org_id(kind, _OTHER), "User": f"someone-else/{kind}"}
            for relation, refs in ((_OWN, own), (_OTHER, other)):
                attrs = {name: _reference(ref, refs[ref]) for name, ref in shape.items()}
                uid = _uid(type_, f"{relation}:{principal}")
                entities.append({"uid": uid, "attrs": attrs, "parents": []})
    return entities


def policy_matrix(policy: PolicySet, roles: Sequence[str] = ROLES) -> Matrix:
    """Ask Cedar about every role, action, resource type, kind of organisation and record."""
    cedar = _Cedar(policy)
    actions = declared_actions(policy.schema_text)
    base = _base_entities(roles)
    types = [t for t in declared_entity_types(policy.schema_text) if t not in _PRINCIPAL_TYPES]
    shapes = {t: _learn_shape(cedar, t, base) for t in types}
    entities = [*base, *_resource_entities(shapes, roles)]
    probes: list[_Probe] = []
    for role, action, type_, kind, active in product(roles, actions, types, KINDS, (True, False)):
        shape = shapes[type_]
        relations = ("?",) if shape is None else (_OWN, _OTHER) if shape else ("-",)
        probes += [_Probe(role, kind, active, action, type_, r) for r in relations]
    results = cedar.ask([p.request() for p in probes], entities)
    answers: dict[_Probe, cedarpy.AuthzResult] = dict(zip(probes, results, strict=True))
    cells: dict[tuple[str, str], Cell] = {}
    disabled: list[tuple[str, str]] = []
    for role, action in product(roles, actions):
        mine = {p: r for p, r in answers.items() if p.role == role and p.action == action}
        # A request for a type the action does not apply to fails validation: not asked.
        valid = {p: r for p, r in mine.items() if not _invalid_request(r)}
        if any(r.allowed for p, r in valid.items() if not p.active):
            disabled.append((role, action))
        cells[(role, action)] = _cell({p: r for p, r in valid.items() if p.active}, cedar.rule_ids)
    return Matrix(tuple(roles), tuple(actions), cells, tuple(disabled))


def _invalid_request(result: cedarpy.AuthzResult) -> bool:
    return any("failed to build request" in str(e) for e in result.diagnostics.errors)


def _cell(answers: dict[_Probe, cedarpy.AuthzResult], rule_ids: dict[str, str]) -> Cell:
    rules = sorted(
        {
            rule_ids.get(reason, reason)
            for r in answers.values()
            if r.allowed
            for reason in r.diagnostics.reasons
        }
    )
    if not answers or not any(r.allowed for r in answers.values()):
        return Cell("never")
    if all(r.allowed for r in answers.values()):
        return Cell("always", rules=tuple(rules))
    conditions: list[str] = []
    for type_ in sorted({p.type_ for p in answers}):
        of_type = {p: r.allowed for p, r in answers.items() if p.type_ == type_}
        unknown = any(p.relation == "?" for p in of_type)
        condition = f"partial:{type_}" if unknown else _condition(type_, of_type)
        if condition:
            conditions.append(condition)
    return Cell("conditional", tuple(conditions), tuple(rules))


def _condition(type_: str, allowed: dict[_Probe, bool]) -> str | None:
    """The condition one resource type's answers show, or None if always allowed there."""
    if all(allowed.values()):
        return None
    if not any(allowed.values()):
        return f"never:{type_}"
    kinds = sorted({p.kind for p, ok in allowed.items() if ok})
    by_kind = {
        kind: {p.relation: ok for p, ok in allowed.items() if p.kind == kind} for kind in KINDS
    }
    own_only = all(
        rel.get(_OWN, False) and not rel.get(_OTHER, True)
        for k, rel in by_kind.items()
        if k in kinds
    )
    whole_kinds = all(all(by_kind[k].values()) for k in kinds)
    if len(kinds) == len(KINDS) and own_only:
        return f"own:{type_}"
    if whole_kinds:
        return "kinds:" + ",".join(kinds)
    if own_only:
        return f"own:{type_};kinds:" + ",".join(kinds)
    return f"partial:{type_}"
