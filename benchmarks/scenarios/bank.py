"""The real sprites a suite may use, each checked with the real detector where it will be used.

Vehicles and people for the lane, e-bikes and people for the lift car and the stairwell door:
every candidate crop is pasted on that camera's background at the size and places it will have in
the clips, and kept only if the detector finds it with its own class there (people are also
dropped when a bicycle or motorbike is found on them, since they must be seen alone). The
checks are printed, so a run says which sprites it kept and why the others were dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.scenarios import lane, lift
from benchmarks.scenarios.errors import SpriteError
from benchmarks.scenarios.sprites import (
    COCO_MOTORBIKES,
    COCO_PERSONS,
    COCO_VEHICLES,
    EBIKE_CLASS,
    EBIKE_DIR,
    Placement,
    Sprite,
    SpriteCheck,
    SpriteChecker,
    SpriteSource,
    coco_sources,
    ebike_sources,
    has_ebike_photos,
)

BIKES = frozenset({"bicycle", "motorbike"})


@dataclass(frozen=True, slots=True)
class SpriteBank:
    """Checked sprites by use, and every check made."""

    lane: lane.LaneSprites
    lift_ebikes: tuple[Sprite, ...]
    lift_persons: tuple[Sprite, ...]
    stair_ebikes: tuple[Sprite, ...]
    stair_persons: tuple[Sprite, ...]
    checks: tuple[SpriteCheck, ...]


@dataclass(frozen=True, slots=True)
class Backgrounds:
    """The fixed view of each detector camera, on which sprites are checked."""

    lane: np.ndarray
    lift: np.ndarray
    stair: np.ndarray


def _keep(
    checker: SpriteChecker,
    sources: Sequence[SpriteSource],
    height_of: Callable[[SpriteSource], int],
    image: np.ndarray,
    placements_of: Callable[[SpriteSource], list[Placement]],
    use: str,
    checks: list[SpriteCheck],
    log: Callable[[str], None],
    forbidden: frozenset[str] = frozenset(),
) -> list[tuple[SpriteSource, Sprite]]:
    kept: list[tuple[SpriteSource, Sprite]] = []
    for source in sources:
        sprite, made = checker.first_kept(
            source, height_of(source), image, placements_of(source), use, forbidden
        )
        checks.extend(made)
        if made:
            log("  " + made[-1].describe())
        if sprite is not None:
            kept.append((source, sprite))
    return kept


def build_sprite_bank(
    assets_dir: Path,
    checker: SpriteChecker,
    backgrounds: Backgrounds,
    log: Callable[[str], None],
) -> SpriteBank:
    """Cut and check every candidate sprite; the ones kept, by use.

    The lift and stairwell e-bikes come from the labelled e-bike screenshots when
    ``assets_dir`` holds them (the shared test media), followed by the COCO motorbike photo; from
    that photo alone otherwise (the repository's ``assets/``).

    Raises:
        AssetError: if photos or label files are missing.
        SpriteError: if a use is left without any sprite.
    """
    checks: list[SpriteCheck] = []
    vehicles = _keep(
        checker,
        coco_sources(assets_dir, COCO_VEHICLES),
        lambda s: lane.VEHICLE_HEIGHT_PX[s.label],
        backgrounds.lane,
        lambda s: lane.check_placements(s.label),
        "lane",
        checks,
        log,
    )
    persons = coco_sources(assets_dir, COCO_PERSONS)
    lane_persons = _keep(
        checker,
        persons,
        lambda s: lane.PERSON_HEIGHT_PX,
        backgrounds.lane,
        lambda s: lane.check_placements("person"),
        "lane",
        checks,
        log,
        BIKES,
    )
    ebikes = coco_sources(assets_dir, COCO_MOTORBIKES)
    if has_ebike_photos(assets_dir):
        ebikes = ebike_sources(assets_dir, EBIKE_CLASS, "motorbike") + ebikes
    else:
        log(
            f"  no labelled e-bike screenshots under {assets_dir / EBIKE_DIR} (they are not "
            "redistributable): the e-bikes are all cut from the COCO motorbike photo"
        )
    lift_ebikes = _keep(
        checker,
        ebikes,
        lambda s: lift.LIFT_EBIKE_HEIGHT_PX,
        backgrounds.lift,
        lambda s: lift.lift_placements(),
        "lift",
        checks,
        log,
    )
    # a crop the detector misses at full size in the car is not tried smaller in the corridor
    stair_ebikes = _keep(
        checker,
        [source for source, _ in lift_ebikes],
        lambda s: lift.STAIR_EBIKE_HEIGHT_PX,
        backgrounds.stair,
        lambda s: lift.stair_placements(),
        "stairwell",
        checks,
        log,
    )
    lift_persons = _keep(
        checker,
        persons,
        lambda s: lift.LIFT_PERSON_HEIGHT_PX,
        backgrounds.lift,
        lambda s: lift.lift_placements(),
        "lift",
        checks,
        log,
        BIKES,
    )
    stair_persons = _keep(
        checker,
        persons,
        lambda s: lift.STAIR_PERSON_HEIGHT_PX,
        backgrounds.stair,
        lambda s: lift.stair_placements(),
        "stairwell",
        checks,
        log,
        BIKES,
    )
    bank = SpriteBank(
        lane=lane.LaneSprites(tuple(s for _, s in vehicles), tuple(s for _, s in lane_persons)),
        lift_ebikes=tuple(s for _, s in lift_ebikes),
        lift_persons=tuple(s for _, s in lift_persons),
        stair_ebikes=tuple(s for _, s in stair_ebikes),
        stair_persons=tuple(s for _, s in stair_persons),
        checks=tuple(checks),
    )
    empty = [
        name
        for name, pool in (
            ("lane vehicles", bank.lane.vehicles),
            ("lane people", bank.lane.persons),
            ("lift e-bikes", bank.lift_ebikes),
            ("lift people", bank.lift_persons),
            ("stairwell e-bikes", bank.stair_ebikes),
            ("stairwell people", bank.stair_persons),
        )
        if not pool
    ]
    if empty:
        raise SpriteError(
            f"no sprite passed the detector check for: {', '.join(empty)} (see the checks above)"
        )
    return bank
