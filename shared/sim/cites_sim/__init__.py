"""The programme simulation (``make demo``): :func:`~.generator.generate` a programme from
a seed, :func:`~.simulate.simulate` it through the platform's HTTP APIs, and
:func:`~.reconcile.reconcile` what the services, the topics and the SMTP sink say with what
it did (a :class:`~.reconcile.Report`, empty ``differences`` when everything agrees)."""

from .generator import Programme, generate
from .platform import Endpoints, SimError, Tokens
from .reconcile import Report, reconcile
from .simulate import Run, simulate

__all__ = ["Endpoints", "Programme", "Report", "Run", "SimError", "Tokens", "generate",
           "reconcile", "simulate"]
