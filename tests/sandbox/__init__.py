"""Tests of the Keap sandbox (local/keap_sandbox)."""
