"""The ``geomkit`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="geomkit", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and SIMD level")
    args = parser.parse_args(argv)
    import geomkit

    if args.version:
        info = geomkit.simd_info()
        print(f"geomkit {geomkit.__version__} ({info['active']}, {info['arch']})")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
