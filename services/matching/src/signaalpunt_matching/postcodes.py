"""Postcode areas (PC4) and their centroids, shipped as data for the demo municipalities.

`postcode_centroids.csv` holds one row per four-digit postcode of Terneuzen (GM0715) and Hulst
(GM0677), with the village or district and a centroid. The centroids are approximations derived
by hand from the places' known locations (the build machine could not download CBS's or PDOK's
postcode data), good to about a kilometre: enough for travel distances between neighbourhoods,
never an address. Replace the file with CBS "postcode4" centroids for a production region.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .domain import km_between

CENTROIDS = Path(__file__).resolve().parent / "postcode_centroids.csv"
_POSTCODE = re.compile(r"^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})?\s*$")


@dataclass(frozen=True)
class Area:
    postcode4: str
    place: str
    municipality: str
    lat: float
    lon: float


class UnknownPostcodeError(ValueError):
    pass


@cache
def areas(path: Path = CENTROIDS) -> dict[str, Area]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["postcode4"]: Area(
                row["postcode4"],
                row["place"],
                row["municipality"],
                float(row["lat"]),
                float(row["lon"]),
            )
            for row in csv.DictReader(handle)
        }


def postcode4(postcode: str) -> str:
    """`4531 AB`, `4531ab` or `4531` → `4531`; anything else is refused."""
    found = _POSTCODE.match(postcode)
    if not found:
        raise UnknownPostcodeError("not a Dutch postcode (1234 AB)")
    return found.group(1)


def area_of(postcode: str) -> Area:
    code = postcode4(postcode)
    try:
        return areas()[code]
    except KeyError:
        raise UnknownPostcodeError(f"postcode area {code} is not in the centroid table") from None


def nearest_place(lat: float, lon: float) -> str:
    """The village or district nearest to a neighbourhood point (what a volunteer is told)."""
    return min(areas().values(), key=lambda a: km_between((a.lat, a.lon), (lat, lon))).place
