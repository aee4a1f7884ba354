"""Descriptor extraction and faiss indexes on disk, each tied to the model that built it."""

from geomatch_app.index.faiss_index import Index, build_index, is_index, write_index

__all__ = ["Index", "build_index", "is_index", "write_index"]
