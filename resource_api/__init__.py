"""The resource API: a stateless Litestar service behind the BFF (SPEC "Resource API").

- `settings.py` the frozen `Settings` (API_* variables, .env); `__main__.py` the CLI
- `app.py` `create_app(settings)`; `auth.py` bearer tokens -> `Caller` (RFC 6750)
- `identity.py` `Caller` -> `Actor` (user row upsert, household); `guards.py` route kinds
- `access.py` the one layer that scopes every query on owned rows
- `models.py` tables and their create/update/public models; `db.py`, `migrate.py`
- `routes/` one module per resource; `errors.py` the error tree and its HTTP answers
"""
