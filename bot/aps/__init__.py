"""APS edge: the httpx client (tokens, retries, error-body parsing)."""
