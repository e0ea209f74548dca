"""Deployment: systemd notify and watchdog, the heartbeat, the health check."""
