"""geomatch: visual place recognition for archive curators."""

__version__ = "0.1.0"
