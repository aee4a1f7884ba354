"""Use cases under both front ends (no Qt): the CLI subcommands and the window are thin adapters
that parse or draw, then call these. One module per use case:

- ``project``: which index + database are open (and the gallery registered in the store)
- ``recent``: the projects the curator used, last first (both front ends reopen the last one)
- ``ranking``: rank one photo — candidates, estimate, distances, the stored run (re-used when
  model, index and parameters match)
- ``curation``: decide / undo / redo with provenance
- ``indexing``: build or update an index and register its gallery in the store
- ``finetune``: train on confirmed pairs and register the new model
- ``export``: labelled sets out of the store
- ``demo``: the embedded demo gallery as the first project
- ``session``: what the window shows (current photo, candidates, typed pick), observable
"""
