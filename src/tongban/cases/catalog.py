"""The matter catalog: one data file per matter, validated at start-up (domain).

Each ``matters/<CODE>.toml`` declares a matter: names in zh-CN and en, its cross-province mode, the materials
(and which of them are looked up from a registry instead of asked for), the eligibility rules (keys of rules in
the local policy files), the steps (which node, which staff role, or automatic where the matter allows it) and
the time limits (a value with a unit, or the key of a limit the local policy sets where no national figure is
known). A broken file stops start-up with a message naming the file and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tongban.cases.calendar import DayUnit, TimeLimit
from tongban.cases.policy import Names, Policy
from tongban.core.errors import NotFound
from tongban.core.i18n import N_

MATTERS_DIR = Path(__file__).parent / "matters"

# Announced matters that do not exist as a matter: the reason, for catalogs and pages that list them.
NO_MATTER = {
    "pawnbroking": "the special-industry permit for pawnbroking is cancelled: no licence matter exists",
}


class CatalogError(ValueError):
    """A matter file is broken; the message names the file and the problem."""


class Mode(StrEnum):
    """Cross-province mode (State Council guiding opinion, September 2020)."""

    FULLY_ONLINE = "fully_online"  # 全程网办
    ACCEPT_HERE_DECIDE_THERE = "accept_here_decide_there"  # 异地代收代办
    JOINT_HANDLING = "joint_handling"  # 多地联办
    # Not a cross-province matter: handled where it is filed (enterprise matters of one province).
    LOCAL = "local"


class NodeRole(StrEnum):
    ACCEPTING = "accepting"  # the node where the application was made
    ORIGIN = "origin"  # 迁出地
    DESTINATION = "destination"  # 迁入地
    HUKOU = "hukou"  # the node of the person's household registration


class Actor(StrEnum):
    STAFF = "staff"
    AUTOMATIC = "automatic"
    EXTERNAL = "external"  # a party outside the administration (an engraving shop)


class StaffRole(StrEnum):
    WINDOW_CLERK = "window_clerk"
    REVIEWER = "reviewer"
    OFFICE_HEAD = "office_head"


class MaterialSource(StrEnum):
    APPLICANT = "applicant"  # the applicant hands it in (or uploads it)
    REGISTRY = "registry"  # looked up: never asked for, never photocopied


class Registry(StrEnum):
    HUKOU = "hukou"  # household registration (persons, households)
    BUSINESS = "business_registration"  # enterprises' registration data
    SEAL_FILING = "seal_filing"  # the police's filing of seals and engraving shops
    CREDIT = "credit_record"


# Documents whose content a registry holds: asking for them (or a photocopy) is refused.
REGISTRY_HELD_KINDS = {
    "household_booklet": Registry.HUKOU,
    "hukou_record": Registry.HUKOU,
    "business_licence": Registry.BUSINESS,
}


class LimitRef(BaseModel):
    """A time limit: a value with a unit, or the key of a limit the local policy sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: int | None = Field(default=None, ge=0, le=3660)
    unit: DayUnit | None = None
    policy: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> LimitRef:
        fixed = self.value is not None and self.unit is not None
        if fixed == (self.policy is not None) or (self.value is None) != (self.unit is None):
            raise ValueError("give either value and unit, or policy (a local policy's limit key)")
        return self

    def resolve(self, policy: Policy | None) -> TimeLimit:
        if self.value is not None and self.unit is not None:
            return TimeLimit(self.value, self.unit)
        if policy is None:
            raise NotFound(
                N_("Time limit {key} is set by local policy, and none is in force"), key=self.policy
            )
        return policy.limit(str(self.policy))


class Material(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Names
    kind: str | None = None
    source: MaterialSource = MaterialSource.APPLICANT
    registry: Registry | None = None
    required: bool = True
    # The procedures that need it; empty means all.
    procedures: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _looked_up_where_held(self) -> Material:
        if self.source is MaterialSource.REGISTRY and self.registry is None:
            raise ValueError("a material looked up from a registry names the registry")
        if self.source is MaterialSource.APPLICANT and self.registry is not None:
            raise ValueError("a material the applicant hands in has no registry")
        held = REGISTRY_HELD_KINDS.get(self.kind or "")
        if held is not None and self.source is not MaterialSource.REGISTRY:
            raise ValueError(
                f"{self.kind} is held by the {held.value} registry: look it up, never ask for a copy"
            )
        return self


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Names
    node: NodeRole
    actor: Actor = Actor.STAFF
    staff_role: StaffRole | None = None
    party: str | None = None
    time_limit: LimitRef | None = None
    produces: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _actor_fields(self) -> Step:
        if self.actor is Actor.STAFF and self.staff_role is None:
            raise ValueError("a staff step names its staff_role")
        if self.actor is not Actor.STAFF and self.staff_role is not None:
            raise ValueError("only a staff step has a staff_role")
        if (self.actor is Actor.EXTERNAL) != (self.party is not None):
            raise ValueError("an external step, and only it, names its party")
        return self


class Procedure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Names
    # Overrides the matter's mode (a certificate online is fully online, at a window accept-here-decide-there).
    mode: Mode | None = None
    # Rules of this procedure only, on top of the matter's.
    eligibility: tuple[str, ...] = ()
    time_limit: LimitRef | None = None
    extension: LimitRef | None = None
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> Procedure:
        keys = [s.key for s in self.steps]
        if len(keys) != len(set(keys)):
            raise ValueError("step keys must be unique within a procedure")
        return self


class Matter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
    name: Names
    mode: Mode
    pilot: bool = False
    allows_automatic: bool = False
    summary: Names | None = None
    materials: tuple[Material, ...] = ()
    eligibility: tuple[str, ...] = ()
    validity: dict[str, LimitRef] = Field(default_factory=dict)
    procedures: tuple[Procedure, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Matter:
        keys = [m.key for m in self.materials]
        if len(keys) != len(set(keys)):
            raise ValueError("material keys must be unique")
        pkeys = [p.key for p in self.procedures]
        if len(pkeys) != len(set(pkeys)):
            raise ValueError("procedure keys must be unique")
        for m in self.materials:
            unknown = set(m.procedures) - set(pkeys)
            if unknown:
                raise ValueError(f"material {m.key}: unknown procedures {', '.join(sorted(unknown))}")
        for proc in self.procedures:
            mode = proc.mode or self.mode
            roles = {s.node for s in proc.steps}
            if not self.allows_automatic and any(s.actor is Actor.AUTOMATIC for s in proc.steps):
                raise ValueError(
                    f"procedure {proc.key}: an automatic step in a matter that does not allow one"
                )
            if mode is Mode.JOINT_HANDLING and len(roles) < 2:
                raise ValueError(f"procedure {proc.key}: joint handling needs steps at two or more nodes")
            if mode is Mode.ACCEPT_HERE_DECIDE_THERE and roles <= {NodeRole.ACCEPTING}:
                raise ValueError(
                    f"procedure {proc.key}: accept-here-decide-there needs a deciding node elsewhere"
                )
        if self.code.startswith("MIG-") and any(
            (p.mode or self.mode) is not Mode.JOINT_HANDLING for p in self.procedures
        ):
            raise ValueError("migrations are joint handling")
        return self

    def procedure(self, key: str | None = None) -> Procedure:
        if key is None:
            return self.procedures[0]
        for p in self.procedures:
            if p.key == key:
                return p
        raise NotFound(N_("Matter {code} has no procedure {key}"), code=self.code, key=key)

    def materials_for(self, procedure: str | None = None) -> list[Material]:
        key = self.procedure(procedure).key
        return [m for m in self.materials if not m.procedures or key in m.procedures]

    def asked_materials(self, procedure: str | None = None) -> list[Material]:
        return [m for m in self.materials_for(procedure) if m.source is MaterialSource.APPLICANT]

    def looked_up_materials(self, procedure: str | None = None) -> list[Material]:
        return [m for m in self.materials_for(procedure) if m.source is MaterialSource.REGISTRY]

    def rule_keys(self, procedure: str | None = None) -> list[str]:
        return [*self.eligibility, *self.procedure(procedure).eligibility]

    def policy_limit_keys(self) -> set[str]:
        refs: list[LimitRef | None] = [*self.validity.values()]
        for p in self.procedures:
            refs += [p.time_limit, p.extension, *(s.time_limit for s in p.steps)]
        return {r.policy for r in refs if r is not None and r.policy is not None}


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors())


def parse_matter(text: str, *, name: str = "<matter>") -> Matter:
    try:
        return Matter.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{name}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise CatalogError(f"{name}: {_describe(exc)}") from exc


@dataclass(frozen=True)
class MatterCatalog:
    matters: Mapping[str, Matter]

    @classmethod
    def load(cls, directory: Path | None = None) -> MatterCatalog:
        root = directory or MATTERS_DIR
        matters: dict[str, Matter] = {}
        for path in sorted(root.glob("*.toml")):
            matter = parse_matter(path.read_text(encoding="utf-8"), name=str(path))
            if path.stem != matter.code:
                raise CatalogError(f"{path}: file name must be the matter code ({matter.code}.toml)")
            matters[matter.code] = matter
        if not matters:
            raise CatalogError(f"{root}: no matter files")
        return cls(matters)

    def __iter__(self) -> Iterator[Matter]:
        return iter(self.matters.values())

    def get(self, code: str) -> Matter:
        try:
            return self.matters[code]
        except KeyError:
            raise NotFound(N_("Unknown matter {code}"), code=code) from None

    def missing_in(self, policy: Policy) -> list[str]:
        """Rule and limit keys the catalog refers to that ``policy`` does not define."""
        missing = []
        for m in self:
            keys = dict.fromkeys([*m.eligibility, *(k for p in m.procedures for k in p.eligibility)])
            missing += [f"{m.code}: rule {k}" for k in keys if k not in policy.rules]
            missing += [
                f"{m.code}: limit {k}" for k in sorted(m.policy_limit_keys()) if k not in policy.limits
            ]
        return missing
