"""The DuckDB warehouse: schema migrations, staged loads, read helpers, trends, search.

Every SQL string of newswatch lives in this package; nothing here imports Prefect.

    db          connect() with bounded lock retry; applies migrations on a writer
    migrations  ordered, named schema steps (schema.py, trends.py hold their SQL)
    staging     IngestBatch -> Parquet directory + manifest (atomic)
    load        staged batches -> one transaction each; catalogue entities
    queries     read helpers for the flow (feed state, known URLs, story signatures)
    search      DuckDB FTS (BM25) index and query
    snapshot    read-only copy (with the search index) that analysts and the CLI open
    export      whole tables to Parquet/CSV
    sample      a small deterministic warehouse for tests, docs and demos
"""
