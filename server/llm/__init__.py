"""Model providers behind small interfaces: chat, embeddings, rerank."""
