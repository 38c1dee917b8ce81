"""The MESH mapping file: sending mailbox -> organisation, workflow id -> dataset schema.

A small TOML file (``policies/mesh/mapping.toml`` by default) that IG officers read and
operators edit; nothing else decides what a MESH message becomes.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MappingError", "MeshMapping", "load_mapping"]

#: MESH mailbox ids are upper-case letters and digits (e.g. ``X26OT001``).
_MAILBOX = re.compile(r"^[A-Z0-9]{3,32}$")
#: Workflow ids are upper-case letters, digits and underscores, dashes or dots.
_WORKFLOW = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ORG_CODE = re.compile(r"^[A-Z0-9]{3,16}$")
_SCHEMA = re.compile(r"^[a-z0-9_]{1,64}$")


class MappingError(ValueError):
    """The mapping file is missing or malformed (names the key at fault, never a message)."""


@dataclass(frozen=True)
class MeshMapping:
    senders: dict[str, str] = field(default_factory=dict)  # mailbox id -> organisation code
    workflows: dict[str, str] = field(default_factory=dict)  # workflow id -> schema name

    def __post_init__(self) -> None:
        for mailbox, org in self.senders.items():
            if not _MAILBOX.match(mailbox) or not _ORG_CODE.match(org):
                raise MappingError(
                    "[senders]: each key is a MESH mailbox id and each value an organisation"
                    " code (capital letters and digits)"
                )
        for workflow, schema in self.workflows.items():
            if not _WORKFLOW.match(workflow) or not _SCHEMA.match(schema):
                raise MappingError(
                    "[workflows]: each key is a MESH workflow id and each value a dataset"
                    " schema name"
                )


def load_mapping(path: Path) -> MeshMapping:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise MappingError(f"the MESH mapping file {path} cannot be read") from None
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"the MESH mapping file is not valid TOML: {error}") from None
    unknown = sorted(set(table) - {"senders", "workflows"})
    if unknown:
        raise MappingError(f"the MESH mapping file has unknown table(s): {', '.join(unknown)}")
    senders, workflows = table.get("senders", {}), table.get("workflows", {})
    if not isinstance(senders, dict) or not isinstance(workflows, dict):
        raise MappingError("[senders] and [workflows] are tables")
    if not all(isinstance(v, str) for v in (*senders.values(), *workflows.values())):
        raise MappingError("every value in [senders] and [workflows] is a string")
    return MeshMapping(senders=dict(senders), workflows=dict(workflows))
