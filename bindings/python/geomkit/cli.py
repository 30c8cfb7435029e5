"""geomkit: exact, fast geometry of neural-network weights and KV caches."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geomkit", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and SIMD level, then exit")
    sub = parser.add_subparsers(dest="command")
    report = sub.add_parser("report", help="the weight battery over a model's safetensors weights",
                            description="Participation ratio, variance profile and pentachoron CV of the "
                                        "embedding; spectrum statistics of every 2-D weight; the QK manifold "
                                        "of every attention layer; bone orientation of a key snapshot.")
    report.add_argument("path", nargs="?", default=None,
                        help="a .safetensors file or a directory of them (default: the packaged "
                             "all-MiniLM-L6-v2 demo model)")
    report.add_argument("--keys", metavar="FILE.npy", help="an L x H x S x D key snapshot for bone orientation")
    report.add_argument("--json", action="store_true", help="machine-readable JSON instead of tables")
    report.add_argument("--samples", type=int, default=1000, help="pentachoron samples (default 1000)")
    report.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    report.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    _add_keys_parser(sub)
    return parser


def _add_keys_parser(sub) -> None:
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
    keys.add_argument("--max-tokens", type=int, default=None, help="truncate the text to N tokens")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import geomkit

    if args.version:
        info = geomkit.simd_info()
        print(f"geomkit {geomkit.__version__} ({info['active']}, {info['arch']})")
        return 0
    if args.command == "report":
        from . import report

        try:
            return report.main(args)
        except report.ReportError as exc:
            print(f"geomkit report: error: {exc}", file=sys.stderr)
            return 2
        except (ValueError, TypeError) as exc:
            print(f"geomkit report: error: {exc}", file=sys.stderr)
            return 2
    if args.command == "keys":
        from . import keys

        try:
            return keys.main(args)
        except (ValueError, TypeError, OSError) as exc:
            print(f"geomkit keys: error: {exc}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
