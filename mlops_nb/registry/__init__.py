"""The model registry side of mlops_nb: registration, aliases per environment, promotion and lineage."""
