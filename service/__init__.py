"""The use cases every surface (CLI, Prefect flows, web app) calls: one function per use case."""
