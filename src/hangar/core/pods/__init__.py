"""GPU-cloud pods: a pod is a compute session (origin kind pod) plus what its owner asked
for (image, GPUs, ports, init command); its status follows the session's."""
