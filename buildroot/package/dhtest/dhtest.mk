################################################################################
#
# dhtest
#
################################################################################

DHTEST_VERSION = c8f1dbb58c6b1bb4ff0e27e2d3012fb779a6c4df
DHTEST_SITE = https://github.com/saravana815/dhtest.git
DHTEST_SITE_METHOD = git
DHTEST_LICENSE = GPL-2.0
DHTEST_LICENSE_FILES = LICENSE

define DHTEST_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) $(TARGET_CONFIGURE_OPTS) -C $(@D) dhtest
endef

define DHTEST_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/dhtest $(TARGET_DIR)/usr/bin/dhtest
endef

$(eval $(generic-package))
