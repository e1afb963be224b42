"""Scheduled and triggered pipeline runs: triggers (cron, interval, data, drift, decay, manual), the
schedules in a state database, and the scheduler, a process of its own that runs each environment's
current release when a trigger fires.

``raise_trigger(pipeline, env, kind, evidence)`` is how the monitoring (or anything else) asks for a run on
drift or decay.
"""

from mlops_nb.scheduling.schedules import raise_trigger

__all__ = ["raise_trigger"]
