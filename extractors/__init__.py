"""Pure fetch/parse/extract/match logic. No Prefect, no DuckDB here."""
