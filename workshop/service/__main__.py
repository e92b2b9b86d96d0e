"""`python -m workshop.service --port 8765 ...`: run the practice service until Ctrl-C."""
import argparse
import sys

from workshop.service import add_arguments, serve_forever, settings_from_args


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m workshop.service", description="Run the practice service.")
    add_arguments(parser)
    serve_forever(**settings_from_args(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
