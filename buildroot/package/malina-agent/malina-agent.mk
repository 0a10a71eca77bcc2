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
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/malina/trust.sh \
		$(TARGET_DIR)/usr/lib/malina/trust.sh
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/malina/malina-booted.service \
		$(TARGET_DIR)/usr/lib/malina/malina-booted.service
	$(INSTALL) -D -m 0755 $(@D)/usr/share/udhcpc/malina.script \
		$(TARGET_DIR)/usr/share/udhcpc/malina.script
	$(INSTALL) -D -m 0644 $(@D)/etc/malina/agent.conf \
		$(TARGET_DIR)/etc/malina/agent.conf
endef

# What the image trusts (issue 13.3): the origins option 224 may name and the
# CA of the https servers, from the configuration.
MALINA_AGENT_ALLOWED_ORIGINS = $(call qstrip,$(BR2_PACKAGE_MALINA_AGENT_ALLOWED_ORIGINS))
MALINA_AGENT_CA_FILE = $(call qstrip,$(BR2_PACKAGE_MALINA_AGENT_CA_FILE))

define MALINA_AGENT_INSTALL_TRUST
	mkdir -p $(TARGET_DIR)/etc/malina
	printf '%s\n' $(MALINA_AGENT_ALLOWED_ORIGINS) \
		> $(TARGET_DIR)/etc/malina/allowed-origins
	$(if $(MALINA_AGENT_CA_FILE), \
		$(INSTALL) -D -m 0644 $(MALINA_AGENT_CA_FILE) \
			$(TARGET_DIR)/etc/malina/ca.pem)
endef
MALINA_AGENT_POST_INSTALL_TARGET_HOOKS += MALINA_AGENT_INSTALL_TRUST

# Enabled by Buildroot's "systemctl preset-all" (WantedBy=multi-user.target).
define MALINA_AGENT_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/usr/lib/systemd/system/malina-installer.service \
		$(TARGET_DIR)/usr/lib/systemd/system/malina-installer.service
endef

$(eval $(generic-package))
