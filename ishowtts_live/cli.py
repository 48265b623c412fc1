"""``ishowtts-live`` — the command line.

Exit statuses: 0 ok, 1 runtime failure, 2 usage, 78 configuration error.
Torch is imported only by the commands that synthesize here (run and say
with the local backend, bench, serve).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from ishowtts_live import __version__
from ishowtts_live.bench.cli import add_parser as add_bench_parser
from ishowtts_live.control.cli import add_parser as add_ctl_parser
from ishowtts_live.errors import EXIT_FAILURE, EXIT_OK, ConfigError, IshowttsError, UsageError

PROG = "ishowtts-live"
SAY_WAIT_S = 3.0  # say with a Triton backend: how long an absent server is waited for


def _config_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", "-c", metavar="FILE",
                        help="config file (default: ./config/ishowtts.toml, then ~/.config/ishowtts-live/, "
                             "then /etc/ishowtts-live/; or $ISHOWTTS_LIVE_CONFIG)")
    parent.add_argument("--set", "-o", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key (repeatable), e.g. -o engine.nfe_step=8")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Reads livestream chat aloud in a cloned voice (F5-TTS).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = _config_parent()

    run = sub.add_parser("run", parents=[parent], help="the daemon: read chat aloud (systemd runs this)")
    run.set_defaults(func=cmd_run)

    listen = sub.add_parser("listen", parents=[parent],
                            help="show chat as the daemon sees it (verdicts, spoken text); no synthesis")
    listen.add_argument("platform", choices=["replay", "bilibili", "twitch", "youtube"])
    listen.add_argument("target", metavar="FILE|ROOM|CHANNEL|VIDEO_ID",
                        help="replay: a JSON-lines chat log; bilibili: room id; twitch: channel; youtube: video id")
    listen.add_argument("--url", help="connect to this endpoint instead of the platform's "
                                      "(bilibili ws://…/sub, twitch ws://…, youtube http://…)")
    listen.add_argument("--json", action="store_true", help="one JSON object per event")
    listen.add_argument("--speed", type=float, default=0.0,
                        help="replay pace (1 = as recorded; default 0 = as fast as possible)")
    listen.add_argument("--limit", type=int, help="stop after this many events")
    listen.set_defaults(func=cmd_listen)

    say = sub.add_parser("say", parents=[parent], help="speak one text (to a WAV file or a sound device)")
    say.add_argument("text", help="what to say ('-' reads standard input)")
    say.add_argument("--voice", "-v", help="voice id (default: voices.default)")
    say.add_argument("--nfe", type=int, metavar="N", help="flow steps (default: engine.nfe_step)")
    say.add_argument("--speed", type=float, help="speaking rate factor")
    say.add_argument("--seed", type=int, help="noise seed, for repeatable output")
    where = say.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE.wav", help="write a 24 kHz WAV file")
    where.add_argument("--device", metavar="NAME", help="play on the output device whose name contains NAME")
    say.set_defaults(func=cmd_say)

    serve = sub.add_parser("serve", parents=[parent],
                           help="this engine as the Triton model f5_tts for daemons with engine.backend = \"triton\" "
                                "(gRPC, HTTP and metrics ports: [serve])")
    serve.set_defaults(func=cmd_serve)

    doctor = sub.add_parser("doctor", parents=[parent], help="check GPU, torch, weights, voices, audio and config")
    doctor.set_defaults(func=cmd_doctor)

    add_ctl_parser(sub, parent)
    add_bench_parser(sub, parent)

    config = sub.add_parser("config", help="check or show the configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", parents=[parent], help="validate; list every problem (exit 78 if any)")
    check.set_defaults(func=cmd_config_check)
    show = config_sub.add_parser("show", parents=[parent], help="print the effective configuration, secrets masked")
    show.set_defaults(func=cmd_config_show)
    return parser


# ---------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from ishowtts_live import logs
    from ishowtts_live.app import load_checked, run_daemon

    loaded = load_checked(args.config, args.overrides)
    logs.configure(loaded.config.log.level, loaded.config.log.format)
    _model_files(loaded)
    return asyncio.run(run_daemon(loaded))


def _model_files(loaded) -> None:
    """Hub files cached or downloaded before torch is imported: without a
    network the start ends here, with one line, in about a second. A Triton
    backend needs none: the server holds the model."""
    if loaded.config.engine.backend == "triton":
        return
    from ishowtts_live.synth.hub import fetch_all

    fetch_all(loaded.config.engine)


def cmd_serve(args: argparse.Namespace) -> int:
    from ishowtts_live import logs
    from ishowtts_live.app import load_checked
    from ishowtts_live.synth.serve import check_platform, run_server, serving_config

    loaded = load_checked(args.config, args.overrides)
    logs.configure(loaded.config.log.level, loaded.config.log.format)
    check_platform()  # before the model loads: one line, at once
    _model_files(serving_config(loaded))
    return run_server(loaded)


def cmd_listen(args: argparse.Namespace) -> int:
    from ishowtts_live import logs
    from ishowtts_live.app import load_checked
    from ishowtts_live.listen import listen
    from ishowtts_live.sources import load_factory

    loaded = load_checked(args.config, args.overrides)
    logs.configure(loaded.config.log.level, loaded.config.log.format)
    cfg = loaded.config.sources
    factory = load_factory(args.platform)
    if args.platform == "replay":
        if not Path(args.target).is_file():
            raise UsageError(f"chat log not found: {args.target}")
        source = factory(cfg.replay, path=args.target, speed=args.speed, loop=False)
    elif args.platform == "bilibili":
        source = factory(cfg.bilibili, url=args.url, room=args.target)  # a number or a live.bilibili.com address
    elif args.platform == "twitch":
        source = factory(cfg.twitch, url=args.url, channel=args.target)
    else:
        source = factory(cfg.youtube, url=args.url, video_id=args.target)
    return asyncio.run(_interruptible(listen(loaded, source, as_json=args.json, limit=args.limit)))


async def _interruptible(coro) -> int:
    """Run until done, or until SIGINT/SIGTERM (then exit 0: stopping listen is normal)."""
    import signal

    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    """Every check ``run`` makes before it loads the model."""
    from ishowtts_live.app import load_checked

    loaded = load_checked(args.config, args.overrides)
    print(f"{loaded.path or 'built-in defaults'}: ok")
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    from ishowtts_live.config import load_config, show_config

    print(show_config(load_config(args.config, args.overrides)), end="")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from ishowtts_live.doctor import run_doctor

    return run_doctor(args.config, args.overrides)


def cmd_say(args: argparse.Namespace) -> int:
    from ishowtts_live.app import load_checked

    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise UsageError("nothing to say: the text is empty")
    if args.nfe is not None and not 1 <= args.nfe <= 64:
        raise UsageError("--nfe must be between 1 and 64")
    if args.speed is not None and not 0.3 <= args.speed <= 3.0:
        raise UsageError("--speed must be between 0.3 and 3.0")
    loaded = load_checked(args.config, args.overrides)
    from ishowtts_live import logs

    logs.configure(loaded.config.log.level, loaded.config.log.format)
    make_sink, target = _say_output(loaded, args)  # a typo in --voice or --device is reported before the model loads
    _model_files(loaded)
    return asyncio.run(_say(loaded, text.strip(), args, make_sink, target))


def _say_output(loaded, args: argparse.Namespace):
    """The voice and the output checked before anything slow: (sink for a
    sample rate, what it is)."""
    from ishowtts_live.synth import voices

    if args.voice:
        voices.read_reference(voices.find_voice(loaded.config.voices.dir, args.voice))
    if args.out:
        from ishowtts_live.sinks.wav import WavSink

        if not Path(args.out).parent.is_dir():
            raise UsageError(f"--out: folder not found: {Path(args.out).parent}")
        return (lambda rate: WavSink(args.out, rate)), args.out
    from ishowtts_live.sinks.device import SoundDeviceSink, find_device

    audio = loaded.config.audio
    name = args.device if args.device is not None else audio.device
    find_device(name)
    return (lambda rate: SoundDeviceSink(name, rate, latency=audio.latency_ms / 1000,
                                         device_rate=audio.sample_rate)), f"device {name or 'default'!r}"


async def _say(loaded, text: str, args: argparse.Namespace, make_sink, target: str) -> int:
    from ishowtts_live.app import make_synthesizer
    from ishowtts_live.synth.protocol import SynthRequest

    synth = make_synthesizer(loaded)
    t0 = time.perf_counter()
    engine = loaded.config.engine
    remote = engine.backend == "triton"
    _status(f"connecting to {engine.triton.url} …" if remote else f"loading the model ({engine.model}) …")
    await synth.start(warmup=False)
    try:
        await synth.wait_ready(timeout=SAY_WAIT_S)
        _status(f"{'connected' if remote else 'loaded'} in {time.perf_counter() - t0:.1f} s; speaking …")
        sink = make_sink(synth.sample_rate)
        await sink.open()
        try:
            stream = synth.stream(SynthRequest(text=text, voice=args.voice, nfe_step=args.nfe, speed=args.speed,
                                               seed=args.seed))
            async for chunk in stream:
                await sink.write(chunk.pcm)
            await sink.drain()
        finally:
            await sink.close()
    finally:
        await synth.stop()
    stats = stream.stats
    first = (stats.first_block - stats.submitted) if stats.first_block else float("nan")
    note = " (cut at engine.max_audio_s)" if stats.truncated else ""
    _status(f"{target}: {stats.audio_seconds:.2f} s of audio{note}, synthesized in {stats.synth_seconds:.2f} s "
            f"(RTF {stats.rtf or 0:.3f}, NFE {stats.nfe_step}), first audio after {first * 1000:.0f} ms")
    return EXIT_OK


def _status(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        return exc.exit_code
    except IshowttsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
