"""``newswatch ui``: a local, read-only web view of the warehouse (story stream, entity pages,
each article's ``why``, search).

``data.py`` reads what each page shows (one short read-only connection per request),
``pages.py`` renders the templates in ``templates/`` (autoescaped), ``app.py`` is the
Starlette application, ``server.py`` binds the socket and runs uvicorn.
"""
