"""The outbox: every email (later every webhook) is a row written in the transaction of the change that
caused it; ``telecon.notifications`` delivers the rows."""
