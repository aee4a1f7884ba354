"""Descriptor extraction and indexes on disk, each tied to the model that built it."""

from geomatch_app.index.faiss_index import Index, build_index, is_index, write_index
from geomatch_app.index.structures import IndexOptions, choose_type

__all__ = ["Index", "IndexOptions", "build_index", "choose_type", "is_index", "write_index"]
