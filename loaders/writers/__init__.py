"""What we write for client admins: the annotated error report, exports and the blank template."""
