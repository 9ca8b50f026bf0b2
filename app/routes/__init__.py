"""Thin route modules: parse, call a service, shape the answer."""

from app.routes import (
    admin,
    bookmarks,
    configuration,
    exports,
    health,
    ingest,
    metrics,
    operator_users,
    operators,
    replay,
    rnr,
    sessions,
    ws,
)

API_ROUTES = [
    *health.ROUTES,
    *admin.ROUTES,
    *operators.ROUTES,
    *operator_users.ROUTES,
    *sessions.ROUTES,
    *ingest.ROUTES,
    *configuration.ROUTES,
    *replay.ROUTES,
    *exports.ROUTES,
    *bookmarks.ROUTES,
    *rnr.ROUTES,
    *ws.ROUTES,
    *metrics.ROUTES,
]
"""Every API route of the app, registered by ``create_app``."""
