"""``python -m geomkit``: the same command line as the ``geomkit`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
