"""The composition root: configuration, the scheduler loop, metrics, endpoints, state, CLI."""
