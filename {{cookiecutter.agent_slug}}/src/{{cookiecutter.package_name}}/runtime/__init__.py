"""The runtime: what carries any job's items, knowing nothing of what the job is about.

- agent.py (beside this package): the loop that puts these pieces together;
- protocol.py: the `Job` a job.py implements, its outcomes and the Context it gets per item;
- items.py: one item's state machine, from incoming/ to done/, review/ or failed/;
- recovery.py: what a crash left in processing/;
- review.py: the human review queue (show the job's choices, continue with the one chosen);
- gateway.py: the LLM call, within the daily budget, every billed call costed;
- disk.py: the pause while the disk is full;
- clock.py: the item's time limit, and the stop flag a signal sets.
"""
