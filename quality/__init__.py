"""Great Expectations suites on the live tables and on an upload's volume (SPEC §7)."""
