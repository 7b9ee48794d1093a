"""The model registry: filings, datasets, validation runs and approvals."""
