"""VMs: long-lived compute sessions (origin kind vm) with sshd and a persistent disk."""
