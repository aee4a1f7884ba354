"""Plain types, the progress/cancel protocol, errors and paths. Imports neither Qt nor torch."""
