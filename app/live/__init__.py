"""The live wing: playback of sessions to WebSocket viewers, shared by every replica (see docs/architecture.md)."""
