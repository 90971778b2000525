"""The per-hazard zone-membership settings reach the rules that use them."""

from __future__ import annotations

from cameras.schema import CameraConfig
from pipelines.builders import build_rules
from vision.rules.ebike_entry import EbikeEntryRule
from vision.rules.fire_lane import FireLaneRule
from vision.zones import Membership, PolygonZone

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def test_membership_settings_reach_the_rules() -> None:
    camera = CameraConfig.model_validate(
        {
            "zones": {"lane": {"polygon": SQUARE}, "car": {"polygon": SQUARE, "anchor": "center"}},
            "hazards": [
                {
                    "kind": "fire_lane_blocked",
                    "zone": "lane",
                    "membership": {"footprint_height": 0.4, "enter_overlap": 0.5},
                },
                {"kind": "ebike_entry", "zone": "car", "membership": {"exit_overlap": 0.05}},
            ],
        }
    )
    lane, lift = build_rules("cam", camera).object_rules
    assert isinstance(lane, FireLaneRule) and isinstance(lift, EbikeEntryRule)
    assert lane.membership == Membership(footprint_height=0.4, enter_overlap=0.5)
    assert lane.zone.membership == lane.membership
    assert isinstance(lift.zone, PolygonZone)
    assert lift.zone.membership == Membership(exit_overlap=0.05)
    assert lift.zone.anchor == "center"
