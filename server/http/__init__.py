"""Side HTTP endpoints: accounts, health, metrics, conversations, knowledge base, pages."""
