"""The programme dashboard of the Cités éducatives platform: a read-only projection of the
events every service publishes (cités, money, alliances, notifications), a probe of the
platform's health, and the web page that shows both."""
