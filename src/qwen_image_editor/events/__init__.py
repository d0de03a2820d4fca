"""Job notifications from workers to WebSocket subscribers."""
