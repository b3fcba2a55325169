"""The audit log: what agents and admins did to conversations and visitors' data."""
