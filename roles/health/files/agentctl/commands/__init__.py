"""One module per agentctl command; the command line imports only the one it runs."""
