"""Tables behind `deconnexion.core.territories`: territories, académies, départements.

Sources:
- docs/RULES.md §4: académie → zone for 2025-2026, time zones, Alsace-Moselle and overseas
  public-holiday subdivisions of the `holidays` package.
- seeds/000_035d9e8605ae182d.txt ("ENT premier degré : état du déploiement – rentrée 2025"):
  département → académie, with Normandie (Caen and Rouen merged on 1 January 2020).
- seeds/004_aaca0c36718c4f7f.txt, annex 1 (régions académiques, académies, départements).
  Its Aix-Marseille line repeats Montpellier's départements by mistake; seed 000 has the right
  ones (Alpes-de-Haute-Provence, Hautes-Alpes, Bouches-du-Rhône, Vaucluse).
- `zones` values: the column of the official "fr-en-calendrier-scolaire" dataset.
The collectivités d'outre-mer have a vice-rectorat (Nouvelle-Calédonie, Polynésie française,
Wallis-et-Futuna) or a service de l'éducation (Saint-Pierre-et-Miquelon) in place of an
académie; they are listed with the académies because they play the same part here.
Saint-Martin and Saint-Barthélemy belong to the académie de Guadeloupe.
"""

from __future__ import annotations

# key, name_fr, calendar_zone (CSV `zones`), calendar_place (CSV `population` for the
# Guadeloupe calendar), holidays school subdivision, holidays public subdivision, IANA zone,
# extra aliases (codes users type: département number, ISO/holidays codes).
TERRITORY_ROWS: tuple[
    tuple[str, str, str, str | None, str | None, str | None, str, tuple[str, ...]], ...
] = (
    ("zone_a", "Zone A", "Zone A", None, "Zone A", None, "Europe/Paris", ("A",)),
    ("zone_b", "Zone B", "Zone B", None, "Zone B", None, "Europe/Paris", ("B",)),
    ("zone_c", "Zone C", "Zone C", None, "Zone C", None, "Europe/Paris", ("C",)),
    ("corse", "Corse", "Corse", None, None, None, "Europe/Paris", ()),
    ("guadeloupe", "Guadeloupe", "Guadeloupe", "Guadeloupe", None, "971",
     "America/Guadeloupe", ("971", "GP", "GUA")),
    ("martinique", "Martinique", "Martinique", None, None, "972",
     "America/Martinique", ("972", "MQ")),
    ("guyane", "Guyane", "Guyane", None, None, "973",
     "America/Cayenne", ("973", "GY", "GF", "Guyane française")),
    ("reunion", "La Réunion", "Réunion", None, None, "974",
     "Indian/Reunion", ("974", "RE", "LRE")),
    ("mayotte", "Mayotte", "Mayotte", None, None, "976", "Indian/Mayotte", ("976", "YT")),
    ("nouvelle_caledonie", "Nouvelle-Calédonie", "Nouvelle Calédonie", None, None, "NC",
     "Pacific/Noumea", ("988", "NC")),
    ("polynesie", "Polynésie française", "Polynésie", None, None, "PF",
     "Pacific/Tahiti", ("987", "PF", "Polynésie")),
    ("saint_pierre_et_miquelon", "Saint-Pierre-et-Miquelon", "Saint Pierre et Miquelon", None,
     None, "PM", "America/Miquelon", ("975", "PM", "SPM")),
    ("wallis_et_futuna", "Wallis-et-Futuna", "Wallis et Futuna", None, None, "WF",
     "Pacific/Wallis", ("986", "WF")),
    # Académie de Guadeloupe: the Guadeloupe calendar, with rows of their own for these two.
    ("saint_martin", "Saint-Martin", "Guadeloupe", "Saint-Martin", None, "MF",
     "America/Guadeloupe", ("978", "MF")),
    ("saint_barthelemy", "Saint-Barthélemy", "Guadeloupe", "Saint-Barthélemy", None, "BL",
     "America/Guadeloupe", ("977", "BL")),
)  # fmt: skip

# Académie (canonical name) → territory key, then former names / short forms.
ACADEMIE_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # Zone A
    ("Besançon", "zone_a", ()),
    ("Bordeaux", "zone_a", ()),
    ("Clermont-Ferrand", "zone_a", ()),
    ("Dijon", "zone_a", ()),
    ("Grenoble", "zone_a", ()),
    ("Limoges", "zone_a", ()),
    ("Lyon", "zone_a", ()),
    ("Poitiers", "zone_a", ()),
    # Zone B
    ("Aix-Marseille", "zone_b", ()),
    ("Amiens", "zone_b", ()),
    ("Lille", "zone_b", ()),
    ("Nancy-Metz", "zone_b", ()),
    ("Nantes", "zone_b", ()),
    ("Nice", "zone_b", ()),
    ("Normandie", "zone_b", ("Caen", "Rouen")),  # merged 1 January 2020
    ("Orléans-Tours", "zone_b", ()),
    ("Reims", "zone_b", ()),
    ("Rennes", "zone_b", ()),
    ("Strasbourg", "zone_b", ()),
    # Zone C
    ("Créteil", "zone_c", ()),
    ("Montpellier", "zone_c", ()),
    ("Paris", "zone_c", ()),
    ("Toulouse", "zone_c", ()),
    ("Versailles", "zone_c", ()),
    # Calendars of their own
    ("Corse", "corse", ()),
    ("Guadeloupe", "guadeloupe", ()),
    ("Martinique", "martinique", ()),
    ("Guyane", "guyane", ()),
    ("La Réunion", "reunion", ()),
    ("Mayotte", "mayotte", ()),
    # Vice-rectorats and service de l'éducation of the collectivités d'outre-mer
    ("Nouvelle-Calédonie", "nouvelle_caledonie", ()),
    ("Polynésie française", "polynesie", ("Polynésie",)),
    ("Wallis-et-Futuna", "wallis_et_futuna", ()),
    ("Saint-Pierre-et-Miquelon", "saint_pierre_et_miquelon", ()),
)

# Code (3 digits, or 2A/2B for Corse), name, académie.
DEPARTEMENT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("001", "Ain", "Lyon"),
    ("002", "Aisne", "Amiens"),
    ("003", "Allier", "Clermont-Ferrand"),
    ("004", "Alpes-de-Haute-Provence", "Aix-Marseille"),
    ("005", "Hautes-Alpes", "Aix-Marseille"),
    ("006", "Alpes-Maritimes", "Nice"),
    ("007", "Ardèche", "Grenoble"),
    ("008", "Ardennes", "Reims"),
    ("009", "Ariège", "Toulouse"),
    ("010", "Aube", "Reims"),
    ("011", "Aude", "Montpellier"),
    ("012", "Aveyron", "Toulouse"),
    ("013", "Bouches-du-Rhône", "Aix-Marseille"),
    ("014", "Calvados", "Normandie"),
    ("015", "Cantal", "Clermont-Ferrand"),
    ("016", "Charente", "Poitiers"),
    ("017", "Charente-Maritime", "Poitiers"),
    ("018", "Cher", "Orléans-Tours"),
    ("019", "Corrèze", "Limoges"),
    ("2A", "Corse-du-Sud", "Corse"),
    ("2B", "Haute-Corse", "Corse"),
    ("021", "Côte-d'Or", "Dijon"),
    ("022", "Côtes-d'Armor", "Rennes"),
    ("023", "Creuse", "Limoges"),
    ("024", "Dordogne", "Bordeaux"),
    ("025", "Doubs", "Besançon"),
    ("026", "Drôme", "Grenoble"),
    ("027", "Eure", "Normandie"),
    ("028", "Eure-et-Loir", "Orléans-Tours"),
    ("029", "Finistère", "Rennes"),
    ("030", "Gard", "Montpellier"),
    ("031", "Haute-Garonne", "Toulouse"),
    ("032", "Gers", "Toulouse"),
    ("033", "Gironde", "Bordeaux"),
    ("034", "Hérault", "Montpellier"),
    ("035", "Ille-et-Vilaine", "Rennes"),
    ("036", "Indre", "Orléans-Tours"),
    ("037", "Indre-et-Loire", "Orléans-Tours"),
    ("038", "Isère", "Grenoble"),
    ("039", "Jura", "Besançon"),
    ("040", "Landes", "Bordeaux"),
    ("041", "Loir-et-Cher", "Orléans-Tours"),
    ("042", "Loire", "Lyon"),
    ("043", "Haute-Loire", "Clermont-Ferrand"),
    ("044", "Loire-Atlantique", "Nantes"),
    ("045", "Loiret", "Orléans-Tours"),
    ("046", "Lot", "Toulouse"),
    ("047", "Lot-et-Garonne", "Bordeaux"),
    ("048", "Lozère", "Montpellier"),
    ("049", "Maine-et-Loire", "Nantes"),
    ("050", "Manche", "Normandie"),
    ("051", "Marne", "Reims"),
    ("052", "Haute-Marne", "Reims"),
    ("053", "Mayenne", "Nantes"),
    ("054", "Meurthe-et-Moselle", "Nancy-Metz"),
    ("055", "Meuse", "Nancy-Metz"),
    ("056", "Morbihan", "Rennes"),
    ("057", "Moselle", "Nancy-Metz"),
    ("058", "Nièvre", "Dijon"),
    ("059", "Nord", "Lille"),
    ("060", "Oise", "Amiens"),
    ("061", "Orne", "Normandie"),
    ("062", "Pas-de-Calais", "Lille"),
    ("063", "Puy-de-Dôme", "Clermont-Ferrand"),
    ("064", "Pyrénées-Atlantiques", "Bordeaux"),
    ("065", "Hautes-Pyrénées", "Toulouse"),
    ("066", "Pyrénées-Orientales", "Montpellier"),
    ("067", "Bas-Rhin", "Strasbourg"),
    ("068", "Haut-Rhin", "Strasbourg"),
    ("069", "Rhône", "Lyon"),
    ("070", "Haute-Saône", "Besançon"),
    ("071", "Saône-et-Loire", "Dijon"),
    ("072", "Sarthe", "Nantes"),
    ("073", "Savoie", "Grenoble"),
    ("074", "Haute-Savoie", "Grenoble"),
    ("075", "Paris", "Paris"),
    ("076", "Seine-Maritime", "Normandie"),
    ("077", "Seine-et-Marne", "Créteil"),
    ("078", "Yvelines", "Versailles"),
    ("079", "Deux-Sèvres", "Poitiers"),
    ("080", "Somme", "Amiens"),
    ("081", "Tarn", "Toulouse"),
    ("082", "Tarn-et-Garonne", "Toulouse"),
    ("083", "Var", "Nice"),
    ("084", "Vaucluse", "Aix-Marseille"),
    ("085", "Vendée", "Nantes"),
    ("086", "Vienne", "Poitiers"),
    ("087", "Haute-Vienne", "Limoges"),
    ("088", "Vosges", "Nancy-Metz"),
    ("089", "Yonne", "Dijon"),
    ("090", "Territoire de Belfort", "Besançon"),
    ("091", "Essonne", "Versailles"),
    ("092", "Hauts-de-Seine", "Versailles"),
    ("093", "Seine-Saint-Denis", "Créteil"),
    ("094", "Val-de-Marne", "Créteil"),
    ("095", "Val-d'Oise", "Versailles"),
    ("971", "Guadeloupe", "Guadeloupe"),
    ("972", "Martinique", "Martinique"),
    ("973", "Guyane", "Guyane"),
    ("974", "La Réunion", "La Réunion"),
    ("975", "Saint-Pierre-et-Miquelon", "Saint-Pierre-et-Miquelon"),
    ("976", "Mayotte", "Mayotte"),
    ("977", "Saint-Barthélemy", "Guadeloupe"),
    ("978", "Saint-Martin", "Guadeloupe"),
    ("986", "Wallis-et-Futuna", "Wallis-et-Futuna"),
    ("987", "Polynésie française", "Polynésie française"),
    ("988", "Nouvelle-Calédonie", "Nouvelle-Calédonie"),
)

# Départements whose territory is not their académie's (académie de Guadeloupe).
DEPARTEMENT_TERRITORY = {"977": "saint_barthelemy", "978": "saint_martin"}

# Alsace-Moselle local law: Good Friday and 26 December (holidays subdivisions "57", "6AE").
DEPARTEMENT_PUBLIC_SUBDIV = {"057": "57", "067": "6AE", "068": "6AE"}

# Codes users type for Corse (UAI prefixes 620 and 720; "20A"/"02A" forms seen in exports).
DEPARTEMENT_CODE_ALIASES = {
    "2A": ("620", "02A", "20A"),
    "2B": ("720", "02B", "20B"),
}

# Establishments whose time zone is not their territory's default: French Polynesia spans three
# zones (Tahiti UTC−10, the Marquesas UTC−9:30, the Gambier UTC−9; docs/RULES.md §4), and a UAI
# does not say which island a school is on. Entries are explicit UAIs, added only from a source
# that names the school's island (the ministry's « Annuaire de l'éducation »); none is listed
# yet. An entry reads, e.g., "9870000X": "Pacific/Marquesas". `Establishment(timezone=…)` sets
# one establishment's zone directly and takes precedence over this table.
UAI_TIMEZONES: dict[str, str] = {}
