"""The sync_worker worker."""
