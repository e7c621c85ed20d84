"""The knowledge base: ingestion, chunking, hybrid retrieval and grounded answers."""
