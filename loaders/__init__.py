"""The stages of a load: read → normalize → validate → plan → apply; quota, archive, store."""
