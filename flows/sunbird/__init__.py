"""Steps two jobs share against the Sunbird services: re-hosting files, linking into collection hierarchies."""
