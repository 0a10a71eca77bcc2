"""The lab: lab.yaml model, Kea config, container specs and images, the docker lab that starts them."""

__all__ = ["boardspec", "cli", "dhcpclient", "dhcpprobe", "docker_lab", "images", "keaconfig", "keaversions",
           "model", "services"]
