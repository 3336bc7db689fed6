"""Checked SQL: every named query proved against the real schema and the Struct it fills."""
