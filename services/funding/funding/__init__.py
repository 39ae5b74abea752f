"""The funding service of the Cités éducatives platform: envelopes, dotations, fonds de la
cité, commitments and payments, in an append-only double-entry ledger."""
