"""Serving models: loading registered versions, the online server, its inference log and feedback."""
