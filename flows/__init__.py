"""Prefect flows and tasks only: thin wrappers over extractors/ and warehouse/."""
