"""Readable labels of the registry's codes (events, statuses, relations, sexes, ethnicities, divisions).

The registry stores codes; these tables give the English msgid shown for each (translated when rendered).
"""

from __future__ import annotations

from tongban.core.i18n import N_, Translator
from tongban.divisions.domain import get_catalog

EVENTS = {
    "born": N_("Registered at birth"),
    "moved_in": N_("Moved in"),
    "moved_out": N_("Moved out"),
    "in_transit": N_("Moving (in transit)"),
    "restored": N_("Registration restored"),
    "cancelled": N_("Registration cancelled"),
    "deceased": N_("Deceased"),
    "corrected": N_("Record corrected"),
}
STATUSES = {
    "active": N_("Registered"),
    "in_transit": N_("In transit"),
    "moved_out": N_("Moved out"),
    "cancelled": N_("Cancelled"),
    "deceased": N_("Deceased"),
}
RELATIONS = {
    "head": N_("Head of household"),
    "spouse": N_("Spouse"),
    "child": N_("Child"),
    "child_in_law": N_("Child-in-law"),
    "grandchild": N_("Grandchild"),
    "parent": N_("Parent"),
    "parent_in_law": N_("Parent-in-law"),
    "grandparent": N_("Grandparent"),
    "sibling": N_("Sibling"),
    "other_relative": N_("Other relative"),
    "non_relative": N_("Not related"),
    "collective_member": N_("Member of a collective household"),
}
SEXES = {"male": N_("Male"), "female": N_("Female")}
KINDS = {"family": N_("Family household"), "collective": N_("Collective household")}
REASONS = {
    "family": N_("joining family"),
    "study": N_("study"),
    "work": N_("work"),
    "death": N_("death"),
}
# GB/T 3304 codes with the groups' English names (the Chinese names are their translations).
ETHNICITIES = {
    "01": N_("Han"), "02": N_("Mongol"), "03": N_("Hui"), "04": N_("Tibetan"), "05": N_("Uyghur"),
    "06": N_("Miao"), "07": N_("Yi"), "08": N_("Zhuang"), "09": N_("Bouyei"), "10": N_("Korean"),
    "11": N_("Manchu"), "12": N_("Dong"), "13": N_("Yao"), "14": N_("Bai"), "15": N_("Tujia"),
    "16": N_("Hani"), "17": N_("Kazakh"), "18": N_("Dai"), "19": N_("Li"), "20": N_("Lisu"),
    "21": N_("Va"), "22": N_("She"), "23": N_("Gaoshan"), "24": N_("Lahu"), "25": N_("Sui"),
    "26": N_("Dongxiang"), "27": N_("Nakhi"), "28": N_("Jingpo"), "29": N_("Kyrgyz"), "30": N_("Tu"),
    "31": N_("Daur"), "32": N_("Mulao"), "33": N_("Qiang"), "34": N_("Blang"), "35": N_("Salar"),
    "36": N_("Maonan"), "37": N_("Gelao"), "38": N_("Xibe"), "39": N_("Achang"), "40": N_("Pumi"),
    "41": N_("Tajik"), "42": N_("Nu"), "43": N_("Uzbek"), "44": N_("Russian"), "45": N_("Evenki"),
    "46": N_("De'ang"), "47": N_("Bonan"), "48": N_("Yugur"), "49": N_("Gin"), "50": N_("Tatar"),
    "51": N_("Derung"), "52": N_("Oroqen"), "53": N_("Hezhen"), "54": N_("Monpa"), "55": N_("Lhoba"),
    "56": N_("Jino"), "97": N_("Other, not identified"), "98": N_("Chinese citizen of foreign origin"),
}  # fmt: skip


class Labels:
    """Label lookups bound to one language, for templates."""

    def __init__(self, t: Translator) -> None:
        self.t = t

    def _of(self, table: dict[str, str], code: str | None) -> str:
        if not code:
            return ""
        msgid = table.get(code)
        return self.t(msgid) if msgid else code

    def event(self, code: str | None) -> str:
        return self._of(EVENTS, code)

    def status(self, code: str | None) -> str:
        return self._of(STATUSES, code)

    def relation(self, code: str | None) -> str:
        return self._of(RELATIONS, code)

    def sex(self, code: str | None) -> str:
        return self._of(SEXES, code)

    def kind(self, code: str | None) -> str:
        return self._of(KINDS, code)

    def reason(self, code: str | None) -> str:
        return self._of(REASONS, code)

    def ethnicity(self, code: str | None) -> str:
        return self._of(ETHNICITIES, code)

    def division(self, code: str | None, year: int | None = None) -> str:
        """A county with its prefecture and province, as in use in ``year`` (default: its latest name)."""
        if not code:
            return ""
        catalog = get_catalog()
        row = catalog.get(code, year) or catalog.get(code)
        if row is None:
            return code
        chain = [row]
        parent = catalog.parent(code, year) if year is not None and catalog.get(code, year) else None
        parent = parent or catalog.parent(code)
        while parent is not None:
            chain.append(parent)
            parent = catalog.parent(parent.code)
        chain.reverse()
        if self.t.locale == "en":
            return ", ".join(d.pinyin for d in reversed(chain))
        return "".join(d.name for d in chain)
