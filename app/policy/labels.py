"""Plain-language labels for the policy and the audit log (``policies/labels/labels.toml``).

The one reader of that file. Labels describe the policy; they never decide anything, so
they are not part of the policy set's hash. A name without a label is shown as itself
(never hidden); ``tests/unit/test_policy_labels.py`` fails if any Cedar action or any
action the code can audit has none.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.resources import resource_dir

__all__ = [
    "LABELS_FILE",
    "ActionLabel",
    "AreaLabel",
    "Labels",
    "LabelsError",
    "RoleLabel",
    "labels_path",
    "load_labels",
    "parse_labels",
]

#: Relative to the policy directory (a subdirectory: the loader reads only ``*.toml`` at
#: the top level as rules, and refuses files it does not know).
LABELS_FILE = Path("labels") / "labels.toml"


class LabelsError(ValueError):
    """The labels file is malformed: a missing or unknown key, or a value of the wrong type."""


@dataclass(frozen=True)
class RoleLabel:
    name: str
    title: str
    plural: str
    summary: str


@dataclass(frozen=True)
class AreaLabel:
    name: str
    title: str
    intro: str


@dataclass(frozen=True)
class ActionLabel:
    name: str
    area: str
    label: str
    sentence: str
    audit: str


@dataclass(frozen=True)
class Labels:
    roles: Mapping[str, RoleLabel]
    areas: Mapping[str, AreaLabel]
    actions: Mapping[str, ActionLabel]
    #: Audit-log names that are not Cedar actions: name -> audit label.
    audit_only: Mapping[str, str]
    #: Resource type -> how an own-organisation limit on its records is worded.
    own_records: Mapping[str, str]
    #: Page route (path template) -> title.
    pages: Mapping[str, str]

    def audit_label(self, action: str) -> str:
        """How the audit log shows ``action``: its label, else the name itself."""
        known = self.actions.get(action)
        if known is not None:
            return known.audit
        return self.audit_only.get(action, action)

    def labelled(self) -> set[str]:
        """Every action name with an audit label."""
        return set(self.actions) | set(self.audit_only)

    def page_title(self, path: str) -> str:
        return self.pages.get(path, path)

    def role_title(self, role: str) -> str:
        """The role as a sentence names it ("IG officer", "council analyst"); an unknown
        role code with its underscores as spaces."""
        known = self.roles.get(role)
        return known.title if known else role.replace("_", " ")

    def role_heading(self, role: str) -> str:
        """The role as a heading or a table cell names it ("Council analyst")."""
        title = self.role_title(role)
        return title[:1].upper() + title[1:]


_SECTIONS = {"roles", "areas", "actions", "audit_only", "resource_types", "pages"}
_KEYS = {
    "roles": {"title", "plural", "summary"},
    "areas": {"title", "intro"},
    "actions": {"area", "label", "sentence", "audit"},
    "audit_only": {"audit"},
    "resource_types": {"own"},
    "pages": {"title"},
}


def _entries(table: Mapping[str, Any], section: str) -> dict[str, dict[str, str]]:
    raw = table.get(section, {})
    if not isinstance(raw, dict):
        raise LabelsError(f"[{section}] is a table")
    entries: dict[str, dict[str, str]] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise LabelsError(f"[{section}.{name}] is a table")
        keys = set(entry)
        if keys != _KEYS[section]:
            raise LabelsError(
                f"[{section}.{name}] has the keys {', '.join(sorted(_KEYS[section]))}"
            )
        if not all(isinstance(v, str) and v.strip() for v in entry.values()):
            raise LabelsError(f"[{section}.{name}]: every value is non-empty text")
        entries[name] = {k: v.strip() for k, v in entry.items()}
    return entries


def parse_labels(text: str) -> Labels:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LabelsError(f"labels.toml is not valid TOML: {error}") from None
    unknown = sorted(set(table) - _SECTIONS)
    if unknown:
        raise LabelsError(f"labels.toml: unknown section(s) {', '.join(unknown)}")
    areas = {n: AreaLabel(n, **e) for n, e in _entries(table, "areas").items()}
    actions = {n: ActionLabel(n, **e) for n, e in _entries(table, "actions").items()}
    for action in actions.values():
        if action.area not in areas:
            raise LabelsError(f"[actions.{action.name}]: no area {action.area!r}")
    audit_only = {n: e["audit"] for n, e in _entries(table, "audit_only").items()}
    both = sorted(set(actions) & set(audit_only))
    if both:
        raise LabelsError(f"labels.toml: {', '.join(both)} is both an action and audit-only")
    return Labels(
        roles={n: RoleLabel(n, **e) for n, e in _entries(table, "roles").items()},
        areas=areas,
        actions=actions,
        audit_only=audit_only,
        own_records={n: e["own"] for n, e in _entries(table, "resource_types").items()},
        pages={n: e["title"] for n, e in _entries(table, "pages").items()},
    )


def labels_path(policy_dir: Path) -> Path:
    """The policy directory's labels, else the packaged ones (a deployment's own policy
    directory may leave the wording to the release)."""
    own = policy_dir / LABELS_FILE
    return own if own.exists() else resource_dir("policies") / LABELS_FILE


def load_labels(policy_dir: Path) -> Labels:
    return parse_labels(labels_path(policy_dir).read_text(encoding="utf-8"))
