"""The sync engine: stream runner, budget, checkpoints, reconciliation of deletes."""
