"""Alert policy, the durable outbox and the sinks (Slack, console)."""
