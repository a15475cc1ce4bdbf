"""Which entities the report plots, and which it shows as one, read from the entity catalogue.

**Plotted or summarised.** The catalogue marks the entities that alone make an article
on-topic with ``topic_specific = true`` (Shahed-136, Geran-2, Alabuga, the treaty ...): the
field the on-topic gate's first rule reads (``extractors/entities.py``, the ``[relevance]``
rules of ``seeds/entities.toml``). Those are the topic and get a weekly panel each. Every
other entity (Russia, Iran, the Kremlin, the IRGC, Ukraine ...) counts only together with
another one; they anchor nearly every on-topic article, so plotted they would flatten every
topic entity under them. The report summarises them in a table instead. No name is listed
here: the catalogue decides.

**Display groups.** The catalogue keeps a country and its government as two entities
(``iran``, "Iran", and ``iranian-government``, "Islamic Republic of Iran", whose aliases are
"Tehran", "Iranian regime" ...): the matcher needs both, and the catalogue declares no
relation between them. For display they are one thing, so ``DISPLAY_GROUPS`` maps each
government to its country; the report counts a story once for the group and names the
members beside it. ``tests/test_report.py`` checks each pair against the catalogue (a
government and a country of the same side), so a renamed id cannot make it silently stale.
"""

from __future__ import annotations

from pathlib import Path

from newswatch.core.settings import DEFAULT_ENTITIES
from newswatch.extractors.entities import load_catalogue
from newswatch.warehouse.report_queries import EntityRoles

# government entity_id -> the country entity_id it is shown with
DISPLAY_GROUPS: dict[str, str] = {
    "russian-government": "russia",
    "iranian-government": "iran",
    "ukrainian-government": "ukraine",
    "us-government": "united-states",
    "syrian-government": "syria",
}


def entity_roles(catalogue: Path | None = None) -> EntityRoles:
    """The roles of the catalogue at ``catalogue`` (the bundled one, as ingest uses, by
    default): its topic-specific ids, its names, and the display groups it can hold."""
    path = Path(catalogue) if catalogue is not None else DEFAULT_ENTITIES
    loaded = load_catalogue(path)
    ids = {entity.id for entity in loaded.entities}
    return EntityRoles(
        topic_specific=frozenset(e.id for e in loaded.entities if e.topic_specific),
        groups={m: h for m, h in DISPLAY_GROUPS.items() if m in ids and h in ids},
        names={entity.id: entity.name for entity in loaded.entities},
        source=f"{path.name} (version {loaded.version[:12]})",
    )
