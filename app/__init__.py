"""The MSR application: settings, auth, routes, errors, CLI, and the composition root that wires them."""
