"""Code shared by every Lambda: clients, secrets, database access, errors, logging."""
