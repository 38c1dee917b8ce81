"""One policy decision point for every route and service.

The policy set in force is every ``*.cedar`` file of the policy directory in name
order, validated against ``schema.cedarschema``, and the declarative rules of its
``*.toml`` files (``app.policy.rules``: disclosure control, linkage threshold). It is
identified by the SHA-256 of its canonical text (see :func:`canonical_text`), which the
audit log records on load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

from app.auth.actor import Actor
from app.policy.rules import Rules, RulesError, parse_rules

__all__ = ["Decision", "PolicyError", "PolicySet", "Resource", "load_policy_set"]

SCHEMA_FILE = "schema.cedarschema"
NAMESPACE = "Hsclink"


class PolicyError(RuntimeError):
    """The policy files are missing or do not validate; the service will not start."""


@dataclass(frozen=True)
class Resource:
    """What an action is on: a collection or singleton, later typed records with attributes."""

    id: str
    type: str = "Resource"
    attrs: dict[str, Any] = field(default_factory=dict)

    def uid(self) -> dict[str, str]:
        return {"type": f"{NAMESPACE}::{self.type}", "id": self.id}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyFile:
    name: str
    text: str


@dataclass(frozen=True)
class PolicySet:
    schema_text: str
    files: tuple[PolicyFile, ...]
    documents: tuple[PolicyFile, ...] = ()

    def __post_init__(self) -> None:
        try:
            rules = parse_rules({d.name: d.text for d in self.documents})
        except RulesError as error:
            raise PolicyError(str(error)) from None
        object.__setattr__(self, "_rules", rules)

    @property
    def rules(self) -> Rules:
        """The parsed ``*.toml`` rules (validated when the set was built)."""
        rules: Rules = self.__dict__["_rules"]
        return rules

    @property
    def canonical_text(self) -> str:
        """What the hash covers: the schema then each policy file, each under its name."""
        parts = [f"// ---- {SCHEMA_FILE} ----\n{self.schema_text}"]
        parts += [f"// ---- {f.name} ----\n{f.text}" for f in self.files]
        parts += [f"// ---- {d.name} ----\n{d.text}" for d in self.documents]
        return "\n".join(parts)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_text.encode()).hexdigest()

    @property
    def policies_text(self) -> str:
        return "\n".join(f.text for f in self.files)

    def decide(self, actor: Actor, action: str, resource: Resource) -> Decision:
        if not actor.is_user:
            return Decision(False)
        principal = {"type": f"{NAMESPACE}::User", "id": str(actor.user_id)}
        organisation = {"type": f"{NAMESPACE}::Organisation", "id": actor.organisation}
        entities: list[dict[str, Any]] = [
            {
                "uid": principal,
                "attrs": {
                    "role": actor.role,
                    "organisation": {"__entity": organisation},
                    "active": True,
                },
                "parents": [{"type": f"{NAMESPACE}::Role", "id": actor.role}],
            },
            {"uid": {"type": f"{NAMESPACE}::Role", "id": actor.role}, "attrs": {}, "parents": []},
            {"uid": organisation, "attrs": {"kind": actor.organisation_kind}, "parents": []},
            {"uid": resource.uid(), "attrs": resource.attrs, "parents": []},
        ]
        request = {
            "principal": principal,
            "action": {"type": f"{NAMESPACE}::Action", "id": action},
            "resource": resource.uid(),
            "context": {},
        }
        result = cedarpy.is_authorized(request, self._compiled, entities, schema=self._schema)
        return Decision(result.allowed, tuple(result.diagnostics.reasons))

    @property
    def _compiled(self) -> cedarpy.PolicySet:
        cached = self.__dict__.get("_compiled_cache")
        if cached is None:
            cached = cedarpy.PolicySet.from_str(self.policies_text)
            object.__setattr__(self, "_compiled_cache", cached)
        return cached

    @property
    def _schema(self) -> cedarpy.Schema:
        cached = self.__dict__.get("_schema_cache")
        if cached is None:
            cached = cedarpy.Schema.from_str(self.schema_text)
            object.__setattr__(self, "_schema_cache", cached)
        return cached


def load_policy_set(directory: Path) -> PolicySet:
    schema_path = directory / SCHEMA_FILE
    if not schema_path.exists():
        raise PolicyError(f"no {SCHEMA_FILE} in {directory}")
    files = tuple(
        PolicyFile(p.name, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.cedar"))
    )
    if not files:
        raise PolicyError(f"no *.cedar policy files in {directory}")
    documents = tuple(
        PolicyFile(p.name, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.toml"))
    )
    policy_set = PolicySet(schema_path.read_text(encoding="utf-8"), files, documents)
    result = cedarpy.validate_policies(policy_set.policies_text, policy_set.schema_text)
    if not result.validation_passed:
        messages = "; ".join(str(e) for e in result.errors)
        raise PolicyError(f"policies in {directory} do not validate: {messages}")
    return policy_set
