"""Runs the three workers, their bindings, Postgres and the Keap sandbox on one machine."""
