"""The labelling service: waves, candidatures and the Cité éducative label.

Where to look (docs/anatomy.md): ``domain/`` (rules and state machines,
no I/O, returning events), ``service.py`` (use cases on the caller's unit of work),
``store.py`` (SQL), ``api/`` (HTTP), ``consumers.py`` (none yet), ``expiry.py`` (the
scheduled check), ``examples.py`` (an eligible candidature), ``migrations/`` (schema and
the historical waves), ``app.py`` (wiring).
"""
