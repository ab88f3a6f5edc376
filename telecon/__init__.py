"""telecon: video consultations for the health-and-work projects of German job centres."""
