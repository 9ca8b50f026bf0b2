"""Thin route modules: parse, call a service, shape the answer."""

from app.routes import admin, health, sessions

API_ROUTES = [*health.ROUTES, *admin.ROUTES, *sessions.ROUTES]
"""Every API route of the app, registered by ``create_app``."""
