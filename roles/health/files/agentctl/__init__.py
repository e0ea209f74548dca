"""Look after every pillars agent on this host: status, costs, logs, failed items, reviews, alerts.

Installed by the health role under /usr/local/lib/agentctl, run by the /usr/local/sbin/agentctl
launcher (agentctl.cli.main), with Debian's python3 and the standard library only. `agentctl check`
is what the 15-minute timer runs: it compares what it finds with what it already told the owner
(/var/lib/agentctl/alerts.json) and sends Telegram messages for new problems, reminders and
recoveries only.

Settings come from /etc/agents/agentctl.conf (JSON, rendered by the role; AGENTCTL_CONFIG names
another file). The Telegram bot token is read from the root-only secret file and nowhere else.
"""
