"""Outbox: every email and webhook is a row written in the transaction of the change that caused it."""
