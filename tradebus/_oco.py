"""One-cancels-other groups: which member triggered a group, and what that means for
the others, as a pure function of the members' fills and closes (so that it comes out
the same after a restart)."""

from __future__ import annotations

import dataclasses

from schemas import OcoGroup, Severity

__all__ = ["Consequence", "Member", "OcoBook"]


@dataclasses.dataclass
class Member:
    """What is known of one member ticket: its symbol, when it filled (the ts of its
    execution) and when it closed (None: not yet)."""

    symbol: str = ""
    filled_ts: int | None = None
    closed_ts: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Consequence:
    """Something a group's trigger means for one member, fired once."""

    ticket: int
    symbol: str
    kind: str
    severity: Severity
    message: str
    group_id: str


class OcoBook:
    """The OCO groups and the state of their members.

    A member *fills* when its execution is logged at or after the group's ``ts`` (a
    member executed before is a position already open at registration). A group is
    triggered by the first (by ts, then ticket) fill or close of a member. Then each
    other member must be cancelled: a pending order (``oco_cancel_order``) or a
    position open before the trigger (``oco_close_position``); a member that fills at
    or after the trigger makes both legs live (``oco_both_live``, critical).
    """

    def __init__(self) -> None:
        self.groups: dict[str, OcoGroup] = {}
        self.members: dict[int, Member] = {}
        self._of_ticket: dict[int, list[str]] = {}
        # A pending member's symbol is not known: its marks name the trigger's.
        self._trigger_symbol = ""

    def add(self, group: OcoGroup) -> bool:
        """Add ``group`` (the first registration of a group_id holds); whether it is new."""
        if group.group_id in self.groups:
            return False
        self.groups[group.group_id] = group
        for ticket in group.tickets:
            self.members.setdefault(ticket, Member())
            self._of_ticket.setdefault(ticket, []).append(group.group_id)
        return True

    def unknown_members(self) -> list[int]:
        """Members whose symbol is not known yet (no execution seen)."""
        return [t for t, m in self.members.items() if not m.symbol]

    def filled(self, ticket: int, symbol: str, ts: int) -> list[str]:
        """Record the execution of ``ticket``; the groups it belongs to."""
        member = self.members.get(ticket)
        if member is None:
            return []
        member.symbol = symbol
        if member.filled_ts is None:
            member.filled_ts = ts
        return self._of_ticket.get(ticket, [])

    def closed(self, ticket: int, symbol: str, ts: int) -> list[str]:
        """Record the close of ``ticket``; the groups it belongs to."""
        member = self.members.get(ticket)
        if member is None:
            return []
        member.symbol = member.symbol or symbol
        if member.closed_ts is None:
            member.closed_ts = ts
        return self._of_ticket.get(ticket, [])

    def evaluate(self, group_id: str, trigger: int | None = None) -> list[Consequence]:
        """What group ``group_id`` calls for now (every consequence, fired or not).

        :param trigger: the member that triggered the group already (its mark is
            stored): it stays the trigger, whatever is logged later with the same or an
            earlier time (the close the trigger called for, in its millisecond).
        """
        group = self.groups[group_id]
        registered = group.ts
        moments: list[tuple[int, int, str]] = []
        for ticket in group.tickets:
            m = self.members[ticket]
            if m.filled_ts is not None and m.filled_ts >= registered:
                moments.append((m.filled_ts, ticket, "filled"))
            if m.closed_ts is not None:
                moments.append((m.closed_ts, ticket, "closed"))
        if not moments:
            return []
        known = [moment for moment in moments if moment[1] == trigger]
        at, trigger, how = min(known or moments)
        self._trigger_symbol = self.members[trigger].symbol
        others = [t for t in group.tickets if t != trigger]
        found = [
            self._consequence(
                group_id, trigger, "oco_triggered", "warning",
                f"OCO group {group_id}: #{trigger} {how}; cancel "
                + ", ".join(f"#{t}" for t in others),
            )
        ]  # fmt: skip
        for ticket in others:
            m = self.members[ticket]
            live = m.filled_ts is not None and (m.filled_ts < registered or m.filled_ts < at)
            if live:
                if m.closed_ts is None or m.closed_ts > at:
                    found.append(
                        self._consequence(
                            group_id, ticket, "oco_close_position", "warning",
                            f"OCO group {group_id}: #{trigger} {how}; close position #{ticket}",
                        )
                    )  # fmt: skip
                continue
            found.append(
                self._consequence(
                    group_id, ticket, "oco_cancel_order", "warning",
                    f"OCO group {group_id}: #{trigger} {how}; cancel pending order #{ticket}",
                )
            )  # fmt: skip
            if m.filled_ts is not None:
                found.append(
                    self._consequence(
                        group_id, ticket, "oco_both_live", "critical",
                        f"OCO group {group_id}: #{ticket} filled after #{trigger} {how}: "
                        "both legs are live; close one now",
                    )
                )  # fmt: skip
        return found

    def _consequence(
        self, group_id: str, ticket: int, kind: str, severity: Severity, message: str
    ) -> Consequence:
        symbol = self.members[ticket].symbol or self._trigger_symbol
        return Consequence(
            ticket=ticket,
            symbol=symbol,
            kind=kind,
            severity=severity,
            message=message,
            group_id=group_id,
        )
