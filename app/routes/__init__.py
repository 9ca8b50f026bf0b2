"""Thin route modules: parse, call a service, shape the answer."""

from app.routes import admin, configuration, health, ingest, replay, sessions

API_ROUTES = [
    *health.ROUTES,
    *admin.ROUTES,
    *sessions.ROUTES,
    *ingest.ROUTES,
    *configuration.ROUTES,
    *replay.ROUTES,
]
"""Every API route of the app, registered by ``create_app``."""
