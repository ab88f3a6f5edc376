"""Webhooks: an organization's case-management system told of its consultations' changes, signed, via the outbox."""
