"""The sync_coordinator worker."""
