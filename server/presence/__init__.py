"""Which agents are online, across processes: Redis sorted sets scored by expiry."""
