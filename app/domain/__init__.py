"""The domain services: sessions, record and replay, replay reads, ingest, settings and the maintenance jobs."""
