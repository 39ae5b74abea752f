"""The départements (INSEE's official geographic code): their names, régions and académies,
for the page's table by département and the open data: events carry only the code.

Overseas collectivities that are not régions (Saint-Pierre-et-Miquelon, Saint-Barthélemy,
Saint-Martin) are their own "région" here, as INSEE's geographic code lists them; their
schools belong to the académie of Normandie (Saint-Pierre-et-Miquelon) and of Guadeloupe
(Saint-Barthélemy, Saint-Martin).
"""

from __future__ import annotations

__all__ = ["ACADEMIES", "DEPARTEMENT_NAMES", "REGIONS", "academie_of", "departement_name",
           "region_of"]

DEPARTEMENT_NAMES: dict[str, str] = {
    "01": "Ain", "02": "Aisne", "03": "Allier", "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes", "06": "Alpes-Maritimes", "07": "Ardèche", "08": "Ardennes",
    "09": "Ariège", "10": "Aube", "11": "Aude", "12": "Aveyron", "13": "Bouches-du-Rhône",
    "14": "Calvados", "15": "Cantal", "16": "Charente", "17": "Charente-Maritime",
    "18": "Cher", "19": "Corrèze", "2A": "Corse-du-Sud", "2B": "Haute-Corse",
    "21": "Côte-d'Or", "22": "Côtes-d'Armor", "23": "Creuse", "24": "Dordogne", "25": "Doubs",
    "26": "Drôme", "27": "Eure", "28": "Eure-et-Loir", "29": "Finistère", "30": "Gard",
    "31": "Haute-Garonne", "32": "Gers", "33": "Gironde", "34": "Hérault",
    "35": "Ille-et-Vilaine", "36": "Indre", "37": "Indre-et-Loire", "38": "Isère",
    "39": "Jura", "40": "Landes", "41": "Loir-et-Cher", "42": "Loire", "43": "Haute-Loire",
    "44": "Loire-Atlantique", "45": "Loiret", "46": "Lot", "47": "Lot-et-Garonne",
    "48": "Lozère", "49": "Maine-et-Loire", "50": "Manche", "51": "Marne",
    "52": "Haute-Marne", "53": "Mayenne", "54": "Meurthe-et-Moselle", "55": "Meuse",
    "56": "Morbihan", "57": "Moselle", "58": "Nièvre", "59": "Nord", "60": "Oise",
    "61": "Orne", "62": "Pas-de-Calais", "63": "Puy-de-Dôme", "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées", "66": "Pyrénées-Orientales", "67": "Bas-Rhin", "68": "Haut-Rhin",
    "69": "Rhône", "70": "Haute-Saône", "71": "Saône-et-Loire", "72": "Sarthe",
    "73": "Savoie", "74": "Haute-Savoie", "75": "Paris", "76": "Seine-Maritime",
    "77": "Seine-et-Marne", "78": "Yvelines", "79": "Deux-Sèvres", "80": "Somme",
    "81": "Tarn", "82": "Tarn-et-Garonne", "83": "Var", "84": "Vaucluse", "85": "Vendée",
    "86": "Vienne", "87": "Haute-Vienne", "88": "Vosges", "89": "Yonne",
    "90": "Territoire de Belfort", "91": "Essonne", "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis", "94": "Val-de-Marne", "95": "Val-d'Oise",
    "971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion",
    "975": "Saint-Pierre-et-Miquelon", "976": "Mayotte", "977": "Saint-Barthélemy",
    "978": "Saint-Martin",
}

REGIONS: dict[str, tuple[str, ...]] = {
    "Auvergne-Rhône-Alpes": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73",
                             "74"),
    "Bourgogne-Franche-Comté": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "Bretagne": ("22", "29", "35", "56"),
    "Centre-Val de Loire": ("18", "28", "36", "37", "41", "45"),
    "Corse": ("2A", "2B"),
    "Grand Est": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "Hauts-de-France": ("02", "59", "60", "62", "80"),
    "Île-de-France": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "Normandie": ("14", "27", "50", "61", "76"),
    "Nouvelle-Aquitaine": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86",
                           "87"),
    "Occitanie": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81",
                  "82"),
    "Pays de la Loire": ("44", "49", "53", "72", "85"),
    "Provence-Alpes-Côte d'Azur": ("04", "05", "06", "13", "83", "84"),
    "Guadeloupe": ("971",), "Martinique": ("972",), "Guyane": ("973",),
    "La Réunion": ("974",), "Mayotte": ("976",),
    "Saint-Pierre-et-Miquelon": ("975",), "Saint-Barthélemy": ("977",),
    "Saint-Martin": ("978",),
}
"""Each région (the 18 of 2016, and the overseas collectivities) and its départements."""

ACADEMIES: dict[str, tuple[str, ...]] = {
    "Aix-Marseille": ("04", "05", "13", "84"), "Amiens": ("02", "60", "80"),
    "Besançon": ("25", "39", "70", "90"), "Bordeaux": ("24", "33", "40", "47", "64"),
    "Clermont-Ferrand": ("03", "15", "43", "63"), "Corse": ("2A", "2B"),
    "Créteil": ("77", "93", "94"), "Dijon": ("21", "58", "71", "89"),
    "Grenoble": ("07", "26", "38", "73", "74"), "Lille": ("59", "62"),
    "Limoges": ("19", "23", "87"), "Lyon": ("01", "42", "69"),
    "Montpellier": ("11", "30", "34", "48", "66"), "Nancy-Metz": ("54", "55", "57", "88"),
    "Nantes": ("44", "49", "53", "72", "85"), "Nice": ("06", "83"),
    "Normandie": ("14", "27", "50", "61", "76", "975"),
    "Orléans-Tours": ("18", "28", "36", "37", "41", "45"), "Paris": ("75",),
    "Poitiers": ("16", "17", "79", "86"), "Reims": ("08", "10", "51", "52"),
    "Rennes": ("22", "29", "35", "56"), "Strasbourg": ("67", "68"),
    "Toulouse": ("09", "12", "31", "32", "46", "65", "81", "82"),
    "Versailles": ("78", "91", "92", "95"),
    "Guadeloupe": ("971", "977", "978"), "Martinique": ("972",), "Guyane": ("973",),
    "La Réunion": ("974",), "Mayotte": ("976",),
}
"""Each of the 30 académies (since the two Normandy académies merged in 2020) and its
départements."""

_REGION_OF = {d: name for name, codes in REGIONS.items() for d in codes}
_ACADEMIE_OF = {d: name for name, codes in ACADEMIES.items() for d in codes}


def departement_name(code: str) -> str:
    return DEPARTEMENT_NAMES.get(code, code)


def region_of(code: str) -> str | None:
    """The région of a département; None for a code it does not know."""
    return _REGION_OF.get(code)


def academie_of(code: str) -> str | None:
    """The académie of a département; None for a code it does not know."""
    return _ACADEMIE_OF.get(code)
