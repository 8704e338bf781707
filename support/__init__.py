"""The support desk: incidents, the SLA clock, e-mail, the spool and dead-run reports (SPEC §5)."""
