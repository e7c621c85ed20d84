"""Retrieval evaluation of the knowledge base (English and Thai)."""
