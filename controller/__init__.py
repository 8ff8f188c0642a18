"""Traffic controller: moves an API Gateway stage from its live slot to the candidate slot, step by step.

`python -m controller shift` observes the canary's own CloudWatch metrics and alarms, decides with pure code
(`rollout.decide`), acts through thin AWS adapters (`controller.aws`) and reports each step as an event.
"""
