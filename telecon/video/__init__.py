"""Video rooms on Jitsi: room names, join links, tokens and join windows."""
