"""Knowledge-base tests: pure tables, real Postgres with pgvector, fakes of OpenAI and Cohere."""
