"""Roles and the database each one owns (the only writer of it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from eventbus import Pattern
from schemas import Event
from writers import ANALYSIS, LOGS, MAIN, DatabaseSpec

from ._exceptions import TradebusError

__all__ = ["DEFAULT_ROLES", "Topology"]

#: The original system's roles, in the order they are usually started.
DEFAULT_ROLES: tuple[str, ...] = ("chatgpt_bot", "desktop_agent", "api_server")


@dataclasses.dataclass(frozen=True)
class Topology:
    """Which role owns (is the only writer of) which database.

    The default is the original system's: ``chatgpt_bot`` owns ``main``
    (``unified_tick_pipeline.db``), ``desktop_agent`` owns ``analysis``
    (``analysis_data.db``), ``api_server`` owns ``logs`` (``system_logs.db``).
    Build another with other role names or file names::

        Topology({"feed": MAIN.with_filename("ticks.db"), "agent": ANALYSIS, "ops": LOGS})
    """

    owners: Mapping[str, DatabaseSpec]
    _homes: Mapping[type[Event], DatabaseSpec] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        owners = dict(self.owners)
        if not owners:
            raise ValueError("a topology needs at least one role")
        names = [spec.name for spec in owners.values()]
        if len(set(names)) != len(names):
            owned = {role: spec.name for role, spec in owners.items()}
            raise ValueError(f"each database has exactly one owner role, got {owned}")
        files = [spec.filename for spec in owners.values()]
        if len(set(files)) != len(files):
            raise ValueError(f"each database needs its own file, got {files}")
        object.__setattr__(self, "owners", MappingProxyType(owners))
        # Each event type's home, worked out once (every call asks, several times).
        homes: dict[type[Event], DatabaseSpec] = {}
        for spec in reversed(owners.values()):  # the first database that stores it wins
            homes.update(dict.fromkeys(spec.event_types, spec))
        object.__setattr__(self, "_homes", MappingProxyType(homes))

    @classmethod
    def default(cls) -> Topology:
        """The original system's three roles and file names."""
        return cls(dict(zip(DEFAULT_ROLES, (MAIN, ANALYSIS, LOGS), strict=True)))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.owners)

    @property
    def databases(self) -> tuple[DatabaseSpec, ...]:
        return tuple(self.owners.values())

    def spec(self, database: str | DatabaseSpec) -> DatabaseSpec:
        """The spec of a database, by name (``main``), file name, owner role or spec."""
        if isinstance(database, DatabaseSpec):
            database = database.name
        for role, spec in self.owners.items():
            if database in (spec.name, spec.filename, role):
                return spec
        raise TradebusError(f"no database {database!r} in this topology; it has {self.describe()}")

    def owner(self, database: str | DatabaseSpec) -> str:
        """The role that owns (writes) ``database``."""
        spec = self.spec(database)
        return next(role for role, s in self.owners.items() if s.name == spec.name)

    def owned_by(self, role: str) -> DatabaseSpec:
        """The database ``role`` owns."""
        try:
            return self.owners[role]
        except KeyError:
            raise TradebusError(
                f"no role {role!r} in this topology; it has {self.describe()}"
            ) from None

    def home(self, event: Event | type[Event]) -> DatabaseSpec | None:
        """The database that stores events of this type (None: not persisted)."""
        event_type = event if isinstance(event, type) else type(event)
        return self._homes.get(event_type)

    def home_of_topic(self, topic: str) -> DatabaseSpec | None:
        """The database whose writer subscribes to ``topic`` (None: not persisted)."""
        for spec in self.databases:
            if any(Pattern(p).matches(topic) for p in spec.topics):
                return spec
        return None

    def describe(self) -> str:
        """``chatgpt_bot -> main (unified_tick_pipeline.db), ...`` for error messages."""
        return ", ".join(
            f"{role} -> {spec.name} ({spec.filename})" for role, spec in self.owners.items()
        )
