"""remediate: agentless hardening of the Docker engine on fleets of Linux hosts."""

__version__ = "0.1.0"
