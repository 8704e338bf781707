"""Prefect flows: thin orchestration over the plain functions of ``loaders/`` (SPEC §7)."""
