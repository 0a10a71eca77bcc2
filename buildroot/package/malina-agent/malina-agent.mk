################################################################################
#
# malina-agent
#
################################################################################

# The agent's files live in the tree, laid out as they are installed; the
# simulated board (harness/lab/images/runtime.Dockerfile) copies the same
# directory to / so that both run the same files from the same paths.
MALINA_AGENT_SITE = $(BR2_EXTERNAL_MALINA_PATH)/agent
MALINA_AGENT_SITE_METHOD = local

define MALINA_AGENT_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/usr/bin/malina-agent \
		$(TARGET_DIR)/usr/bin/malina-agent
	$(INSTALL) -D -m 0755 $(@D)/usr/bin/malina-installer \
		$(TARGET_DIR)/usr/bin/malina-installer
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/malina/common.sh \
		$(TARGET_DIR)/usr/lib/malina/common.sh
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/malina/writer.sh \
		$(TARGET_DIR)/usr/lib/malina/writer.sh
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/malina/rootfs.sh \
		$(TARGET_DIR)/usr/lib/malina/rootfs.sh
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/malina/malina-booted.service \
		$(TARGET_DIR)/usr/lib/malina/malina-booted.service
	$(INSTALL) -D -m 0755 $(@D)/usr/share/udhcpc/malina.script \
		$(TARGET_DIR)/usr/share/udhcpc/malina.script
	$(INSTALL) -D -m 0644 $(@D)/etc/malina/agent.conf \
		$(TARGET_DIR)/etc/malina/agent.conf
endef

# Enabled by Buildroot's "systemctl preset-all" (WantedBy=multi-user.target).
define MALINA_AGENT_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/systemd/system/malina-installer.service \
		$(TARGET_DIR)/usr/lib/systemd/system/malina-installer.service
endef

$(eval $(generic-package))
