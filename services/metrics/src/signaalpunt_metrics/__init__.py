"""Metrics: read models of every domain topic, exposed to Prometheus."""
