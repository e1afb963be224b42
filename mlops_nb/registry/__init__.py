"""Model registry: registration, aliases, promotion, lineage."""
