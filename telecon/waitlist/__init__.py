"""The waitlist: participants waiting for a slot of a profession, and the holds that keep a freed slot for them."""
