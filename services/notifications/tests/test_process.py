"""How notifications' process runs."""

from __future__ import annotations

from notifications.app import definition

from cites_runtime import tuning


def test_notifications_keeps_cpythons_collector_thresholds() -> None:
    """Rendering mail leaves reference cycles; with the batch consumers' thresholds they
    pile up in the collector's old generations: its RSS went 80 → 158–162 MB after 300
    labels' 2,700 mails, 90 MB with CPython's (``python -m bench --only rss``)."""
    assert definition.gc_thresholds == tuning.CPYTHON_GC_THRESHOLDS
