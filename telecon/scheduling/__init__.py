"""Consultation types, specialists' availability, slots and consultations."""
