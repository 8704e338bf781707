"""The web app (SPEC §8): a server-rendered surface over the service layer."""
