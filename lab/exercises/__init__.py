"""Exercises with checks a learner can run: each says, check by check, what is still wrong."""

from lab.exercises._shout import CheckResult, Report, check_shout, netstring

__all__ = ["check_shout", "Report", "CheckResult", "netstring"]
