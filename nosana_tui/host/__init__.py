"""Facts about this machine that more than one layer needs: its GPUs, and how a container gets them."""
