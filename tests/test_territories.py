"""Territories: forgiving names, académie → zone, départements, UAIs, Establishment."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from holidays.countries.france import France
from pydantic import ValidationError

from deconnexion.core.territories import (
    ACADEMIES,
    DEPARTEMENTS,
    TERRITORIES,
    Establishment,
    _Registry,
    normalise,
    resolve,
    territory,
)
from deconnexion.errors import InvalidInputError, UnknownTerritoryError

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "deconnexion" / "data" / "fr-en-calendrier-scolaire.csv"
SEED_000 = ROOT / "seeds" / "000_035d9e8605ae182d.txt"

# -- territories ---------------------------------------------------------------------------

TERRITORY_ALIASES = [
    ("A", "zone_a"),
    ("Zone A", "zone_a"),
    ("zone a", "zone_a"),
    ("zone_a", "zone_a"),
    ("B", "zone_b"),
    ("Zone C", "zone_c"),
    ("c", "zone_c"),
    ("Réunion", "reunion"),
    ("La Réunion", "reunion"),
    ("reunion", "reunion"),
    ("974", "reunion"),
    ("Corse", "corse"),
    ("corse", "corse"),
    ("Guadeloupe", "guadeloupe"),
    ("971", "guadeloupe"),
    ("Nouvelle-Calédonie", "nouvelle_caledonie"),
    ("Nouvelle Calédonie", "nouvelle_caledonie"),
    ("nc", "nouvelle_caledonie"),
    ("988", "nouvelle_caledonie"),
    ("PF", "polynesie"),
    ("Polynésie française", "polynesie"),
    ("Polynésie", "polynesie"),
    ("987", "polynesie"),
    ("Saint-Pierre-et-Miquelon", "saint_pierre_et_miquelon"),
    ("Saint Pierre et Miquelon", "saint_pierre_et_miquelon"),
    ("St Pierre et Miquelon", "saint_pierre_et_miquelon"),
    ("975", "saint_pierre_et_miquelon"),
    ("Wallis-et-Futuna", "wallis_et_futuna"),
    ("Wallis et Futuna", "wallis_et_futuna"),
    ("986", "wallis_et_futuna"),
    ("Mayotte", "mayotte"),
    ("976", "mayotte"),
    ("Guyane", "guyane"),
    ("973", "guyane"),
    ("Martinique", "martinique"),
    ("972", "martinique"),
    ("Saint-Martin", "saint_martin"),
    ("978", "saint_martin"),
    ("Saint-Barthélemy", "saint_barthelemy"),
    ("Saint-Barthélémy", "saint_barthelemy"),  # the dataset's spelling
    ("977", "saint_barthelemy"),
]


@pytest.mark.parametrize(("name", "key"), TERRITORY_ALIASES)
def test_territory_alias_finds_its_territory(name: str, key: str) -> None:
    assert territory(name).key == key
    assert resolve(zone=name).territory.key == key


def test_every_territory_is_found_by_its_key_and_french_name() -> None:
    for t in TERRITORIES:
        assert territory(t.key) is t
        assert territory(t.name_fr) is t
    assert len(TERRITORIES) == 15


TIMEZONES = {
    "zone_a": "Europe/Paris",
    "zone_b": "Europe/Paris",
    "zone_c": "Europe/Paris",
    "corse": "Europe/Paris",
    "guadeloupe": "America/Guadeloupe",
    "saint_martin": "America/Guadeloupe",
    "saint_barthelemy": "America/Guadeloupe",
    "martinique": "America/Martinique",
    "guyane": "America/Cayenne",
    "reunion": "Indian/Reunion",
    "mayotte": "Indian/Mayotte",
    "nouvelle_caledonie": "Pacific/Noumea",
    "polynesie": "Pacific/Tahiti",
    "saint_pierre_et_miquelon": "America/Miquelon",
    "wallis_et_futuna": "Pacific/Wallis",
}


@pytest.mark.parametrize(("key", "tz"), sorted(TIMEZONES.items()))
def test_territory_time_zone_is_the_one_rules_md_names(key: str, tz: str) -> None:
    assert territory(key).timezone == tz
    ZoneInfo(tz)  # known to the IANA database shipped here


def _csv_rows() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def test_every_calendar_zone_is_a_value_of_the_dataset_zones_column() -> None:
    zones = {row["zones"] for row in _csv_rows()}
    assert {t.calendar_zone for t in TERRITORIES} == zones


def test_every_calendar_place_names_guadeloupe_population_rows() -> None:
    populations = {normalise(r["population"]) for r in _csv_rows() if r["zones"] == "Guadeloupe"}
    places = [t for t in TERRITORIES if t.calendar_place is not None]
    assert {t.key for t in places} == {"guadeloupe", "saint_martin", "saint_barthelemy"}
    for t in places:
        assert t.calendar_zone == "Guadeloupe"
        # accent-insensitive: the dataset writes "Saint-Barthélémy"
        assert any(normalise(t.calendar_place or "") in p for p in populations), t


def test_every_subdivision_is_known_to_the_holidays_package() -> None:
    known = set(France.subdivisions)
    for t in TERRITORIES:
        for subdiv in (t.public_subdiv, t.school_subdiv):
            assert subdiv is None or subdiv in known, (t.key, subdiv)
    for code in DEPARTEMENTS:
        subdiv = resolve(departement=code).public_subdiv
        assert subdiv is None or subdiv in known, (code, subdiv)


def test_school_subdivision_only_for_zones_a_b_c() -> None:
    assert {t.key: t.school_subdiv for t in TERRITORIES if t.school_subdiv} == {
        "zone_a": "Zone A",
        "zone_b": "Zone B",
        "zone_c": "Zone C",
    }


# -- académies -----------------------------------------------------------------------------

ACADEMIE_ZONES = {
    **dict.fromkeys(
        [
            "Besançon",
            "Bordeaux",
            "Clermont-Ferrand",
            "Dijon",
            "Grenoble",
            "Limoges",
            "Lyon",
            "Poitiers",
        ],
        "Zone A",
    ),
    **dict.fromkeys(
        [
            "Aix-Marseille",
            "Amiens",
            "Lille",
            "Nancy-Metz",
            "Nantes",
            "Nice",
            "Normandie",
            "Orléans-Tours",
            "Reims",
            "Rennes",
            "Strasbourg",
        ],
        "Zone B",
    ),
    **dict.fromkeys(["Créteil", "Montpellier", "Paris", "Toulouse", "Versailles"], "Zone C"),
    "Corse": "Corse",
    "Guadeloupe": "Guadeloupe",
    "Martinique": "Martinique",
    "Guyane": "Guyane",
    "La Réunion": "Réunion",
    "Mayotte": "Mayotte",
}
# Vice-rectorats and service de l'éducation: not académies, but they play the part.
COM_AUTHORITIES = {
    "Nouvelle-Calédonie": "Nouvelle Calédonie",
    "Polynésie française": "Polynésie",
    "Wallis-et-Futuna": "Wallis et Futuna",
    "Saint-Pierre-et-Miquelon": "Saint Pierre et Miquelon",
}


def test_there_are_thirty_academies_plus_four_com_authorities() -> None:
    assert len(ACADEMIE_ZONES) == 30
    assert set(ACADEMIES) == set(ACADEMIE_ZONES) | set(COM_AUTHORITIES)


@pytest.mark.parametrize(
    ("academie", "zone"), sorted({**ACADEMIE_ZONES, **COM_AUTHORITIES}.items())
)
def test_academie_resolves_to_its_2025_zone(academie: str, zone: str) -> None:
    loc = resolve(academie=academie)
    assert (loc.academie, loc.calendar_zone) == (academie, zone)


ACADEMIE_ALIASES = [
    ("Aix-Marseille", "Aix-Marseille"),
    ("aix marseille", "Aix-Marseille"),
    ("Orléans-Tours", "Orléans-Tours"),
    ("orleans tours", "Orléans-Tours"),
    ("Besançon", "Besançon"),
    ("besancon", "Besançon"),
    ("Caen", "Normandie"),
    ("Rouen", "Normandie"),
    ("académie de Rouen", "Normandie"),
    ("Nancy-Metz", "Nancy-Metz"),
    ("Clermont-Ferrand", "Clermont-Ferrand"),
    ("creteil", "Créteil"),
    ("Académie d'Amiens", "Amiens"),
    ("Corse", "Corse"),
    ("La Réunion", "La Réunion"),
    ("Réunion", "La Réunion"),
    ("Guadeloupe", "Guadeloupe"),
    ("Vice-Rectorat Mayotte", "Mayotte"),
    ("Polynésie", "Polynésie française"),
]


@pytest.mark.parametrize(("name", "canonical"), ACADEMIE_ALIASES)
def test_academie_alias_finds_canonical_academie(name: str, canonical: str) -> None:
    assert resolve(academie=name).academie == canonical


def test_academie_of_alsace_carries_the_alsace_public_holidays() -> None:
    assert resolve(academie="Strasbourg").public_subdiv == "6AE"
    # Nancy-Metz mixes Moselle ("57") with départements of common law: no single subdivision.
    assert resolve(academie="Nancy-Metz").public_subdiv is None


def test_academie_with_one_departement_names_it() -> None:
    assert resolve(academie="Paris").departement == "075"
    assert resolve(academie="Guadeloupe").departement == "971"  # 977/978 are territories apart
    assert resolve(academie="Lyon").departement is None


# -- départements --------------------------------------------------------------------------

METROPOLITAN = {f"{n:03d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}
OVERSEAS = {"971", "972", "973", "974", "975", "976", "977", "978", "986", "987", "988"}


def test_departement_table_has_all_96_metropolitan_and_11_overseas_codes() -> None:
    assert len(METROPOLITAN) == 96
    assert set(DEPARTEMENTS) == METROPOLITAN | OVERSEAS


@pytest.mark.parametrize("code", sorted(DEPARTEMENTS))
def test_departement_resolves_by_code_short_code_and_name(code: str) -> None:
    name, academie = DEPARTEMENTS[code]
    assert academie in ACADEMIES
    for alias in {code, code.lstrip("0"), name, name.upper()}:
        loc = resolve(departement=alias)
        assert (loc.departement, loc.academie) == (code, academie), alias


DEPARTEMENT_ALIASES = [
    ("75", "075"),
    ("075", "075"),
    ("Paris", "075"),
    ("Bas-Rhin", "067"),
    ("bas rhin", "067"),
    ("67", "067"),
    ("1", "001"),
    ("01", "001"),
    ("2A", "2A"),
    ("2a", "2A"),
    ("620", "2A"),
    ("2B", "2B"),
    ("720", "2B"),
    ("Corse-du-Sud", "2A"),
    ("Haute-Corse", "2B"),
    ("974", "974"),
    ("La Réunion", "974"),
    ("Seine-Saint-Denis", "093"),
    ("Seine St Denis", "093"),
    ("93", "093"),
    ("Côte-d'Or", "021"),
    ("cote d or", "021"),
    ("Val-d'Oise", "095"),
    ("Territoire de Belfort", "090"),
]


@pytest.mark.parametrize(("name", "code"), DEPARTEMENT_ALIASES)
def test_departement_alias_finds_its_code(name: str, code: str) -> None:
    assert resolve(departement=name).departement == code


def test_departement_given_as_an_int_is_accepted() -> None:
    assert resolve(departement=75).departement == "075"  # type: ignore[arg-type]


# Seed 000 writes a few names its own way; these are its typos, not aliases we want.
SEED_TYPOS = {"Hauts-Alpes": "Hautes-Alpes", "Hauts-Pyrénées": "Hautes-Pyrénées"}


def _seed_000_rows() -> list[tuple[str, str]]:
    rows = []
    for line in SEED_000.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not set(cells[0]) <= {"-"}:
            if cells[0] != "Département":
                rows.append((SEED_TYPOS.get(cells[0], cells[0]), cells[1]))
    return rows


def test_departement_table_matches_seed_000_academies() -> None:
    found = set()
    for name, academie in _seed_000_rows():
        loc = resolve(departement=name)
        assert loc.academie == resolve(academie=academie).academie, (name, academie)
        found.add(loc.departement)
    # 96 metropolitan + 5 DROM + NC, WF, PF, SPM; the seed has no row for 977 and 978.
    assert found == set(DEPARTEMENTS) - {"977", "978"}


PUBLIC_SUBDIVS = [
    ("057", "57"),
    ("067", "6AE"),
    ("068", "6AE"),
    ("054", None),
    ("075", None),
    ("2A", None),
    ("971", "971"),
    ("972", "972"),
    ("973", "973"),
    ("974", "974"),
    ("975", "PM"),
    ("976", "976"),
    ("977", "BL"),
    ("978", "MF"),
    ("986", "WF"),
    ("987", "PF"),
    ("988", "NC"),
]


@pytest.mark.parametrize(("code", "subdiv"), PUBLIC_SUBDIVS)
def test_departement_public_holiday_subdivision(code: str, subdiv: str | None) -> None:
    assert resolve(departement=code).public_subdiv == subdiv


# -- UAI -----------------------------------------------------------------------------------

UAIS = [
    # uai, département, calendar zone, académie, public subdivision, time zone
    ("0750001A", "075", "Zone C", "Paris", None, "Europe/Paris"),
    ("0750001a", "075", "Zone C", "Paris", None, "Europe/Paris"),
    ("0671234X", "067", "Zone B", "Strasbourg", "6AE", "Europe/Paris"),
    ("0681234X", "068", "Zone B", "Strasbourg", "6AE", "Europe/Paris"),
    ("0571234A", "057", "Zone B", "Nancy-Metz", "57", "Europe/Paris"),
    ("0011234A", "001", "Zone A", "Lyon", None, "Europe/Paris"),
    ("0931234A", "093", "Zone C", "Créteil", None, "Europe/Paris"),
    ("9741234A", "974", "Réunion", "La Réunion", "974", "Indian/Reunion"),
    ("6200001A", "2A", "Corse", "Corse", None, "Europe/Paris"),
    ("7200001A", "2B", "Corse", "Corse", None, "Europe/Paris"),
    ("9781234A", "978", "Guadeloupe", "Guadeloupe", "MF", "America/Guadeloupe"),
    ("9881234A", "988", "Nouvelle Calédonie", "Nouvelle-Calédonie", "NC", "Pacific/Noumea"),
]


@pytest.mark.parametrize(("uai", "dep", "zone", "academie", "subdiv", "tz"), UAIS)
def test_uai_prefix_gives_departement_zone_and_time_zone(
    uai: str, dep: str, zone: str, academie: str, subdiv: str | None, tz: str
) -> None:
    loc = resolve(uai=uai)
    assert (loc.departement, loc.calendar_zone, loc.academie) == (dep, zone, academie)
    assert (loc.public_subdiv, loc.timezone) == (subdiv, tz)


@pytest.mark.parametrize(
    "uai", ["12345", "075000A", "07500011", "0750001AA", "ABCDEFGH", "", "075 0001A"]
)
def test_malformed_uai_is_refused_with_the_expected_shape(uai: str) -> None:
    with pytest.raises(UnknownTerritoryError) as err:
        resolve(uai=uai)
    assert repr(uai) in str(err.value)
    assert "8 characters" in str(err.value)


@pytest.mark.parametrize("uai", ["0200001A", "0990001A", "9790001A", "0000001A"])
def test_uai_with_unknown_departement_prefix_is_refused(uai: str) -> None:
    with pytest.raises(UnknownTerritoryError, match=re.escape(repr(uai[:3]))) as err:
        resolve(uai=uai)
    assert "620 (Corse-du-Sud)" in str(err.value)


# -- errors --------------------------------------------------------------------------------

UNKNOWN = [
    ({"zone": "D"}, "unknown zone 'D'", ["A, B, C, Corse, Guadeloupe", "Saint-Martin"]),
    ({"academie": "Atlantis"}, "unknown academie 'Atlantis'", ["Aix-Marseille", "Versailles"]),
    ({"departement": "99"}, "unknown departement '99'", ["001–095", "2A", "'Paris'"]),
    ({"departement": "20"}, "unknown departement '20'", ["2A, 2B"]),
    ({"zone": ""}, "unknown zone ''", ["A, B, C"]),
]


@pytest.mark.parametrize(("where", "start", "accepted"), UNKNOWN)
def test_unknown_name_error_names_field_value_and_accepted_values(
    where: dict[str, str], start: str, accepted: list[str]
) -> None:
    with pytest.raises(UnknownTerritoryError) as err:
        resolve(**where)
    message = str(err.value)
    assert message.startswith(start)
    for fragment in accepted:
        assert fragment in message


def test_unknown_territory_error_is_also_invalid_input_and_value_error() -> None:
    with pytest.raises(UnknownTerritoryError, match=r"unknown territory 'Mars': expected one of"):
        territory("Mars")
    assert issubclass(UnknownTerritoryError, InvalidInputError)
    assert issubclass(UnknownTerritoryError, ValueError)


def test_no_location_is_refused_naming_what_is_accepted() -> None:
    with pytest.raises(InvalidInputError, match="pass one of uai, departement, academie, zone"):
        resolve()


def test_a_location_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="zone: expected a string, got int 3"):
        resolve(zone=3)  # type: ignore[arg-type]


AGREEING = [
    {"uai": "0750001A", "departement": "75"},
    {"uai": "0750001A", "academie": "Paris", "zone": "C"},
    {"departement": "Bas-Rhin", "academie": "Strasbourg", "zone": "B"},
    {"departement": "978", "academie": "Guadeloupe"},
    {"uai": "9781234A", "zone": "Saint-Martin"},
    {"academie": "Caen", "zone": "B"},
]


@pytest.mark.parametrize("where", AGREEING)
def test_several_locations_that_agree_give_the_most_specific(where: dict[str, str]) -> None:
    loc = resolve(**where)
    first = next(iter(where.items()))
    assert loc == resolve(**dict([first]))


CONTRADICTING = [
    ({"uai": "0750001A", "zone": "A"}, ("uai '0750001A'", "zone 'A'")),
    ({"departement": "67", "academie": "Lille"}, ("departement '67'", "academie 'Lille'")),
    ({"uai": "0750001A", "departement": "93"}, ("uai '0750001A'", "departement '93'")),
    ({"departement": "978", "zone": "Guadeloupe"}, ("departement '978'", "zone 'Guadeloupe'")),
    ({"academie": "Nice", "zone": "Corse"}, ("academie 'Nice'", "zone 'Corse'")),
]


@pytest.mark.parametrize(("where", "named"), CONTRADICTING)
def test_contradicting_locations_are_refused_naming_both(
    where: dict[str, str], named: tuple[str, str]
) -> None:
    with pytest.raises(InvalidInputError, match="do not agree") as err:
        resolve(**where)
    assert not isinstance(err.value, UnknownTerritoryError)
    for fragment in named:
        assert fragment in str(err.value)


def test_registry_refuses_an_alias_naming_two_values() -> None:
    registry = _Registry("thing", "anything")
    registry.add("one", ["Même nom"])
    with pytest.raises(RuntimeError, match="names two values"):
        registry.add("two", ["meme-nom"])


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("La Réunion", "reunion"),
        ("Zone A", "a"),
        ("académie d'Orléans-Tours", "orleans tours"),
        ("Côtes-d'Armor", "cotes d armor"),
        ("St  Pierre_et.Miquelon", "saint pierre et miquelon"),
        ("D", "d"),  # a lone noise word is kept, so "D" stays unknown rather than empty
    ],
)
def test_normalise_folds_accents_case_punctuation_and_articles(raw: str, norm: str) -> None:
    assert normalise(raw) == norm


# -- Establishment -------------------------------------------------------------------------


def test_establishment_with_unknown_zone_raises_unknown_territory_not_validation_error() -> None:
    with pytest.raises(UnknownTerritoryError, match="unknown zone 'D'") as err:
        Establishment(zone="D")
    assert not isinstance(err.value, ValidationError)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Establishment.model_validate({"zone": "D"}),
        lambda: Establishment.model_validate_json('{"zone": "D"}'),
        lambda: Establishment(uai="0750001A").model_copy(update={"zone": "D"}),
    ],
)
def test_establishment_every_construction_path_raises_unknown_territory(build: object) -> None:
    with pytest.raises(UnknownTerritoryError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"zone": "A", "level": "primaire"}, "level: Input should be 'ecole'"),
        ({"zone": "A", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"uai": 750001}, "uai: Input should be a valid string"),
        ({}, "pass one of uai, departement, academie, zone"),
        ({"uai": "0750001A", "zone": "B"}, "do not agree"),
        ({"zone": "A", "id": ""}, "id: String should have at least 1 character"),
    ],
)
def test_establishment_bad_input_raises_invalid_input(
    kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        Establishment(**kwargs)  # type: ignore[arg-type]
    assert not isinstance(err.value, ValidationError)
    assert fragment in str(err.value)


def test_establishment_uai_is_stored_in_capitals() -> None:
    assert Establishment(uai=" 0750001a ").uai == "0750001A"


KEYS = [
    ({"uai": "0750001A", "id": "lycee-42"}, "lycee-42"),
    ({"uai": "0750001a"}, "0750001A"),
    ({"zone": "C"}, "zone:Zone C"),
    ({"zone": "zone c"}, "zone:Zone C"),
    ({"zone": "reunion"}, "zone:La Réunion"),
    ({"academie": "paris"}, "academie:Paris"),
    ({"academie": "Caen"}, "academie:Normandie"),
    ({"departement": "75"}, "departement:075"),
    ({"departement": "Corse-du-Sud"}, "departement:2A"),
]


@pytest.mark.parametrize(("kwargs", "key"), KEYS)
def test_establishment_key_is_stable_whatever_the_spelling(
    kwargs: dict[str, str], key: str
) -> None:
    assert Establishment(**kwargs).key == key


def test_two_paris_schools_share_a_calendar_key_with_zone_c() -> None:
    a = Establishment(uai="0750001A")
    b = Establishment(uai="0759999Z", name="Lycée Charlemagne")
    assert a.key != b.key
    assert a.calendar_key == b.calendar_key == Establishment(zone="C").calendar_key
    assert a.calendar_key == ("Zone C", None, "Zone C", None, "Europe/Paris", None)


def test_strasbourg_and_lille_differ_only_by_public_holidays() -> None:
    strasbourg = Establishment(academie="Strasbourg").calendar_key
    lille = Establishment(academie="Lille").calendar_key
    assert strasbourg != lille
    assert [i for i in range(6) if strasbourg[i] != lille[i]] == [3]
    assert (strasbourg[3], lille[3]) == ("6AE", None)


def test_calendar_key_tells_level_and_guadeloupe_places_apart() -> None:
    assert (
        Establishment(zone="A", level="ecole").calendar_key
        != Establishment(zone="A", level="lycee").calendar_key
    )
    guadeloupe = Establishment(departement="971").calendar_key
    saint_martin = Establishment(departement="978").calendar_key
    assert guadeloupe[0] == saint_martin[0] == "Guadeloupe"
    assert (guadeloupe[1], saint_martin[1]) == ("Guadeloupe", "Saint-Martin")


def test_establishment_exposes_location_and_time_zone() -> None:
    school = Establishment(uai="9741234A", level="college")
    assert school.timezone == "Indian/Reunion"
    assert school.location == resolve(uai="9741234A")
    assert school.location.school_subdiv is None


def test_establishment_is_frozen_hashable_and_compares_by_value() -> None:
    a, b = Establishment(zone="A"), Establishment(zone="A")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(ValidationError):
        a.zone = "B"  # type: ignore[misc]


def test_establishment_copy_with_update_is_resolved_again() -> None:
    moved = Establishment(zone="A").model_copy(update={"zone": "Martinique"})
    assert moved.timezone == "America/Martinique"
    assert moved.key == "zone:Martinique"


def test_establishment_built_without_validation_still_resolves() -> None:
    raw = Establishment.model_construct(zone="C")
    assert raw.location.calendar_zone == "Zone C"
