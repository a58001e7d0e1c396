"""`deconnexion gateway` and `deconnexion worker` configured entirely by environment variables
(flags win), the README's one table of them, `gateway --help` without the `[asgi]` extra, and
`deconnexion simulate` outside a checkout."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deconnexion.cli import gateway as gateway_cli
from deconnexion.cli import main
from deconnexion.cli import simulate as simulate_cli
from deconnexion.cli import worker as worker_cli
from deconnexion.cli.env import env_table
from deconnexion.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_gateway_takes_every_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DECONNEXION_UPSTREAM": "http://127.0.0.1:8080",
        "DECONNEXION_STORE": "sqlite:///held.db",
        "DECONNEXION_ROUTES": "routes.toml",
        "DECONNEXION_POLICY": "policy.toml",
        "DECONNEXION_PORT": "8040",
        "DECONNEXION_NO_WORKER": "yes",
        "DECONNEXION_HEARTBEAT_FILE": "/run/deconnexion/beat.json",
        "DECONNEXION_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    args = gateway_cli.build_parser().parse_args([])
    assert (args.upstream, args.store, args.routes, args.policy) == (
        "http://127.0.0.1:8080",
        "sqlite:///held.db",
        "routes.toml",
        "policy.toml",
    )
    assert (args.port, args.no_worker, args.log_level) == (8040, True, "warning")
    assert args.heartbeat_file == "/run/deconnexion/beat.json"


def test_a_gateway_flag_wins_over_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECONNEXION_UPSTREAM", "http://from-env:8080")
    monkeypatch.setenv("DECONNEXION_PORT", "8040")
    args = gateway_cli.build_parser().parse_args(
        ["--upstream", "http://from-flag:9090", "--store", "memory://", "--routes", "r.toml"]
    )
    assert (args.upstream, args.port) == ("http://from-flag:9090", 8040)


def test_gateway_without_upstream_anywhere_names_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DECONNEXION_UPSTREAM", raising=False)
    with pytest.raises(SystemExit) as info:
        gateway_cli.build_parser().parse_args(["--store", "memory://", "--routes", "r.toml"])
    assert info.value.code == 2
    assert "--upstream" in capsys.readouterr().err


def test_worker_takes_every_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DECONNEXION_STORE": "sqlite:///held.db",
        "DECONNEXION_DELIVER": "webhook:https://ent.example.fr/hook",
        "DECONNEXION_MAX_RATE": "200",
        "DECONNEXION_SPREAD": "15m",
        "DECONNEXION_DIGEST": "true",
        "DECONNEXION_BATCH_SIZE": "250",
        "DECONNEXION_HEADER": "Authorization: Bearer abc\nX-Tenant: 0750001A\n",
    }.items():
        monkeypatch.setenv(name, value)
    args = worker_cli.build_parser().parse_args([])
    assert (args.store, args.deliver) == (
        "sqlite:///held.db",
        "webhook:https://ent.example.fr/hook",
    )
    assert (args.max_rate, args.spread, args.digest, args.batch_size) == (200.0, "15m", True, 250)
    assert args.header == [("Authorization", "Bearer abc"), ("X-Tenant", "0750001A")]
    assert worker_cli.build_parser().parse_args(["--batch-size", "10"]).batch_size == 10


def test_an_on_off_variable_that_is_neither_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECONNEXION_ONCE", "peut-être")
    with pytest.raises(InvalidInputError, match=r"DECONNEXION_ONCE: 'peut-être' is not on/off"):
        worker_cli.build_parser()


def test_worker_releases_with_store_and_deliverer_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("DECONNEXION_STORE", f"sqlite:///{tmp_path}/held.db")
    monkeypatch.setenv("DECONNEXION_DELIVER", f"file:{out}")
    monkeypatch.setenv("DECONNEXION_ONCE", "1")
    beat = tmp_path / "beat.json"
    monkeypatch.setenv("DECONNEXION_HEARTBEAT_FILE", str(beat))
    assert worker_cli.worker_main([]) == 0
    assert '"stopped": true' in beat.read_text()  # --once: it beat, then said it stopped


def _readme_env_rows() -> dict[str, tuple[str, bool, bool]]:
    rows = re.findall(
        r"^\| `(DECONNEXION_\w+)` \| ([^|]*) \|\s*(✓?)\s*\|\s*(✓?)\s*\|", README, flags=re.MULTILINE
    )
    return {name: (flag.strip(), gw == "✓", wk == "✓") for name, flag, gw, wk in rows}


def test_readme_lists_every_environment_variable_in_one_table() -> None:
    rows = _readme_env_rows()
    gateway = dict(env_table(gateway_cli.build_parser()))
    worker = dict(env_table(worker_cli.build_parser()))
    documented = {name for name, (flag, _, _) in rows.items() if re.fullmatch(r"`--[\w-]+`", flag)}
    assert documented == set(gateway) | set(worker)
    for name, (flag, in_gateway, in_worker) in rows.items():
        if name in documented:
            assert flag == f"`{gateway.get(name) or worker.get(name)}`", name
            assert (in_gateway, in_worker) == (name in gateway, name in worker), name
    assert rows["DECONNEXION_SECRET"][1]  # the secret itself, read by the gateway
    assert len(re.findall(r"^\| variable \| flag \|", README, flags=re.MULTILINE)) == 1


def test_systemd_environment_file_sets_only_documented_variables() -> None:
    env_file = ROOT / "examples" / "systemd" / "deconnexion.env"
    names = re.findall(r"^(DECONNEXION_\w+)=", env_file.read_text(), flags=re.MULTILINE)
    assert names and set(names) <= set(_readme_env_rows())
    for unit in ("deconnexion-gateway.service", "deconnexion-worker.service"):
        text = (ROOT / "examples" / "systemd" / unit).read_text()
        assert "EnvironmentFile=/etc/deconnexion/deconnexion.env" in text
        assert re.search(r"^ExecStart=\S+/deconnexion (gateway|worker)$", text, re.MULTILINE)


# Run with starlette, httpx, uvicorn and anyio unimportable, as without the [asgi] extra.
WITHOUT_ASGI = textwrap.dedent(
    """
    import sys
    for name in ("starlette", "httpx", "uvicorn", "anyio"):
        sys.modules[name] = None
    from deconnexion.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _without_asgi(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_ASGI, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_gateway_help_works_without_the_asgi_extra() -> None:
    done = _without_asgi("gateway", "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "--upstream URL" in text and "pip install 'deconnexion[asgi]'" in text


def test_running_the_gateway_without_the_asgi_extra_says_what_to_install() -> None:
    done = _without_asgi(
        "gateway", "--upstream", "http://127.0.0.1:9", "--store", "memory://", "--routes", "r.toml"
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "deconnexion: error: uvicorn is not installed: pip install 'deconnexion[asgi]'"
    ]


def test_simulate_runs_from_this_checkout() -> None:
    assert simulate_cli.checkout_root() == ROOT
    done = subprocess.run(
        [sys.executable, "-m", "deconnexion", "simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",  # not the checkout: `examples` is found next to the package
    )
    assert done.returncode == 0, done.stderr
    assert "--zone" in done.stdout


def test_simulate_outside_a_checkout_says_in_one_line_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(simulate_cli, "checkout_root", lambda: None)
    assert main(["simulate"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"deconnexion: error: {simulate_cli.CHECKOUT_HINT}"]
    assert "python -m examples.simulator" in err[0]
