"""The partners service: the registry of partner organisations and each labelled cité's
alliance éducative (members, roles, its one collège chef de file)."""
