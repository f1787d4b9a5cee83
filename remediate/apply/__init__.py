"""Apply a plan safely on one host, validate it first, roll it back: the host side of harden.

validate_on_host(conn, facts, plan)           dry-run and apply alike: nothing left behind
apply_host(conn, facts, plan, policy, ...)   lock, CAS, backups, atomic writes, restart, verify, rollback
rollback_host(conn, ...)                     put a run's backups back (invoke rollback)
"""
