"""Route modules: ``merchant`` and ``public`` here; ``auditor`` and ``regulator`` when present."""
