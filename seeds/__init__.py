"""Bundled data, installed as package data of ``newswatch.seeds``: the source, entity and
alert catalogues and the offline sample. Read through :mod:`importlib.resources`
(``newswatch.core.settings.SEEDS_DIR``), so a wheel install finds them as an editable one does."""
