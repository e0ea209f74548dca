"""`agentctl bot`: the operator's Telegram bot, one per host, long-polling the Bot API.

- settings: the bot's own settings file (allowlists, privacy, validity) and its token credential.
- state: what survives a restart: the update offset, the buttons' tokens, the strangers seen.
- people: what a message may show of a person, by the privacy setting.
- reviews: the review queue read from the agents' state, the decision spool written into it.
- replies: the commands (/status, /costs, /failed, /review), answered with agentctl's own code.
- service: the loop: updates in order, each handled once, allowlist first.
"""
