"""The labelling service: waves, candidatures and the Cité éducative label.

Where to look: ``domain/`` (rules and state machines, no I/O), ``service.py`` (use cases,
one transaction each), ``store.py`` (SQL), ``api/`` (HTTP), ``expiry.py`` (the scheduled
check), ``migrations/`` (schema and the historical waves), ``app.py`` (wiring).
"""
