"""Keap REST hooks: authenticating hook URLs, delivery models, event routing, the receiver."""
