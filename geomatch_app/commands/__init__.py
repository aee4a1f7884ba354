"""CLI subcommands, one module each: ``add_parser(subparsers)`` / ``add_parsers`` + ``run``."""
