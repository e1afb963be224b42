"""What a notebook session records into MLflow."""
