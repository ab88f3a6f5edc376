"""The FHIR R4 export: consultations as ``Appointment`` resources, read with the API's own rules."""

FHIR_JSON = "application/fhir+json"
FHIR_MEDIA_TYPE = f"{FHIR_JSON}; fhirVersion=4.0"
"""Every answer of ``/fhir``, errors included (FHIR R4 3.1.0.1.8: the MIME-type parameter ``fhirVersion``)."""
