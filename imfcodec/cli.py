"""The `imfcodec` command: encode, decode, info, train, bench. Thin: parse, call, report."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .bench.protocol import PROTOCOL_FRAMES, PROTOCOL_SIZE
from .cli_common import DEBUG_ENV, console, device_named, encode_summary_table, errors, frame_rate, progress, say
from .codec.audio import DEFAULT_AUDIO_KBPS
from .errors import ImfcodecError
from .rate import DEFAULT_BITRATE_KBPS, DEFAULT_TOKEN_BITRATE_KBPS

app = typer.Typer(add_completion=False, no_args_is_help=True, help="imfcodec: a neural video codec for talking heads (IMF).")


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help=f"Show the traceback of unexpected errors (or set {DEBUG_ENV}=1)."),
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


HYBRID_PANEL = "Hybrid mode (the default)"
TOKEN_PANEL = "Token mode (--base-size 0)"


@app.command()
def encode(
    input: Path = typer.Argument(..., help="Any video ffmpeg can read, a folder of images or a pattern such as frames/%05d.png."),
    output: Path = typer.Argument(..., help="The .imf file to write."),
    model: Optional[str] = typer.Option(
        None, help="Shipped model name or .safetensors path. \\[default: the shipped hybrid model; with --base-size 0 the token model]"
    ),
    bitrate: Optional[float] = typer.Option(
        None,
        help=f"Video kbps to land on (audio apart). Hybrid: each group's CRF is chosen for it \\[default: {DEFAULT_BITRATE_KBPS:g} unless --base-crf]; "
        f"tokens: the token step and the keyframes' count and quality \\[default: {DEFAULT_TOKEN_BITRATE_KBPS:g} unless --quality].",
    ),
    base_size: Optional[int] = typer.Option(
        None,
        help="Side of the base layer: 64, 96 or 128 (fixes it; the rate picks the rest); 0: the token mode. \\[default: chosen by --bitrate]",
        rich_help_panel=HYBRID_PANEL,
    ),
    base_step: Optional[int] = typer.Option(
        None,
        help="n: a base picture every n-th frame (1..8), the others blended. \\[default: chosen by --bitrate; 1 with --base-crf]",
        rich_help_panel=HYBRID_PANEL,
    ),
    base_crf: Optional[int] = typer.Option(
        None,
        help="Constant quality instead of a rate: SVT-AV1 CRF of the base layer (1..63); needs --base-size.",
        rich_help_panel=HYBRID_PANEL,
    ),
    low_delay: bool = typer.Option(
        False, "--low-delay", help="A base layer without B-frames, for streaming.", rich_help_panel=HYBRID_PANEL
    ),
    keyframe_codec: Optional[str] = typer.Option(
        None,
        help="none: groups without a keyframe picture; av1, hevc or webp: one per group. \\[default: none; av1 in the token mode]",
        rich_help_panel=HYBRID_PANEL,
    ),
    quality: Optional[int] = typer.Option(
        None,
        help="1 (smallest) .. 8 (best): constant quality, token step and keyframe quality, no rate; in the hybrid mode the "
        "keyframe picture's (needs --keyframe-codec). \\[default: chosen by --bitrate; 3 in the hybrid]",
        rich_help_panel=TOKEN_PANEL,
    ),
    refresh_psnr: Optional[float] = typer.Option(
        None,
        help="New keyframe where a reconstructed frame falls below this PSNR (dB), when the budget affords one; 0 disables. "
        "\\[default: 20]",
        rich_help_panel=TOKEN_PANEL,
    ),
    max_keyframe_interval: int = typer.Option(250, min=1, help="Longest group, frames."),
    crop: str = typer.Option("center", help="center: largest centred square; pad: letterbox to a square."),
    audio_bitrate: Optional[int] = typer.Option(
        None, min=6, max=256, help=f"Opus bitrate for the audio, kbps (--bitrate counts the video only). \\[default: {DEFAULT_AUDIO_KBPS}]"
    ),
    no_audio: bool = typer.Option(False, "--no-audio", help="Drop the audio."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    frames: Optional[int] = typer.Option(None, min=1, help="Encode only the first N frames."),
    fps: str = typer.Option("25", help="Frame rate of an image-sequence input (e.g. 30000/1001); videos keep their own."),
    no_psnr: bool = typer.Option(
        False,
        "--no-psnr",
        help="Report no in-loop PSNR: the hybrid encoder then never runs the network (about twice as fast); "
        "the token mode needs its decode and refuses this.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Encode a video into an .imf file: the hybrid mode at 4 kbps unless asked otherwise."""
    with errors(output):
        from .codec.encoder import EncodeOptions, encode_video
        from .codec.options import is_hybrid
        from .model.weights import DEFAULT_MODEL, DEFAULT_TOKEN_MODEL, load_weights, resolve_model

        if output.suffix.lower() != ".imf":
            raise ImfcodecError(f"{output}: the output name must end in .imf")
        if audio_bitrate is not None and no_audio:
            raise ImfcodecError("--audio-bitrate and --no-audio: there is no audio to give a rate to; give one of them")
        loaded = load_weights(resolve_model(model or (DEFAULT_TOKEN_MODEL if base_size == 0 else DEFAULT_MODEL)), device_named(device))
        options = EncodeOptions(
            quality=quality,
            max_keyframe_interval=max_keyframe_interval,
            refresh_psnr=refresh_psnr,
            crop=crop,
            audio=not no_audio,
            audio_bitrate_kbps=DEFAULT_AUDIO_KBPS if audio_bitrate is None else audio_bitrate,
            max_frames=frames,
            sequence_fps=frame_rate(fps),
            base_size=base_size,
            base_crf=base_crf,
            low_delay=low_delay,
            base_step=base_step,
            bitrate_kbps=bitrate,
            keyframe_codec=keyframe_codec,
            in_loop_psnr=not no_psnr,
        ).resolved(is_hybrid(loaded))
        with progress(quiet, "encode") as bar:
            task = bar.add_task("encode", total=None, fps="-")
            t0 = time.time()

            def report(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total, fps=f"{done / max(time.time() - t0, 1e-9):.1f}")

            summary = encode_video(input, output, loaded, options, report)

        if not quiet:
            console.print(encode_summary_table(output, summary, summary.keyframe_codec, loaded.model.config.size))


@app.command()
def decode(
    input: Path = typer.Argument(..., help="An .imf file."),
    output: Path = typer.Argument(..., help=".mp4 (H.264), .mkv (FFV1, lossless), .y4m, or a folder for PNGs."),
    model: Optional[str] = typer.Option(None, help="Model name or path (default: the shipped model the file names)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    start_frame: int = typer.Option(0, min=0, help="First frame to decode."),
    frames: Optional[int] = typer.Option(None, min=1, help="Number of frames to decode."),
    batch_size: Optional[int] = typer.Option(
        None, min=1, help="Frames per model batch. [default: 4 for a hybrid file, 16 for a token-mode one]"
    ),
    resilient: bool = typer.Option(False, help="Decode what can be decoded: skip damaged chunks, conceal their frames, report each."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Decode an .imf file to video or PNG frames."""
    with errors(output):
        from .codec.decoder import DecodeOptions, decode_file, read_imf
        from .model.weights import load_weights, model_for_file

        imf = read_imf(input, resilient=resilient)
        concealed: list[str] = []

        def damaged(message: str) -> None:
            console.print(f"[yellow]damaged:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)

        def conceal(message: str) -> None:
            concealed.append(message)
            damaged(message)

        for message in imf.damage:
            damaged(message)
        loaded = load_weights(model_for_file(imf.header["model_id"], model), device_named(device))
        t0 = time.time()
        with progress(quiet, "decode") as bar:
            task = bar.add_task("decode", total=None, fps="-")

            def report(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, fps=f"{done / max(time.time() - t0, 1e-9):.1f}")

            count = decode_file(
                input,
                output,
                loaded,
                DecodeOptions(start_frame, frames, batch_size),
                imf=imf,
                on_progress=report,
                conceal=conceal if resilient else None,
            )
        if not quiet:
            console.print(
                f"{output}: {count} frames in {time.time() - t0:.1f} s"
                + (f", {len(concealed)} damaged span(s) concealed" if concealed else "")
            )


@app.command()
def sample(
    output: Path = typer.Argument(Path("sample.mp4"), help="Where to write the clip (.mp4)."),
    synthetic: bool = typer.Option(False, help="ffmpeg's testsrc2 pattern with a tone instead of the real talking head."),
) -> None:
    """Write a sample clip: 5 s of a real talking head (shipped in the package), or --synthetic."""
    with errors(output):
        from .codec.sample import make_synthetic_sample, write_sample

        path = make_synthetic_sample(output) if synthetic else write_sample(output)
        console.print(f"{path}: {'synthetic test pattern, 4 s' if synthetic else 'a talking head, 5 s, 256², 25 fps'}")


@app.command()
def compare(
    source: Path = typer.Argument(..., help="The clip the .imf file was encoded from."),
    input: Path = typer.Argument(..., help="An .imf file."),
    output: Path = typer.Argument(..., help="The side-by-side video (.mp4, .mkv or .y4m)."),
    anchor: Optional[str] = typer.Option(
        None,
        help="own-layer (the file's own base layer, SVT-AV1, no network) | svtav1 | x265 | svtav1-lowres (96²): at imfcodec's "
        "rate. \\[default: own-layer for a hybrid file, svtav1 for tokens]",
    ),
    plot: Optional[Path] = typer.Option(None, help="Per-frame PSNR and VMAF plot (default: OUTPUT with .png)."),
    model: Optional[str] = typer.Option(None, help="Model name or path (default: the shipped model the file names)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Source | imfcodec | a conventional codec at the same rate, side by side, and a PSNR plot."""
    with errors(output):
        from .bench.compare import compare as run_compare
        from .codec.decoder import read_imf
        from .model.weights import load_weights, model_for_file

        loaded = load_weights(model_for_file(read_imf(input).header["model_id"], model))
        result = run_compare(source, input, output, loaded, anchor, plot, say=(lambda _m: None) if quiet else console.print)
        if not quiet:
            console.print(
                f"{output}: {result.frames} frames; imfcodec {result.imf_kbps:.2f} kbps {result.imf_psnr.mean():.2f} dB, "
                f"{result.anchor} (CRF {result.anchor_crf}) {result.anchor_kbps:.2f} kbps {result.anchor_psnr.mean():.2f} dB"
            )


@app.command()
def info(
    input: Path = typer.Argument(..., help="An .imf file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Describe an .imf file: header, groups and keyframes, bytes and kbps per part."""
    with errors():
        from imfcodec.bitstream.container import Reader

        from .codec.info import describe, group_rows

        d = describe(Reader(input).read_all())
        if as_json:
            print(json.dumps(d, indent=2))
            return
        table = Table(title=str(input), show_header=False)
        rows = dict(group_rows(d["group_starts"], d["keyframe_codec"]))
        for key, value in d.items():
            if value is None:
                continue  # a field the file's mode does not have
            if key in rows:
                value = rows[key]
            elif key == "group_starts":
                continue  # in the groups row
            elif isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            table.add_row(key, str(value))
        Console().print(table)


@app.command()
def train(
    data: Optional[Path] = typer.Option(None, help="Folder of training videos."),
    val: Optional[Path] = typer.Option(None, help="Folder of validation videos."),
    preset: Optional[str] = typer.Option(None, help="small | paper | tiny (default: the recipe's)."),
    config: str = typer.Option("small_cpu", help="Recipe name (training/recipes) or a JSON file of TrainConfig fields."),
    gpus: int = typer.Option(0, min=0, help="GPUs on this node: one worker each, NCCL."),
    workers: int = typer.Option(1, min=1, help="CPU workers when --gpus 0 (gloo)."),
    nnodes: int = typer.Option(1, min=1),
    node_rank: int = typer.Option(0, min=0),
    rdzv_endpoint: Optional[str] = typer.Option(None, help="HOST:PORT of the rendezvous, for several nodes."),
    amp: Optional[str] = typer.Option(None, help="bf16 | fp16 | off (default: bf16 where supported, else off)."),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Per worker."),
    steps: Optional[int] = typer.Option(None, min=1),
    out: Path = typer.Option(Path("runs/imf"), help="Run folder: checkpoints, logs, images."),
    resume: bool = typer.Option(False, help="Continue from the run folder's last checkpoint."),
    vgg_weights: Optional[str] = typer.Option(None, help="VGG19 weights (.safetensors, torchvision layout)."),
    logger: Optional[str] = typer.Option(None, help="tensorboard | wandb, when installed."),
    cache: Optional[Path] = typer.Option(None, help="Frame cache folder (default: RUN/cache)."),
    init_from: Optional[Path] = typer.Option(None, help="Start from a checkpoint (or a run's last one) with a fresh optimiser."),
) -> None:
    """Train an IMF model (AMP, DDP through torch's elastic launcher); `imfcodec export` freezes a run."""
    with errors(interrupted=escape(f"the checkpoints in {out} are kept; --resume continues from the last")):
        import dataclasses

        from imfcodec.model.config import preset as model_preset
        from imfcodec.training.config import load_recipe
        from imfcodec.training.launcher import LaunchSpec, launch
        from imfcodec.training.trainer import RunPaths

        if data is None:
            raise ImfcodecError("--data is required")
        cfg = load_recipe(config)
        if preset is not None:
            cfg = dataclasses.replace(cfg, model=model_preset(preset))
        overrides = dict(
            amp=amp,
            batch_size=batch_size,
            steps=steps,
            vgg_weights=vgg_weights,
            logger=logger,
            init_from=str(init_from.resolve()) if init_from else None,
        )
        cfg = cfg.with_overrides(**{k: v for k, v in overrides.items() if v is not None})
        launch(
            cfg,
            RunPaths(data=data, out=out, val=val, cache=cache),
            LaunchSpec(gpus, workers, nnodes, node_rank, rdzv_endpoint),
            resume=resume,
        )


@app.command("export")
def export_cmd(
    run_dir: Path = typer.Argument(..., help="A training run folder."),
    output: Path = typer.Argument(..., help="Where to write the .safetensors (plus .json and .md beside it)."),
    data: Optional[Path] = typer.Option(None, help="Training videos to fit the entropy tables on (default: the run's frame cache)."),
    val: Optional[Path] = typer.Option(None, help="Dev videos to report in the model card."),
    notes: str = typer.Option("", help="A sentence for the model card."),
) -> None:
    """Freeze a training run into inference weights with integer entropy tables and a model card."""
    with errors(output):
        from imfcodec.training.export import export_run

        model_id = export_run(run_dir, output, data=data, val=val, notes=notes)
        console.print(f"{output}: model id {model_id}")


@app.command()
def bench(
    videos: list[Path] = typer.Argument(..., help="Clips to measure."),
    model: Optional[str] = typer.Option(None, help="Model name or path. \\[default: the shipped hybrid model]"),
    points: str = typer.Option(
        "bitrate_kbps=3;bitrate_kbps=4;bitrate_kbps=5;bitrate_kbps=8",
        help="imfcodec operating points: 'k=v,k=v;...' of encode's options: bitrate_kbps, base_size, base_crf, base_step, "
        "low_delay, keyframe_codec (hybrid); quality, refresh_psnr (token mode, with a token --model); max_keyframe_interval.",
    ),
    anchors: str = typer.Option(
        "x264,x265,svtav1,svtav1-ra,svtav1-lowres-ra,vvenc",
        help="Comma-separated: x264, x265, svtav1, svtav1-ra (random access: -ra); svtav1-lowres, svtav1-lowres-ra (imfcodec's "
        "own base layer shapes without the network: 64/96/128² × every 1st-4th picture and any step --bitrate chose × every fill "
        "the codec can name: repeat, blend, motion); vvenc, vvenc-lowres (VVC, random access; needs .\\[bench]).",
    ),
    frames: int = typer.Option(PROTOCOL_FRAMES, min=1),
    size: int = typer.Option(PROTOCOL_SIZE, help="Side of the reference square; must be the model's when imfcodec points run."),
    out: Path = typer.Option(Path("bench-out")),
    device: str = typer.Option("auto"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Rate–distortion against x264, x265 and SVT-AV1 (the EVALUATION.md conditions)."""
    with errors():
        from .bench.run import run_bench

        run_bench(
            videos,
            model=model,
            points=points,
            anchors=anchors.split(","),
            frames=frames,
            size=size,
            out=out,
            device=device_named(device),
            quiet=quiet,
            console=console,
        )


def main() -> None:
    """The console entry point: every way the command line can fail ends in one line."""
    import signal

    def terminate(_signum: int, _frame: object) -> None:
        from imfcodec import atomic

        atomic.request_stop()  # should the interrupt be swallowed (in a finaliser), nothing is committed
        raise KeyboardInterrupt  # the same path as Ctrl-C: partial outputs are removed

    signal.signal(signal.SIGTERM, terminate)
    try:
        code = app(standalone_mode=False)
    except BrokenPipeError:  # `imfcodec info x | head`
        sys.exit(0)
    except Exception as exc:
        # click's exceptions (Typer vendors click in some releases, so matched by shape):
        # a bad option or value, which Typer would draw a box around.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            if type(exc).__name__ == "Abort":
                console.print("[red]interrupted[/red]")
                sys.exit(130)
            raise
        if not exc.format_message():  # no arguments at all: the help was the answer
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        name = getattr(ctx, "command_path", None) or "imfcodec"
        say(escape(f"{exc.format_message()} (see {name} --help)"))
        sys.exit(int(exc.exit_code))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
