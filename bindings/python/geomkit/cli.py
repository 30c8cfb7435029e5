"""geomkit: exact, fast geometry of neural-network weights and KV caches."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_report_parser(sub) -> argparse.ArgumentParser:
    """The ``report`` subcommand's options (other subcommands add their own parser)."""
    report = sub.add_parser(
        "report", help="the weight and embedding battery over a model checkpoint",
        description="The notebook's battery over a checkpoint, streamed one tensor at a time: the "
                    "embedding (norms, pairwise cosines, spectrum, PR, pentachoron and multi-scale CV, "
                    "a Gaussian baseline), spectrum statistics and sparsity of every matrix, per-role "
                    "aggregates, cross-layer cosines, the QK manifold by depth, MLP dead neurons, and "
                    "bone orientation of a key snapshot. Output: text (default), --json, --csv, --html.")
    report.add_argument("path", nargs="?", default=None,
                        help="a .safetensors/.gguf/.npy/.npz file or a directory of shards (default: the "
                             "packaged all-MiniLM-L6-v2 demo model)")
    out = report.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the whole report as JSON instead of text")
    out.add_argument("--csv", metavar="DIR", help="also write one CSV file per table into DIR")
    out.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with plots "
                                                    "(needs matplotlib)")
    out.add_argument("--detail", action="store_true", help="text: add per-matrix and per-layer tables")
    out.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show the progress bar on stderr (default: only on a terminal)")
    out.add_argument("--no-progress", dest="progress", action="store_false", help="never show it")
    sel = report.add_argument_group("selection and size")
    sel.add_argument("--only", metavar="LIST",
                     help="comma-separated roles (q,k,v,o,qkv,mlp_up,...,embedding) and/or layers (3, 0-5)")
    sel.add_argument("--cv-rows", type=_positive, metavar="N",
                     help="sample N embedding rows for the volume measures (CV, baseline, multi-scale); "
                          "PR and the variance profile always use every row")
    sel.add_argument("--cosine-rows", type=_positive, default=5000, metavar="N",
                     help="embedding rows sampled for the pairwise cosines (default 5000)")
    sel.add_argument("--samples", type=_positive, default=1000, help="pentachoron samples (default 1000)")
    sel.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    sel.add_argument("--no-spectra", dest="spectra", action="store_false",
                     help="skip the singular values of the plotted matrices")
    other = report.add_argument_group("more inputs")
    other.add_argument("--compare", metavar="PATH", help="a second checkpoint to compare against")
    other.add_argument("--keys", metavar="FILE.npy", help="an L x H x S x D key snapshot for bone orientation")
    report.add_argument("--threads", type=_positive, default=None,
                        help="threads (default: all cores): up to N units run side by side, one kernel thread each")
    cluster = report.add_argument_group("on a Dask cluster (pip install 'geomkit[dask]'; docs/cluster.md)")
    cluster.add_argument("more_paths", nargs="*", metavar="PATH", help="more checkpoints: adds a trajectory table")
    cluster.add_argument("--scheduler", metavar="ADDRESS", help="a distributed scheduler, e.g. tcp://host:8786")
    cluster.add_argument("--workers", type=_positive, metavar="N", help="a local cluster of N worker processes")
    report.set_defaults(handler=run_report_command)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geomkit", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and SIMD level, then exit")
    sub = parser.add_subparsers(dest="command")
    _add_report_text_options(add_report_parser(sub))
    add_keys_parser(sub)
    return parser


def add_keys_parser(sub) -> argparse.ArgumentParser:
    """``geomkit keys``: capture a model's KV-cache keys for a text (geomkit.keys)."""
    keys = sub.add_parser("keys", help="capture the keys a model's KV cache holds after reading a text",
                          description="Runs the model's forward pass in numpy and writes its keys "
                                      "(L x H_kv x S x D, float32) as .npy, with a JSON sidecar "
                                      "(model, token count, layer/head counts, text hash).")
    keys.add_argument("path", nargs="?", default=None,
                      help="a model directory (weights, config.json, tokenizer.json) or weights file "
                           "(default: the packaged all-MiniLM-L6-v2 demo model)")
    text = keys.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the text to read")
    text.add_argument("--text-file", metavar="F", help="read the text from a UTF-8 file")
    keys.add_argument("-o", "--output", metavar="KEYS.npy", required=True,
                      help="where to write the keys; the metadata goes to the same name with .json")
    keys.add_argument("--max-tokens", type=_positive, default=None, help="truncate the text to N tokens")
    keys.set_defaults(handler=run_keys_command)
    return keys


def _add_report_text_options(report) -> None:
    """``report --text/--text-file/--all-heads``: bone orientation of the model's own keys."""
    keys = report.add_argument_group("key capture (geomkit.keys; without PATH, --keys or --compare the "
                                     "packaged MiniLM reads a built-in passage)")
    text = keys.add_mutually_exclusive_group()
    text.add_argument("--text", help="capture the model's keys for this text and report their bone orientation")
    text.add_argument("--text-file", metavar="F", help="the same, with the text read from a UTF-8 file")
    keys.add_argument("--all-heads", action="store_true",
                      help="bone orientation's position-wise (GQA) mode over every KV head, not head 0")


def _report_text(args) -> dict:
    """ReportOptions' text fields: --text/--text-file, else the built-in passage for the
    default demo report."""
    if (args.text is not None or args.text_file is not None) and args.keys is not None:
        raise ValueError("--text/--text-file and --keys both give a key snapshot; pass one")
    if args.text_file is not None:
        try:
            with open(args.text_file, encoding="utf-8") as f:
                return {"text": f.read()}
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--text-file {args.text_file}: cannot read it ({exc})") from exc
    if args.text is not None:
        return {"text": args.text}
    if args.path is None and args.keys is None and args.compare is None:
        from .keys import DEFAULT_PASSAGE

        return {"text": DEFAULT_PASSAGE, "text_optional": True}
    return {}


def run_keys_command(args) -> int:
    from . import keys

    return keys.main(args)


def run_report_command(args) -> int:
    import geomkit
    from . import report
    from .render import csv as render_csv
    from .render import html as render_html
    from .render import json as render_json
    from .render import text as render_text

    if args.threads is not None:
        geomkit.set_num_threads(args.threads)
    roles, layers = report.parse_only(args.only)
    options = report.ReportOptions(samples=args.samples, seed=args.seed, cosine_rows=args.cosine_rows,
                                   cv_rows=args.cv_rows, only_roles=roles, only_layers=layers,
                                   spectra=args.spectra, keys=args.keys, all_heads=args.all_heads,
                                   **_report_text(args))
    if args.html:  # fail before the long run, not after it
        render_html._mpl()
    if args.scheduler or args.workers or args.more_paths:
        try:
            from . import dask as on_dask  # the optional extra
        except ImportError as exc:
            raise ValueError(f"--scheduler/--workers/several PATHs: {exc}") from exc
        return on_dask.report_command(args, options)
    if args.compare:
        rep = report.run_compare(args.path, args.compare, options, progress=args.progress)
    else:
        rep = report.run_report(args.path, options, progress=args.progress)
    if args.csv:
        files = render_csv.write(rep, args.csv)
        print(f"geomkit report: wrote {len(files)} CSV files to {args.csv}", file=sys.stderr)
    if args.html:
        page = render_html.render(rep)
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(page)
        except OSError as exc:
            raise ValueError(f"--html: cannot write {args.html}: {exc.strerror or exc}") from exc
        print(f"geomkit report: wrote {args.html}", file=sys.stderr)
    sys.stdout.write(render_json.render(rep) if args.json else render_text.render(rep, detail=args.detail))
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import geomkit

    if args.version:
        info = geomkit.simd_info()
        print(f"geomkit {geomkit.__version__} ({info['active']}, {info['arch']})")
        return 0
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    from .report import ReportError

    try:
        return handler(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"\ngeomkit {args.command}: interrupted\n")
        return EXIT_INTERRUPTED
    except (ReportError, ValueError, TypeError, OSError) as exc:
        print(f"geomkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
