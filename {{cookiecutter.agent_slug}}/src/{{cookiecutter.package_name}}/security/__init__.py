"""Security: settings and secrets, parameterized SQL, allowlists, the human review queue."""
