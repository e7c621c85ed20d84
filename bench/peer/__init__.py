"""Comparison servers for the `peer` scenario (socket.io on Node, python-socketio)."""
