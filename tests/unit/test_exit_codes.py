"""Exit codes of the tasks without findings (facts, rollback, unlock): README "Exit codes"."""

from __future__ import annotations

from remediate import app
from remediate.runner import FAILED, OK, UNREACHABLE, HostOutcome


def outcomes(*pairs) -> list[HostOutcome]:
    return [HostOutcome(f"h{i}", status, value) for i, (status, value) in enumerate(pairs)]


def test_errors_win_over_unreachable_which_wins_over_success():
    refused = lambda value: value == "refused"  # noqa: E731
    assert app.hosts_exit_code(outcomes((OK, "done"), (OK, "done")), refused) == app.EXIT_OK
    assert app.hosts_exit_code(outcomes((OK, "done"), (UNREACHABLE, None)), refused) == app.EXIT_UNREACHABLE
    assert app.hosts_exit_code(outcomes((OK, "refused"), (UNREACHABLE, None)), refused) == app.EXIT_ERROR
    assert app.hosts_exit_code(outcomes((FAILED, None), (UNREACHABLE, None))) == app.EXIT_ERROR
    assert app.hosts_exit_code(outcomes((OK, "refused"))) == app.EXIT_OK  # facts: nothing to refuse


def test_facts_rollback_and_unlock_exit_three_for_an_unreachable_host(tmp_path):
    # Nothing listens on 127.0.0.1:1: the connection is refused before any login.
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    gone:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n")
    target = app.Target(hosts="gone", inventory=str(inventory), known_hosts=[])
    assert app.show_facts(target) == app.EXIT_UNREACHABLE
    assert app.rollback(target, None) == app.EXIT_UNREACHABLE
    assert app.unlock(target) == app.EXIT_UNREACHABLE


def test_harden_resolves_the_inventory_once(tmp_path, monkeypatch):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    gone:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n")
    calls = []
    real = app.Target.resolve

    def counted(self):
        calls.append(self.hosts)
        return real(self)

    monkeypatch.setattr(app.Target, "resolve", counted)
    target = app.Target(hosts="gone", inventory=str(inventory), known_hosts=[])
    assert app.harden(target, app.HardenOptions(dry_run=True)) == app.EXIT_UNREACHABLE
    assert calls == ["gone"]
