"""Cost and usage: an administrator's prices, meters of what runs and what is stored, the
cost of pods, VMs, volumes, endpoints and sessions, usage reports and daily limits."""
