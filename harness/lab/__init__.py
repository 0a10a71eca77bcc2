"""The lab: lab.yaml model, Kea config, container specs and images, the docker lab that starts them."""

__all__ = ["agenttrust", "boardspec", "cli", "dhcpclient", "dhcpprobe", "docker_lab", "ha", "images", "keaconfig",
           "keaversions", "labtls", "links", "managed", "model", "services", "tlsca"]
