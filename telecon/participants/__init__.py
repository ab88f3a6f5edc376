"""Participants, their consents (append-only) and their case file (append-only)."""
