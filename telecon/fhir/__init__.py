"""The FHIR R4 export: consultations as ``Appointment`` resources, read with the API's own rules.

Its media type lives in ``telecon.problems`` beside problem+json: the API description needs it too, below us.
"""
