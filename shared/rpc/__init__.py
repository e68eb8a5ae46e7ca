"""The coordinator's API: each RPC method declared once, with the models both sides use."""
