"""Notifications: the relay that delivers the outbox, the emails it renders and the calendar entries in them."""
