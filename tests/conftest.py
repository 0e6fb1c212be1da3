"""Shared fixtures and the test markers.

Fixtures: a real anvil node per test session, connected Chain, role accounts, the
deployed ``ledger_env``, and the session's one PostgreSQL server (``postgres_server``;
``postgres_url`` is a fresh schema on it per test; see ``pg_support``).

Markers (registered in pyproject.toml, applied here at collection, so that
``pytest -m "not chain and not postgres and not browser"`` runs the fast set alone):

* ``postgres``: the test uses ``postgres_server`` (directly or through any fixture),
  or carries the marker itself. A fixture that picks a backend per parameter requests
  the server with ``request.getfixturevalue`` on its PostgreSQL parameter only, and
  marks that parameter (``pytest.param("postgresql", marks=pytest.mark.postgres)``):
  the SQLite case of the same test stays unmarked and never starts a server. As a
  check, setting up a fixture on ``postgres_server`` for a test without the marker is
  an error.
* ``chain``: the test, or a fixture it uses (transitively), starts or talks to a node.
* ``browser``: the test, or a fixture it uses, drives chromium through playwright.
* ``slow``: a large configuration of a property test (the contracts' stateful test runs
  300 examples of 60 steps instead of 25 of 30). Skipped unless pytest is given
  ``--slow``: ``pytest --slow tests/contracts/test_contract_stateful.py``. An option and
  not ``-m "not slow"`` in ``addopts``, because a command-line ``-m`` replaces the one in
  ``addopts`` (the last ``-m`` wins), so ``-m "not chain and not postgres and not
  browser"`` would silently run the slow tests too.

``chain`` and ``browser`` are found by reading code, not names: the bytecode of the
test function and of every fixture in its closure is scanned for the global names it
uses, each resolved in that function's module to the object itself, following
functions and classes defined in the test tree (helpers, ``ledger_support``). A node
is started by ``ledger.node.LocalNode`` (or a subclass), ``ledger.node.anvil_binary``,
``ledger_support.running_node``, or a path named ``anvil``/``ganache`` (the npm
binaries); chromium through anything from the ``playwright`` package or a path named
``chromium``. This catches a node started in a test body or in a module's own fixture
without a list to keep up to date, and a fixture named ``node`` or ``env`` is not
taken for one that starts a node. What it cannot see is a node that only a subprocess
starts (the CLI's embedded node, e.g. ``credit-ledger demo``): such a test needs a
fixture that handles the ``LocalNode`` (as ``test_demo.demo_home`` stops it) or an
explicit ``@pytest.mark.chain``.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pg_support
import pytest
import sqlalchemy as sa
from ledger_support import LedgerEnv, make_ledger_env, running_node

from ledger.accounts import RoleAccounts
from ledger.chain import Chain
from ledger.node import LocalNode, anvil_binary

TESTS_DIR = Path(__file__).resolve().parent
NODE_BINARIES = frozenset({"anvil", "ganache"})

# -- markers ------------------------------------------------------------------------------


def _kinds_of_object(obj: object) -> set[str]:
    """The markers an object referenced by test code implies by itself."""
    if obj is running_node or obj is anvil_binary or (isinstance(obj, type) and issubclass(obj, LocalNode)):
        return {"chain"}
    if isinstance(obj, Path):
        return {"chain"} if obj.name in NODE_BINARIES else {"browser"} if obj.name == "chromium" else set()
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    if isinstance(module, str) and (module == "playwright" or module.startswith("playwright.")):
        return {"browser"}
    return set()


def _in_test_tree(obj: object) -> bool:
    try:
        return Path(inspect.getfile(obj)).resolve().is_relative_to(TESTS_DIR)  # type: ignore[arg-type]
    except (TypeError, OSError):
        return False


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


_KINDS_CACHE: dict[object, set[str]] = {}


def _kinds_of_code(obj: object) -> set[str]:
    """The markers a function (or a class's methods) defined in the test tree implies, transitively."""
    if obj in _KINDS_CACHE:
        return _KINDS_CACHE[obj]
    _KINDS_CACHE[obj] = set()  # a cycle (recursion) adds nothing
    kinds: set[str] = set()
    if isinstance(obj, type):
        for member in vars(obj).values():
            member = getattr(member, "__func__", None) or getattr(member, "fget", None) or member
            if isinstance(member, types.FunctionType):
                kinds |= _kinds_of_code(member)
    elif isinstance(obj, types.FunctionType):
        func = inspect.unwrap(obj)
        namespace = func.__globals__
        closure = dict(zip(func.__code__.co_freevars, (c.cell_contents for c in func.__closure__ or ()), strict=True))
        for code in _code_objects(func.__code__):
            for name in (*code.co_names, *code.co_freevars):
                if name in closure:
                    target = closure[name]
                elif name in namespace:
                    target = namespace[name]
                else:
                    continue
                kinds |= _kinds_of_object(target)
                if isinstance(target, types.FunctionType | type) and _in_test_tree(target):
                    kinds |= _kinds_of_code(target)
                elif isinstance(target, types.ModuleType) and _in_test_tree(target):
                    # module.attribute: the attribute names are among co_names as well
                    for attr in code.co_names:
                        member = getattr(target, attr, None)
                        if member is not None:
                            kinds |= _kinds_of_object(member)
                            if isinstance(member, types.FunctionType | type) and _in_test_tree(member):
                                kinds |= _kinds_of_code(member)
    _KINDS_CACHE[obj] = kinds
    return kinds


def _fixture_functions(item: pytest.Function) -> Iterator[Callable[..., object]]:
    name2defs = item._fixtureinfo.name2fixturedefs
    for name in item.fixturenames:
        for fixturedef in name2defs.get(name, ()):
            yield fixturedef.func


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (the large configurations of the property tests)",
    )


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects by -m
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--slow"):
        skip_slow = pytest.mark.skip(reason="a large configuration: run it with pytest --slow")
        for item in items:
            if item.get_closest_marker("slow") is not None:
                item.add_marker(skip_slow)
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        kinds: set[str] = set()
        for func in (item.function, *_fixture_functions(item)):
            if _in_test_tree(func):
                kinds |= _kinds_of_code(func)
        if "postgres_server" in item.fixturenames:
            kinds.add("postgres")
        for kind in sorted(kinds):
            if item.get_closest_marker(kind) is None:
                item.add_marker(kind)


_RUNNING: list[pytest.Item] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _RUNNING[:] = [item]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """The marker check: no PostgreSQL for a test that ``-m "not postgres"`` would select.

    Checked once the fixture is set up (failing before would leave pytest's fixture cache
    half-done for the next test).
    """
    result = yield
    if fixturedef.argname != "postgres_server" and "postgres_server" not in fixturedef.argnames:
        return result
    if _RUNNING and _RUNNING[0].get_closest_marker("postgres") is None:
        pytest.fail(
            f"{_RUNNING[0].nodeid} sets up {fixturedef.argname!r} (PostgreSQL) but is not marked postgres: "
            "mark the PostgreSQL parameter, pytest.param(..., marks=pytest.mark.postgres)",
            pytrace=False,
        )
    return result


# -- PostgreSQL ---------------------------------------------------------------------------

_PG_NOTES: list[str] = []


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg_support.Server]:
    """The session's PostgreSQL server: the configured one, the machine's, or a throwaway one.

    See ``pg_support``; skips when there is none and no binaries to start one (fails if
    ``CREDIT_LEDGER_TEST_POSTGRES_URL`` is set and unreachable).
    """
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(pg_support.session_server())
        except pg_support.PostgresUnavailable as exc:
            if exc.required:
                pytest.fail(str(exc), pytrace=False)
            pytest.skip(str(exc))
        if server.origin == "throwaway":
            _PG_NOTES.append(f"PostgreSQL tests ran on a throwaway server at {server.url} ({server.reason})")
        yield server


@pytest.fixture
def postgres_url(postgres_server: pg_support.Server) -> Iterator[sa.URL]:
    """A URL to a fresh, empty schema of the session's PostgreSQL server, dropped after the test."""
    with pg_support.fresh_schema(postgres_server) as url:
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for note in _PG_NOTES:
        terminalreporter.write_line(note)


# -- the chain ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """A real anvil process for the whole session, on a free port, state in a temp dir."""
    with running_node(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture(scope="session")
def chain(anvil_node: LocalNode) -> Chain:
    return Chain.connect(anvil_node.url, expected_chain_id=anvil_node.chain_id)


@pytest.fixture(scope="session")
def accounts() -> RoleAccounts:
    """The development account of each role (admin, oracle, model admin, ...)."""
    return RoleAccounts.development()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ledger_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """An anvil node of its own for ledger_env (the contract tests move the shared one's clock)."""
    with running_node(tmp_path_factory.mktemp("ledger-anvil")) as node:
        yield node


@pytest.fixture(scope="session")
def ledger_env(ledger_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    """Contracts deployed, scoring model and policy active, two weekly rounds of 200 merchants anchored."""
    env = make_ledger_env(tmp_path_factory.mktemp("ledger-home"), ledger_node.url)
    yield env
    env.oracle.close()


@pytest.fixture(scope="session")
def manual_mining_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    """A ledger like ``ledger_env`` (two rounds, five bound merchants) on an anvil node of its own.

    For the tests that stop the node mining (``ledger_support.mining_paused``) to see what
    waits for a block; nothing else shares its node.
    """
    with running_node(tmp_path_factory.mktemp("manual-mining-anvil")) as node:
        env = make_ledger_env(tmp_path_factory.mktemp("manual-mining-home"), node.url, merchants=50)
        yield env
        env.oracle.close()
