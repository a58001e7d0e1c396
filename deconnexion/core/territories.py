"""Where an establishment is: zone, académie, département, UAI → calendar, holidays, time zone.

`resolve()` turns what a caller knows (a UAI, a département, an académie or a zone, typed the
way people type them) into a `Location`: the school calendar to read in the official dataset
(`calendar_zone`, `calendar_place`), the `holidays` subdivisions (school and public, with
Alsace-Moselle's "57"/"6AE") and the IANA time zone. `Establishment` is the validated tenant.

Sources: docs/RULES.md §4 (académie → zone 2025-2026, time zones, Alsace-Moselle), seeds 000
(département → académie, rentrée 2025) and 004 annex 1 (académies and départements); the
tables are in `_territory_data.py`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from deconnexion.errors import DeconnexionError, InvalidInputError, UnknownTerritoryError

from . import _territory_data as data

__all__ = [
    "ACADEMIES",
    "DEPARTEMENTS",
    "TERRITORIES",
    "Establishment",
    "Location",
    "Territory",
    "resolve",
    "territory",
]


@dataclass(frozen=True, slots=True)
class Territory:
    """A school calendar territory: one of the 15 French calendars the package knows."""

    key: str
    name_fr: str
    calendar_zone: str  # exact value of the dataset's `zones` column
    calendar_place: str | None  # population rows of the Guadeloupe calendar
    school_subdiv: str | None  # holidays school subdivision ("Zone A" …)
    public_subdiv: str | None  # holidays France public subdivision ("974", "NC" …)
    timezone: str  # IANA


@dataclass(frozen=True, slots=True)
class Location:
    """A resolved place: its territory, and académie/département when they are known."""

    territory: Territory
    academie: str | None
    departement: str | None
    public_subdiv: str | None

    @property
    def calendar_zone(self) -> str:
        return self.territory.calendar_zone

    @property
    def calendar_place(self) -> str | None:
        return self.territory.calendar_place

    @property
    def school_subdiv(self) -> str | None:
        return self.territory.school_subdiv

    @property
    def timezone(self) -> str:
        return self.territory.timezone

    def describe(self) -> str:
        """Short French label, e.g. "075 Paris, académie de Paris, Zone C"."""
        parts = []
        if self.departement is not None:
            parts.append(f"{self.departement} {DEPARTEMENTS[self.departement][0]}")
        if self.academie is not None:
            parts.append(f"académie {self.academie}")
        parts.append(self.territory.name_fr)
        return ", ".join(parts)


TERRITORIES: tuple[Territory, ...] = tuple(Territory(*row[:7]) for row in data.TERRITORY_ROWS)
ACADEMIES: dict[str, str] = {name: key for name, key, _ in data.ACADEMIE_ROWS}
DEPARTEMENTS: dict[str, tuple[str, str]] = {
    code: (name, academie) for code, name, academie in data.DEPARTEMENT_ROWS
}
_BY_KEY = {t.key: t for t in TERRITORIES}

# -- forgiving names -----------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s'’`´_.,\-–—/]+")
# Leading words dropped from names ("La Réunion", "Zone A", "académie de Paris"); never the last.
_NOISE = frozenset({"la", "l", "le", "les", "zone", "academie", "vice", "rectorat", "de", "d"})
_ABBREVIATIONS = {"st": "saint", "ste": "sainte"}


def normalise(name: str) -> str:
    """Accent-, case- and punctuation-insensitive form of a name: "La Réunion" → "reunion"."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    ).lower()
    words = [_ABBREVIATIONS.get(w, w) for w in _SEPARATORS.sub(" ", folded).split()]
    while len(words) > 1 and words[0] in _NOISE:
        words.pop(0)
    return " ".join(words)


class _Registry:
    """Normalised aliases → canonical value, with an error that lists what is accepted."""

    def __init__(self, field: str, accepted: str) -> None:
        self.field = field
        self.accepted = accepted
        self._names: dict[str, str] = {}

    def add(self, target: str, aliases: Iterable[str]) -> None:
        for alias in aliases:
            norm = normalise(alias)
            if self._names.get(norm, target) != target:  # a table bug, caught at import
                raise RuntimeError(f"{self.field} alias {alias!r} names two values")
            self._names[norm] = target

    def lookup(self, value: str, field: str | None = None) -> str:
        found = self._names.get(normalise(value))
        if found is None:
            name = field or self.field
            raise UnknownTerritoryError(
                f"unknown {name} {value!r}: expected {self.accepted}",
                field=name,
                value=value,
                accepted=self.accepted,
            )
        return found


_ZONES = _Registry("zone", "one of A, B, C, " + ", ".join(t.name_fr for t in TERRITORIES[3:]))
for _t, _row in zip(TERRITORIES, data.TERRITORY_ROWS, strict=True):
    # Saint-Martin and Saint-Barthélemy share the "Guadeloupe" calendar zone, not the name.
    _own_zone = (_t.calendar_zone,) if _t.calendar_place in (None, _t.calendar_zone) else ()
    _ZONES.add(_t.key, (_t.key, _t.name_fr, *_own_zone, *_row[7]))

_ACADEMIES = _Registry("academie", "one of " + ", ".join(sorted(ACADEMIES)))
for _name, _key, _aliases in data.ACADEMIE_ROWS:
    _ACADEMIES.add(_name, (_name, *_aliases))

_DEPARTEMENTS = _Registry(
    "departement",
    "a département code (001–095, 2A, 2B, 971–978, 986–988) or name such as "
    "'Paris', 'Bas-Rhin', 'La Réunion'",
)
for _code, (_name, _) in DEPARTEMENTS.items():
    _short = _code.lstrip("0")
    _DEPARTEMENTS.add(_code, (_code, _short, _short.zfill(2), _name))
    _DEPARTEMENTS.add(_code, data.DEPARTEMENT_CODE_ALIASES.get(_code, ()))

# -- precomputed locations -----------------------------------------------------------------


def _territory_of(code: str) -> Territory:
    academie = DEPARTEMENTS[code][1]
    return _BY_KEY[data.DEPARTEMENT_TERRITORY.get(code, ACADEMIES[academie])]


def _common(values: Iterable[str | None], default: str | None) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else default


_BY_DEPARTEMENT = {
    code: Location(
        territory=_territory_of(code),
        academie=academie,
        departement=code,
        public_subdiv=data.DEPARTEMENT_PUBLIC_SUBDIV.get(code, _territory_of(code).public_subdiv),
    )
    for code, (_, academie) in DEPARTEMENTS.items()
}


def _summary(territory: Territory, locations: list[Location]) -> Location:
    """A location for a group of départements: what they all share, else the territory's."""
    return Location(
        territory=territory,
        academie=_common((x.academie for x in locations), None),
        departement=locations[0].departement if len(locations) == 1 else None,
        public_subdiv=_common((x.public_subdiv for x in locations), territory.public_subdiv),
    )


# An académie stands for its départements of its own territory (Guadeloupe: 971, not 977/978).
_BY_ACADEMIE = {
    name: _summary(
        _BY_KEY[key],
        [x for x in _BY_DEPARTEMENT.values() if x.academie == name and x.territory.key == key],
    )
    for name, key in ACADEMIES.items()
}
_BY_TERRITORY = {
    t.key: _summary(t, [x for x in _BY_DEPARTEMENT.values() if x.territory is t])
    for t in TERRITORIES
}

# -- lookups -------------------------------------------------------------------------------

_UAI = re.compile(r"[0-9]{7}[A-Z]")
_FIELDS = ("uai", "departement", "academie", "zone")  # most specific first


def _text(field: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and field == "departement":
        return str(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field}: expected a string, got {type(value).__name__} {value!r}",
            field=field,
            value=value,
            accepted="a string",
        )
    return value


def territory(name: str) -> Territory:
    """The territory named `name` ("A", "Zone A", "La Réunion", "reunion", "974", "NC" …)."""
    return _BY_KEY[_ZONES.lookup(_text("territory", name), field="territory")]


def _uai_location(value: str) -> Location:
    uai = value.strip().upper()
    if not _UAI.fullmatch(uai):
        accepted = (
            "8 characters, 7 digits (the first 3 are the département, 620/720 for Corse) then "
            "a letter, e.g. '0750001A'"
        )
        raise UnknownTerritoryError(
            f"uai {value!r}: expected {accepted}", field="uai", value=value, accepted=accepted
        )
    try:
        return _BY_DEPARTEMENT[_DEPARTEMENTS.lookup(uai[:3])]
    except UnknownTerritoryError:
        accepted = "001–095, 620 (Corse-du-Sud), 720 (Haute-Corse), 971–978 or 986–988"
        raise UnknownTerritoryError(
            f"uai {value!r}: prefix {uai[:3]!r} is not a département code; expected {accepted}",
            field="uai",
            value=value,
            accepted=accepted,
        ) from None


def _locate(field: str, value: str) -> Location:
    if field == "uai":
        return _uai_location(value)
    if field == "departement":
        return _BY_DEPARTEMENT[_DEPARTEMENTS.lookup(value)]
    if field == "academie":
        return _BY_ACADEMIE[_ACADEMIES.lookup(value)]
    return _BY_TERRITORY[_ZONES.lookup(value)]


def _agrees(field: str, given: Location, found: Location) -> bool:
    if field == "zone":
        return given.territory is found.territory
    if field == "academie":
        return given.academie == found.academie
    return given.departement == found.departement


def resolve(
    *,
    uai: str | None = None,
    departement: str | None = None,
    academie: str | None = None,
    zone: str | None = None,
) -> Location:
    """Resolve one of `uai`, `departement`, `academie`, `zone` (several only if they agree)."""
    raw = {"uai": uai, "departement": departement, "academie": academie, "zone": zone}
    given = {f: _text(f, raw[f]) for f in _FIELDS if raw[f] is not None}
    if not given:
        raise InvalidInputError(
            "no location given: pass one of uai, departement, academie, zone",
            field="zone",
            accepted="one of uai, departement, academie, zone",
            code="missing_field",
        )
    located = {f: _locate(f, v) for f, v in given.items()}
    first, found = next(iter(located.items()))
    for field, loc in located.items():
        if not _agrees(field, loc, found):
            raise InvalidInputError(
                f"{first} {given[first]!r} ({found.describe()}) and {field} {given[field]!r} "
                f"({loc.describe()}) do not agree: give only one of uai, departement, "
                "academie, zone"
            )
    return found


# -- the tenant ----------------------------------------------------------------------------

CalendarKey = tuple[str, str | None, str | None, str | None, str, str | None]


class Establishment(BaseModel):
    """A school (or a whole zone, académie, département) whose calendar gates diffusion.

    Give one of `uai`, `departement`, `academie`, `zone` (several only if they agree). It is
    resolved at construction; a bad value raises `UnknownTerritoryError` or
    `InvalidInputError`, never a bare pydantic `ValidationError`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    uai: str | None = None
    departement: str | None = None
    academie: str | None = None
    zone: str | None = None
    id: str | None = Field(default=None, min_length=1)
    name: str | None = None
    level: Literal["ecole", "college", "lycee"] | None = None
    # The establishment's own IANA zone when it is not its territory's (a collège on Nuku Hiva:
    # "Pacific/Marquesas"). Read the resolved zone with `.timezone`.
    own_timezone: str | None = Field(default=None, alias="timezone")

    _location: Location | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        uai: str | None = None,
        departement: str | None = None,
        academie: str | None = None,
        zone: str | None = None,
        id: str | None = None,
        name: str | None = None,
        level: str | None = None,  # "ecole", "college" or "lycee"; checked by the field
        timezone: str | None = None,  # IANA name; None: the UAI registry's, else the territory's
        **extra: Any,
    ) -> None:
        try:
            super().__init__(
                uai=uai,
                departement=departement,
                academie=academie,
                zone=zone,
                id=id,
                name=name,
                level=level,
                timezone=timezone,
                **extra,
            )
        except ValidationError as exc:
            raise _unwrap(exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise _unwrap(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise _unwrap(exc) from None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Copy; with `update`, the copy is validated and resolved again."""
        if update:
            return self.model_validate({**self.model_dump(by_alias=True), **update})
        return super().model_copy(deep=deep)

    @field_validator("uai")
    @classmethod
    def _uai_capitals(cls, value: str | None) -> str | None:
        # UAIs are written in capitals ("0750001A"); store that canonical form.
        return None if value is None else value.strip().upper()

    @field_validator("own_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _resolve(self) -> Self:
        self._location = self._resolve_now()
        return self

    def _resolve_now(self) -> Location:
        return resolve(
            uai=self.uai, departement=self.departement, academie=self.academie, zone=self.zone
        )

    @property
    def location(self) -> Location:
        """The resolved territory, académie, département and subdivisions."""
        loc = self._location
        return loc if loc is not None else self._resolve_now()  # model_construct() skips it

    @property
    def timezone(self) -> str:
        """IANA time zone of the establishment: open hours are in this local time.

        The one given (`timezone=`), else a known exception of the UAI registry
        (`_territory_data.UAI_TIMEZONES`), else the territory's.
        """
        if self.own_timezone is not None:
            return self.own_timezone
        if self.uai is not None:
            known = data.UAI_TIMEZONES.get(self.uai)
            if known is not None:
                return known
        return self.location.timezone

    @property
    def key(self) -> str:
        """Stable tenant id: `id`, else the UAI, else e.g. "zone:Zone C", "departement:075"."""
        if self.id:
            return self.id
        if self.uai:
            return self.uai
        loc = self.location
        if self.departement is not None:
            return f"departement:{loc.departement}"
        if self.academie is not None:
            return f"academie:{loc.academie}"
        return f"zone:{loc.territory.name_fr}"

    @property
    def calendar_key(self) -> CalendarKey:
        """Everything that determines the calendar; equal keys share compiled windows."""
        loc = self.location
        return (
            loc.calendar_zone,
            loc.calendar_place,
            loc.school_subdiv,
            loc.public_subdiv,
            self.timezone,
            self.level,
        )


def check_timezone(value: object, field: str = "timezone") -> str:
    """`value` if it names an IANA time zone, else an error saying how to find valid ones."""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field}: expected an IANA time zone name, got {type(value).__name__} {value!r}"
        )
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # ValueError: not a key ("../x", "")
        pass
    else:
        return value
    close = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    raise InvalidInputError(
        f"{field} {value!r} is not an IANA time zone{hint}; expected a name such as "
        "'Pacific/Marquesas', 'Pacific/Gambier' or 'Europe/Paris': the valid names are "
        'zoneinfo.available_timezones() (python -c "import zoneinfo; '
        'print(sorted(zoneinfo.available_timezones()))")'
    )


def _unwrap(exc: ValidationError) -> DeconnexionError:
    """The package error a validator raised, or one InvalidInputError describing the rest."""
    errors = exc.errors()
    for err in errors:
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, DeconnexionError):
            return cause
    parts = [
        f"{'.'.join(str(x) for x in err['loc']) or '(top level)'}: "
        f"{err['msg']} (got {err.get('input')!r})"
        for err in errors
    ]
    return InvalidInputError("establishment " + "; ".join(parts))
