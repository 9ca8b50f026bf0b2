"""The playback engine: a pure clock and frame scheduler, and the runner that drives it.

This package does no I/O of its own: it imports neither the app, the store, nor any driver.
"""
