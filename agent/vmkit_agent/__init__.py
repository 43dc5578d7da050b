"""The VMKit agent: runs on the user's VM and dials the control plane over WebSocket."""
