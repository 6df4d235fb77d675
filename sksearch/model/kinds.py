"""The block kinds: one row of ``KINDS`` per kind, everything the package knows of it.

A unit's kind decides which 3x3 conv it has and what gates its output. The row says which spec
settings the kind reads (``settings``: what a space samples for it, what a network key keeps,
what the supernet slices), how those settings are checked against the rest of the spec
(``checks``), which class of ``network.py`` builds its parts of a unit (``unit``), whether its
units hold SK convs whose attention ``analyze`` reads (``attention``), whether the one-shot
supernet can slice it (``one_shot``), and the line an export's README gives it (``readme``).

Adding a kind is one class in ``network.py`` (a ``BlockParts`` subclass listing the kind's
names), one row here and one row in ``tests/model/test_kinds.py``, the contract test every kind
passes. No torch here: specs are read and checked where torch is not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from .spec import ArchSpec

# What a check yields for each thing wrong: the spec field's path and what is allowed.
Problems = Iterator[tuple[str, str]]

# The spec settings a kind may read, each the setting of one part of a unit: a kind that reads
# one builds that part, so the space samples it, the network key keeps it and the supernet
# slices the part (``space/sample.py``, ``oneshot/search.py``, ``oneshot/supernet.py``).
SETTINGS = {
    "se_reduction": "the SE gate on each unit's output (and on the head conv's)",
    "sk": "the SK conv in place of each unit's 3x3 conv (the network-wide and each stage's sk)",
}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _se_fits(spec: ArchSpec) -> Problems:
    """The SE squeeze (channels // se_reduction) leaves at least one channel of every gated output."""
    for i, stage in enumerate(spec.stages):
        if stage.out_channels < spec.se_reduction:
            yield "se_reduction", f"{spec.se_reduction} exceeds stage {i}'s out_channels {stage.out_channels}"
    if spec.head_width is not None and spec.head_width < spec.se_reduction:
        yield "se_reduction", f"{spec.se_reduction} exceeds head_width {spec.head_width}"


def _sk_branch_groups(spec: ArchSpec) -> Problems:
    """A branch's own groups divide its stage's width (resnext family); shufflenetv2 branches
    are depthwise and take none."""
    for i, stage in enumerate(spec.stages):
        sk, where = spec.sk_of(i), (f"stages[{i}].sk" if stage.sk is not None else "sk")
        for b, branch in enumerate(sk.branches):
            if len(branch) != 3:
                continue
            if spec.family == "shufflenetv2":
                yield (f"{where}.branches[{b}]", "a branch's groups applies to the resnext family; "
                                                  "shufflenetv2 branches are depthwise")
            elif stage.width % branch[2]:
                yield (f"{where}.branches[{b}].groups",
                       f"{branch[2]} does not divide stage {i}'s width {stage.width}; allowed: a divisor of "
                       f"{stage.width} ({', '.join(map(str, divisors(stage.width)))})")


def _plain_readme(spec: ArchSpec) -> str:
    return "- plain units (no SE, no SK)"


def _se_readme(spec: ArchSpec) -> str:
    return f"- SE reduction {spec.se_reduction}"


def _sk_readme(spec: ArchSpec) -> str:
    branches = ", ".join(f"{b[0]}x{b[0]} d={b[1]}" + (f" G={b[2]}" if len(b) == 3 else "") for b in spec.sk.branches)
    return f"- SK: M={spec.sk.M} ({branches}), r={spec.sk.reduction}, L={spec.sk.min_dim}, select {spec.sk.select}"


@dataclass(frozen=True)
class BlockKind:
    """One block kind (see the module's docstring for what each field decides)."""

    name: str
    summary: str                                 # what the unit is, in a few words (the docs' reference)
    unit: str                                    # the ``network.BlockParts`` subclass that builds its parts
    readme: Callable[[ArchSpec], str]            # the export README's line for a spec of this kind
    settings: tuple[str, ...] = ()               # keys of ``SETTINGS`` the kind reads
    checks: tuple[Callable[[ArchSpec], Problems], ...] = ()
    attention: bool = False                      # its units hold SK convs with a selection to record
    one_shot: bool = True                        # the supernet slices its units into subnets
    aliases: tuple[str, ...] = ()                # other names a space or spec may give it

    def uses(self, setting: str) -> bool:
        """Whether the kind reads ``setting`` (a key of ``SETTINGS``)."""
        if setting not in SETTINGS:
            raise KeyError(f"{setting!r} is no block-kind setting; known: {', '.join(SETTINGS)}")
        return setting in self.settings

    def problems(self, spec: ArchSpec) -> Problems:
        """What is wrong with ``spec``'s settings for this kind, as (path, message) pairs."""
        for check in self.checks:
            yield from check(spec)


KINDS: dict[str, BlockKind] = {kind.name: kind for kind in (
    # ``resnext`` names the unit with neither SE nor SK in either family (in shufflenetv2 too,
    # where it is the plain ShuffleNet unit); ``plain`` says so, and every spec.json, table and
    # preset already holds ``resnext``.
    BlockKind("resnext", "a plain 3x3 conv (also written plain)", unit="PlainParts", readme=_plain_readme,
              aliases=("plain",)),
    BlockKind("se", "plus SE on each unit's output", unit="SEParts", readme=_se_readme,
              settings=("se_reduction",), checks=(_se_fits,)),
    BlockKind("sk", "the 3x3 conv is an SK conv", unit="SKParts", readme=_sk_readme, settings=("sk",),
              checks=(_sk_branch_groups,), attention=True),
)}

# Another name of a kind -> the kind's own name.
ALIASES: dict[str, str] = {alias: kind.name for kind in KINDS.values() for alias in kind.aliases}


def kind_of(name: str) -> BlockKind:
    """The row of a block name or alias (a space's ``block``); ``KeyError`` naming the kinds."""
    try:
        return KINDS[ALIASES.get(name, name)]
    except (KeyError, TypeError):
        raise KeyError(f"block {name!r} is no block kind; known: {', '.join([*KINDS, *ALIASES])}") from None
