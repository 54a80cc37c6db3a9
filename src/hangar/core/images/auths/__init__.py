"""A user's own registry credentials, named by pods, VMs and endpoints that pull private
images (the GPU-cloud face's container-registry auths)."""
