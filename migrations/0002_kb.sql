-- Knowledge base: documents, their chunks (text, lexical terms, embedding) and the
-- questions the bot could not answer.

CREATE TABLE kb_documents (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    title text NOT NULL,
    url text,
    kind text NOT NULL CHECK (kind IN ('text', 'markdown', 'html', 'pdf', 'csv')),
    filename text,
    status text NOT NULL DEFAULT 'ready' CHECK (status IN ('processing', 'ready', 'failed')),
    error text,
    -- bumped by every replace: a slower ingest of an older version must not win
    generation int NOT NULL DEFAULT 1,
    chunk_count int NOT NULL DEFAULT 0,
    char_count int NOT NULL DEFAULT 0,
    byte_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX kb_documents_org_idx ON kb_documents (org_id, created_at DESC, id);
CREATE INDEX kb_documents_processing_idx ON kb_documents (updated_at) WHERE status = 'processing';

-- One row per chunk. `embedding` is an untyped vector because the dimension depends on the
-- embedding model (offline hashing: 512, text-embedding-3-small: 1536); each dimension
-- gets a partial HNSW index on the cast expression, which queries repeat verbatim.
-- `lex` is built in Python (English stems, Thai character bigrams): Postgres' parsers do
-- not segment Thai, and pg_trgm is not available in every embedded build.
CREATE TABLE kb_chunks (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    document_id uuid NOT NULL,
    ord int NOT NULL,
    kind text NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'qa')),
    heading text NOT NULL DEFAULT '',
    body text NOT NULL,
    lex tsvector NOT NULL,
    embed_model text NOT NULL,
    embed_dim int NOT NULL CHECK (embed_dim > 0),
    embedding vector NOT NULL CHECK (vector_dims(embedding) = embed_dim),
    -- the composite key keeps a chunk in its document's organisation
    FOREIGN KEY (org_id, document_id) REFERENCES kb_documents (org_id, id) ON DELETE CASCADE
);
-- keep vectors inline (uncompressed floats gain nothing from TOAST): an exact scan of a
-- tenant's rows then reads one page per row instead of four
ALTER TABLE kb_chunks ALTER COLUMN embedding SET STORAGE MAIN;
CREATE INDEX kb_chunks_doc_idx ON kb_chunks (org_id, document_id, ord);
CREATE INDEX kb_chunks_org_model_idx ON kb_chunks (org_id, embed_model, id);
CREATE INDEX kb_chunks_lex_idx ON kb_chunks USING gin (lex);
CREATE INDEX kb_chunks_hnsw_512 ON kb_chunks
    USING hnsw ((embedding::vector(512)) vector_cosine_ops) WHERE embed_dim = 512;
CREATE INDEX kb_chunks_hnsw_1536 ON kb_chunks
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE embed_dim = 1536;

CREATE TABLE kb_unanswered (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- the visitor's words go when their conversation is deleted
    conversation_id uuid REFERENCES conversations(id) ON DELETE CASCADE,
    question text NOT NULL,
    best_score real,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_unanswered_org_idx ON kb_unanswered (org_id, created_at DESC, id);
