"""The PostgreSQL side of MSR: pool, migrations, and the repositories of events, sessions, settings and jobs.

Nothing outside this package imports asyncpg; driver errors become :mod:`store.errors` here.
"""
