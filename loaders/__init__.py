"""The stages of a load: read → normalize → validate → plan → apply, plus quota, incidents, store."""
