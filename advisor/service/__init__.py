"""The HTTP service: app, routes, page, answer cache, store, ingest, retraining, auth and
observability."""
