"""How bad a failing check (or a plan's impact) is, least first: the one scale every module and policy uses.

A leaf module, so policy.py (which checks/ imports) can validate severities without importing checks/.
"""

SEVERITIES = ("info", "low", "medium", "high", "critical")
