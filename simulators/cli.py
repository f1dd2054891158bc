"""`smscore sim`: start the simulator; `send`, `ussd`, `run-scenario` and `load` talk to a running one."""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported when a command runs, so `smscore sim --help` stays quick
    from twisted.internet.defer import Deferred

    from simulators.config import SimulatorConfig
    from simulators.load import LoadTally
    from simulators.targets import ClientReactor, HttpTarget

    Work = Callable[[ClientReactor, HttpTarget], Deferred]

DEFAULT_HTTP = "http://127.0.0.1:8775"
# Bad config or flags, or a scenario that failed: one line on stderr (as the daemon's CLI does).
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1  # `load`: the run did not pass (a script can tell)


def _fail(message: str) -> None:
    click.echo(f"smscore sim: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _esme_flag(text: str) -> dict[str, Any]:
    system_id, sep, password = text.partition(":")
    if not sep or not system_id:
        raise click.BadParameter(f"{text!r} is not SYSTEM_ID:PASSWORD", param_hint="--esme")
    return {"system_id": system_id, "password": password}


def _fault_flag(text: str) -> tuple[str, dict[str, Any]]:
    """'throttle' or 'throttle:every_n=5,status=ESME_RMSGQFUL' -> (name, params)."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} in {text!r} is not KEY=VALUE", param_hint="--fault")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return name, params


def _outbind_flag(text: str) -> dict[str, Any]:
    """'PASSWORD@HOST:PORT' (or 'HOST:PORT': no password) -> an [[outbind]] table."""
    password, sep, address = text.rpartition("@")
    return {"address": address, "password": password} if sep else {"address": text}


def build_cli_config(
    config_file: str | None,
    overrides: dict[str, Any],
    esmes: tuple[str, ...],
    faults: tuple[str, ...],
) -> "SimulatorConfig":
    from simulators.config import build_config, load_config

    overrides = {key: value for key, value in overrides.items() if value is not None}
    if esmes:
        overrides["account"] = [_esme_flag(text) for text in esmes]
    if faults:
        overrides["faults"] = dict(_fault_flag(text) for text in faults)
    if config_file is not None:
        return load_config(config_file, overrides)
    return build_config(overrides, "command line")


@click.group(invoke_without_command=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--listen", help="SMPP HOST:PORT (default 127.0.0.1:2775; port 0 = any).")
@click.option("--http", help="Control API HOST:PORT (default 127.0.0.1:8775).")
@click.option("--esme", "esmes", multiple=True, help="Account SYSTEM_ID:PASSWORD (repeatable).")
@click.option("--seed", type=int, help="Seed of every random choice (replayable runs).")
@click.option("--dlr-delay", "dlr_delay_s", type=float, help="Seconds until a receipt.")
@click.option("--mo-concat", type=click.Choice(["udh8", "udh16", "sar", "payload"]))
@click.option("--window", "window_size", type=int, help="Outstanding deliver_sm per bind.")
@click.option("--fault", "faults", multiple=True, help="NAME[:KEY=VALUE,...] (repeatable).")
@click.option("--exit-after", "exit_after_s", type=float, help="Stop by itself after S seconds.")
@click.option("--tls-cert", "tls_cert_file", help="Listen with TLS: certificate PEM file.")
@click.option("--tls-key", "tls_key_file", help="Listen with TLS: private key PEM file.")
@click.option(
    "--allow", "allow", multiple=True, help="Network ESMEs may connect from (repeatable)."
)
@click.option(
    "--outbind", "outbinds", multiple=True,
    help="Outbind to an ESME listening at [PASSWORD@]HOST:PORT (repeatable).",
)  # fmt: skip
@click.pass_context
def sim(ctx: click.Context, config_file: str | None, esmes: tuple[str, ...], faults: tuple[str, ...],
        dlr_delay_s: float | None, exit_after_s: float | None, allow: tuple[str, ...],
        outbinds: tuple[str, ...], **flags: Any) -> None:  # fmt: skip
    """The bundled SMSC simulator (run without a subcommand to start it)."""
    if ctx.invoked_subcommand is not None:
        return
    from simulators.config import ConfigError  # here: `sim send` and the rest need none of it

    overrides: dict[str, Any] = dict(flags)
    if allow:
        overrides["allow"] = list(allow)
    if outbinds:
        overrides["outbind"] = [_outbind_flag(text) for text in outbinds]
    if dlr_delay_s is not None:
        overrides["dlr"] = {"delay_s": dlr_delay_s}
    try:
        config = build_cli_config(config_file, overrides, esmes, faults)
    except (ConfigError, click.BadParameter) as exc:
        _fail(exc.format_message() if isinstance(exc, click.BadParameter) else str(exc))
    _serve(config, exit_after_s)


def _serve(config: "SimulatorConfig", exit_after_s: float | None) -> None:
    from twisted.internet import reactor
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from simulators.simulator import Simulator, StartError
    from smscore.process_exit import exit_now

    observer = FilteringLogObserver(
        textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(LogLevel.info)]
    )
    simulator = Simulator(reactor, config)
    try:
        addresses = simulator.start_listening()
    except StartError as exc:
        _fail(str(exc))
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    click.echo(f"SMPP listening on {addresses.smpp[0]}:{addresses.smpp[1]}")
    if addresses.http is not None:
        click.echo(f"HTTP control API on http://{addresses.http[0]}:{addresses.http[1]}")
    sys.stdout.flush()
    if exit_after_s is not None:
        reactor.callLater(exit_after_s, reactor.stop)
    reactor.run()
    exit_now(0)  # stopped: the interpreter's teardown would only keep the caller waiting


@sim.command()
@click.argument("source", metavar="FROM")
@click.argument("destination", metavar="TO")
@click.argument("text")
@click.option("--api", default=DEFAULT_HTTP, show_default=True, help="The simulator's control API.")
@click.option("--wait/--no-wait", default=False, help="Wait until an ESME acknowledged it.")
def send(source: str, destination: str, text: str, api: str, wait: bool) -> None:
    """A subscriber FROM sends TEXT to TO (through a running simulator)."""
    result = _run(lambda reactor, target: target.send_mo(source, destination, text, wait), api)
    click.echo(json.dumps(result))


@sim.command()
@click.argument("msisdn")
@click.argument("code")
@click.option("--answers", help="Answer the screens from this list (comma-separated), no prompt.")
@click.option("--system-id", help="The account to dial through (default: the first with USSD).")
@click.option("--api", default=DEFAULT_HTTP, show_default=True, help="The simulator's control API.")
def ussd(msisdn: str, code: str, answers: str | None, system_id: str | None, api: str) -> None:
    """Subscriber MSISDN dials CODE (e.g. '*334#') and walks the screens.

    Exit 0 when the dialogue ends with the application's last screen, 2 when it ends otherwise,
    130 after Ctrl-C (the session is aborted first)."""
    from simulators.ussd_cli import EXIT_INTERRUPTED, UssdClient, UssdClientError, run_dialogue

    choices = None if answers is None else answers.split(",")
    try:
        code_ = run_dialogue(UssdClient(api, system_id), msisdn, code, choices, click.echo)
    except UssdClientError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:  # before the dial was answered: no session to hang up
        code_ = EXIT_INTERRUPTED
    sys.exit(code_)


class _ScenarioCommand(click.Command):
    """Its help is the scenario format's, read from simulators.scenario only when shown."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from simulators.scenario import FORMAT_HELP

        self.help = f"{self.help}\n\n{FORMAT_HELP}"
        super().format_help_text(ctx, formatter)


@sim.command(
    "run-scenario",
    cls=_ScenarioCommand,
    help="Run a TOML scenario; exit 0, or print which step failed and why (exit 2).",
    short_help="Run a TOML scenario against a running simulator.",
)
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option("--api", default=DEFAULT_HTTP, show_default=True, help="The simulator's control API.")
def run_scenario_command(scenario_file: str, api: str) -> None:
    from simulators.config import ConfigError
    from simulators.scenario import load_scenario, run_scenario

    try:
        scenario = load_scenario(Path(scenario_file))
    except ConfigError as exc:
        _fail(str(exc))
    _run(lambda reactor, target: run_scenario(reactor, target, scenario), api)
    click.echo(f"scenario {scenario.name!r}: {len(scenario.step)} steps passed")


@sim.command()
@click.option(
    "--subscribers", type=click.IntRange(min=1, max=100_000_000), default=100, show_default=True
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="MOs per second.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds.",
)
@click.option(
    "--to", "destination", default="3456", show_default=True, help="Short code MOs go to."
)
@click.option("--text", default="BAL", show_default=True)
@click.option(
    "--reply-wait-s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="After the last MO, wait at most this long for the replies still owed.",
)
@click.option("--api", default=DEFAULT_HTTP, show_default=True, help="The simulator's control API.")
def load(
    subscribers: int,
    rate: float,
    duration: float,
    destination: str,
    text: str,
    reply_wait_s: float,
    api: str,
) -> None:
    """Drive MO traffic at a steady rate; progress on stderr, JSON summary on stdout.

    Exit 0 when the run passed (every MO acknowledged and answered once: missing_replies and
    extra_replies are 0), 1 when it did not (what fell short on stderr), 2 on bad input.
    """
    from simulators.load import LoadGenerator, LoadPlan, shortfall

    plan = LoadPlan(subscribers, rate, duration, destination, text, drain_s=reply_wait_s)
    with click.progressbar(length=plan.total, label="MOs", file=sys.stderr) as bar:
        shown = [0]

        def progress(tally: "LoadTally") -> None:
            bar.update(tally.sent - shown[0])
            shown[0] = tally.sent

        summary = _run(
            lambda reactor, target: LoadGenerator(reactor, target, plan, progress).run(), api
        )
    click.echo(json.dumps(summary))
    short = shortfall(summary)
    if short:
        click.echo(f"smscore sim load: failed: {', '.join(short)}", err=True)
        sys.exit(EXIT_RUN_FAILED)


def _run(work: "Work", api: str) -> Any:
    """Run `work(reactor, HttpTarget)` on the global reactor; one-line error and exit 2 on failure."""
    from twisted.internet import reactor

    from simulators.targets import HttpTarget

    outcome: dict[str, Any] = {}

    def start() -> None:
        done = work(reactor, HttpTarget(reactor, api))
        done.addCallbacks(
            lambda value: outcome.setdefault("value", value),
            lambda failure: outcome.setdefault("error", failure.getErrorMessage()),
        )
        done.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if "error" in outcome:
        _fail(outcome["error"])
    return outcome.get("value")
