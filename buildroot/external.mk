# Package makefiles of the malina BR2_EXTERNAL tree.
include $(sort $(wildcard $(BR2_EXTERNAL_MALINA_PATH)/package/*/*.mk))
