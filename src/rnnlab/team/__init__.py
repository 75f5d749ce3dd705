"""What turns rnnlab into a team's tool: the DVC remote, the tracking server, moving runs into it."""
