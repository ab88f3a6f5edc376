"""Outcomes: what came of a consultation, recorded by its specialist, shown as far as the participant consented."""
