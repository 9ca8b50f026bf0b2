"""Coordination between replicas through Redis: the connection, Lua scripts, leases and the admission set."""
