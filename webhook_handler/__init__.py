"""The webhook_handler worker."""
