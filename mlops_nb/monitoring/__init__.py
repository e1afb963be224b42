"""Monitoring of a served model: drift, prediction drift, decay and service health judged from its
inference log and feedback against the served version's training reference; each pass is an MLflow run,
and a drift or decay verdict raises the scheduler's trigger of the same name (monitoring never promotes)."""
