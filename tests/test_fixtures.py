"""The test tree's own machinery: which PostgreSQL server the session uses, and the markers."""

from __future__ import annotations

import stat
from pathlib import Path

import pg_support
import pytest
import sqlalchemy as sa
from pg_support import PG_DEFAULT, PG_DEFAULT_ENV, PG_ENV, Binaries, PostgresUnavailable, resolve

FAKE = Binaries(Path("/x/initdb"), Path("/x/pg_ctl"))


class Probe:
    """A fake probe: the URLs that answer; records the URLs asked."""

    def __init__(self, *answering: str) -> None:
        self.answering = set(answering)
        self.asked: list[str] = []

    def __call__(self, url: str) -> str | None:
        self.asked.append(url)
        return None if url in self.answering else "connection refused"


def test_configured_url_is_used_and_nothing_else_is_probed() -> None:
    probe = Probe("postgresql://u@db:5433/x", PG_DEFAULT)
    plan = resolve({PG_ENV: "postgresql://u@db:5433/x"}, probe, lambda _e: FAKE)
    assert (plan.origin, plan.url, probe.asked) == ("env", "postgresql://u@db:5433/x", ["postgresql://u@db:5433/x"])


def test_configured_url_unreachable_is_a_failure_not_a_throwaway_server() -> None:
    with pytest.raises(PostgresUnavailable, match=f"{PG_ENV} is set but PostgreSQL is unreachable") as caught:
        resolve({PG_ENV: "postgresql://u@db:5433/x"}, Probe(PG_DEFAULT), lambda _e: FAKE)
    assert caught.value.required


def test_the_machines_server_when_it_answers() -> None:
    plan = resolve({}, Probe(PG_DEFAULT), lambda _e: FAKE)
    assert (plan.origin, plan.url, plan.binaries) == ("default", PG_DEFAULT, None)


def test_a_throwaway_server_when_nothing_answers() -> None:
    probe = Probe()
    plan = resolve({PG_DEFAULT_ENV: "postgresql://postgres@127.0.0.1:9/test"}, probe, lambda _e: FAKE)
    assert (plan.origin, plan.url, plan.binaries) == ("throwaway", None, FAKE)
    assert probe.asked == ["postgresql://postgres@127.0.0.1:9/test"] and "127.0.0.1:9" in plan.reason


def test_skip_with_the_install_hint_when_there_are_no_binaries() -> None:
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql") as caught:
        resolve({}, Probe(), lambda _e: None)
    assert not caught.value.required


def _executable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_find_binaries_needs_both_in_one_directory(tmp_path: Path) -> None:
    _executable(tmp_path / "initdb")
    assert pg_support.find_binaries({pg_support.PG_BINDIR_ENV: str(tmp_path)}) is None
    _executable(tmp_path / "pg_ctl")
    assert pg_support.find_binaries({pg_support.PG_BINDIR_ENV: str(tmp_path)}) == Binaries(
        tmp_path / "initdb", tmp_path / "pg_ctl"
    )


def test_find_binaries_prefers_path_then_the_newest_debian_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9.6", "15", "13"):
        for tool in ("initdb", "pg_ctl"):
            _executable(tmp_path / "usr/lib/postgresql" / version / "bin" / tool)
    monkeypatch.setattr(pg_support, "DEBIAN_BINDIRS", str(tmp_path / "usr/lib/postgresql/*/bin"))
    newest = pg_support.find_binaries({"PATH": str(tmp_path / "empty")})
    assert newest is not None and newest.initdb.parent == tmp_path / "usr/lib/postgresql/15/bin"
    for tool in ("initdb", "pg_ctl"):
        _executable(tmp_path / "opt/bin" / tool)
    on_path = pg_support.find_binaries({"PATH": str(tmp_path / "opt/bin")})
    assert on_path is not None and on_path.initdb.parent == tmp_path / "opt/bin"


@pytest.mark.postgres
def test_throwaway_server_starts_answers_and_is_removed() -> None:
    """For real: initdb in a temp dir, pg_ctl on a free port, database ``test``; all gone afterwards."""
    binaries = pg_support.find_binaries()
    if binaries is None:
        pytest.skip(f"no initdb/pg_ctl: {pg_support.INSTALL_HINT}")
    with pg_support.throwaway_server(binaries) as url:
        assert pg_support.probe(url) is None
        engine = sa.create_engine(pg_support.normalise_url(url))
        try:
            with engine.connect() as conn:
                database, user, data_dir = conn.exec_driver_sql(
                    "SELECT current_database(), current_user, current_setting('data_directory')"
                ).one()
                listen = conn.exec_driver_sql("SHOW listen_addresses").scalar()
        finally:
            engine.dispose()
        assert (database, user, listen) == ("test", "postgres", "127.0.0.1")
        assert Path(data_dir).is_dir()
    assert not Path(data_dir).parent.exists()
    assert pg_support.probe(url) is not None


# -- markers ------------------------------------------------------------------------------

MARKERS = ("chain", "postgres", "browser")

#: Tests whose markers are not visible from their fixture names alone (node or browser
#: started in the test body, by a module's own fixture, or only through a subprocess).
EXPECTED = {
    "tests/oracle/test_oracle_crash.py::test_node_restarted_mid_round": {"chain"},
    "tests/oracle/test_oracle_crash.py::test_kill_at_each_step_then_rerun[sqlite-after_tree]": {"chain"},
    "tests/oracle/test_oracle_crash.py::test_kill_at_each_step_then_rerun[postgresql-after_send]": {
        "chain",
        "postgres",
    },
    "tests/oracle/test_ondemand.py::test_batch_by_size_anchors_and_proves": {"chain"},
    "tests/ledger/chain/test_ganache.py::test_full_flow_on_ganache": {"chain"},
    "tests/ledger/chain/test_node_restart.py::test_state_survives_graceful_restart": {"chain"},
    "tests/credit_ledger/test_demo.py::test_demo_twice_reuses_chain_and_chains_leaves": {"chain"},
    "tests/credit_ledger/test_demo.py::test_deploy_without_node_gives_clear_error": set(),
    "tests/api/dashboard/test_dashboard_browser.py::test_dashboard_assets_are_local": {"chain"},
    "tests/api/dashboard/test_dashboard_browser.py::test_dashboard_demo_sign_in_trajectory_badges_and_tampering": {
        "chain",
        "browser",
    },
    "tests/ledger/store/test_rounds.py::test_round_lifecycle[sqlite]": set(),
    "tests/ledger/store/test_rounds.py::test_round_lifecycle[postgresql]": {"postgres"},
}


def _markers(item: pytest.Item) -> set[str]:
    return {m for m in MARKERS if item.get_closest_marker(m) is not None}


def test_markers_of_the_collected_tests(request: pytest.FixtureRequest) -> None:
    """Checks the tests of this session's selection (under ``-m`` that is a subset)."""
    items = {item.nodeid: item for item in request.session.items}
    for nodeid, expected in EXPECTED.items():
        if nodeid in items:
            assert _markers(items[nodeid]) == expected, nodeid
    for nodeid, item in items.items():
        params = item.callspec.params if isinstance(item, pytest.Function) and hasattr(item, "callspec") else {}
        if "store_url" in params:  # the backend parameter, not the fixture, decides
            assert ("postgres" in _markers(item)) == (params["store_url"] == "postgresql"), nodeid
        if {"anvil_node", "chain", "ledger_node", "ledger_env"} & set(getattr(item, "fixturenames", ())):
            assert "chain" in _markers(item), nodeid
        if "postgres_server" in getattr(item, "fixturenames", ()):
            assert "postgres" in _markers(item), nodeid
    assert _markers(items[request.node.nodeid]) == set()
