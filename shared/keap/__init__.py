"""The Keap side: OAuth, the HTTP client, stream specs, hook models."""
