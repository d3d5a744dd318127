"""The seeded catalogue of city services with their Open311 attribute definitions."""

from __future__ import annotations

from typing import Any


def _list(
    code: str,
    description: str,
    values: list[tuple[str, str]],
    *,
    order: int,
    required: bool = False,
    multi: bool = False,
) -> dict[str, Any]:
    return {
        "code": code,
        "datatype": "multivaluelist" if multi else "singlevaluelist",
        "required": required,
        "variable": True,
        "datatype_description": "",
        "order": order,
        "description": description,
        "values": [{"key": k, "name": n} for k, n in values],
    }


def _field(
    code: str,
    datatype: str,
    description: str,
    *,
    order: int,
    required: bool = False,
    hint: str = "",
) -> dict[str, Any]:
    return {
        "code": code,
        "datatype": datatype,
        "required": required,
        "variable": True,
        "datatype_description": hint,
        "order": order,
        "description": description,
        "values": [],
    }


SIZE = [
    ("small", "Smaller than a dinner plate"),
    ("medium", "Up to a car tyre"),
    ("large", "Larger than a car tyre"),
]

CATALOGUE: list[dict[str, Any]] = [
    {
        "code": "pothole",
        "name": "Pothole",
        "group": "Streets",
        "keywords": "pothole,road,hole,street",
        "agency": "Roads and Highways",
        "description": "A hole or sunken patch in the road surface or a cycle lane.",
        "attributes": [
            _list("size", "How big is it?", SIZE, order=1, required=True),
            _list(
                "lane",
                "Where on the road?",
                [
                    ("carriageway", "Carriageway"),
                    ("cycle_lane", "Cycle lane"),
                    ("bus_lane", "Bus lane"),
                ],
                order=2,
            ),
        ],
    },
    {
        "code": "streetlight_out",
        "name": "Streetlight out",
        "group": "Streets",
        "keywords": "streetlight,lamp,light,dark",
        "agency": "Public Lighting",
        "description": "A street lamp that is off, flickering or on during the day.",
        "attributes": [
            _field(
                "pole_number",
                "string",
                "Number on the lamp post, if visible",
                order=1,
                hint="Usually a sticker 1.5 m up the post",
            ),
            _list(
                "problem",
                "What is wrong?",
                [
                    ("off", "Off at night"),
                    ("flickering", "Flickering"),
                    ("day_burning", "On during the day"),
                ],
                order=2,
                required=True,
            ),
        ],
    },
    {
        "code": "illegal_dumping",
        "name": "Illegal dumping",
        "group": "Waste",
        "keywords": "dumping,fly-tipping,rubbish,waste,bulky",
        "agency": "Waste Management",
        "description": "Rubbish, bulky items or building waste left on public land.",
        "attributes": [
            _list(
                "items",
                "What has been dumped?",
                [
                    ("household", "Household rubbish"),
                    ("furniture", "Furniture"),
                    ("building", "Building rubble"),
                    ("hazardous", "Chemicals or asbestos"),
                    ("tyres", "Tyres"),
                ],
                order=1,
                required=True,
                multi=True,
            ),
            _list(
                "size",
                "How much?",
                [("bag", "A few bags"), ("car", "A car load"), ("truck", "A truck load")],
                order=2,
            ),
        ],
    },
    {
        "code": "graffiti",
        "name": "Graffiti",
        "group": "Public spaces",
        "keywords": "graffiti,tag,vandalism,spray",
        "agency": "Public Spaces",
        "description": "Graffiti on public property.",
        "attributes": [
            _list(
                "surface",
                "Where is it?",
                [
                    ("wall", "Wall"),
                    ("sign", "Sign"),
                    ("bridge", "Bridge or underpass"),
                    ("bus_stop", "Bus stop"),
                ],
                order=1,
            ),
            _field("offensive", "string", "Is it offensive? (yes/no)", order=2),
        ],
    },
    {
        "code": "noise_complaint",
        "name": "Noise complaint",
        "group": "Environment",
        "keywords": "noise,loud,music,construction",
        "agency": "Environmental Health",
        "description": "Persistent noise from a site, venue or vehicle.",
        "attributes": [
            _list(
                "source",
                "What makes the noise?",
                [
                    ("construction", "Construction"),
                    ("music", "Music or party"),
                    ("traffic", "Traffic"),
                    ("industry", "Industry"),
                ],
                order=1,
                required=True,
            ),
            _field("started_at", "datetime", "When did it start?", order=2),
        ],
    },
    {
        "code": "blocked_drain",
        "name": "Blocked drain",
        "group": "Water",
        "keywords": "drain,gully,flooding,water",
        "agency": "Drainage",
        "description": "A blocked street drain or gully, or standing water on the road.",
        "attributes": [
            _list(
                "flooding",
                "Is the road flooded?",
                [("no", "No"), ("puddle", "A puddle"), ("flooded", "Flooded")],
                order=1,
                required=True,
            ),
        ],
    },
    {
        "code": "damaged_sign",
        "name": "Damaged sign",
        "group": "Streets",
        "keywords": "sign,traffic sign,street sign,damaged",
        "agency": "Traffic Management",
        "description": "A traffic or street-name sign that is damaged, missing or turned.",
        "attributes": [
            _list(
                "sign_type",
                "Which sign?",
                [("traffic", "Traffic sign"), ("street_name", "Street name"), ("other", "Other")],
                order=1,
                required=True,
            ),
            _field("sign_text", "text", "What does the sign say?", order=2),
        ],
    },
    {
        "code": "air_quality_concern",
        "name": "Air-quality concern",
        "group": "Environment",
        "keywords": "air,smoke,smell,pollution,dust",
        "agency": "Environmental Health",
        "description": "Smoke, dust, fumes or a smell in the air.",
        "attributes": [
            _list(
                "kind",
                "What do you notice?",
                [
                    ("smoke", "Smoke"),
                    ("dust", "Dust"),
                    ("odour", "Smell"),
                    ("exhaust", "Vehicle exhaust"),
                ],
                order=1,
                required=True,
            ),
            _field("duration_h", "number", "For how many hours so far?", order=2),
        ],
    },
]
