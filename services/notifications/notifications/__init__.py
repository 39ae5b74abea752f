"""The notifications service of the Cités éducatives platform: everyone concerned is told,
in French, by mail (and signed webhooks), once per event and recipient."""
