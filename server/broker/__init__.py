"""Pub/sub backends behind one small interface: Redis for real, memory for one process."""
