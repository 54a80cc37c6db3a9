"""Storage: hosts, virtual folders, files, transfers, mounts and dotfiles."""
