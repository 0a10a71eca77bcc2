// The hook points the load tests run callouts at, registered as kea-dhcp4 registers them in the server (a
// library's callout is only registered for a hook point the server knows). One set for every load test: they
// share one process, so a point one test registers exists for all of them.
#ifndef MALINA_LIBLOADTESTS_HOOK_POINTS_H
#define MALINA_LIBLOADTESTS_HOOK_POINTS_H

#include <hooks/hooks_manager.h>

struct HookPoints {
    int pkt4_send = isc::hooks::HooksManager::registerHook("pkt4_send");
    int srv_configured = isc::hooks::HooksManager::registerHook("dhcp4_srv_configured");
    int lease4_offer = isc::hooks::HooksManager::registerHook("lease4_offer");
    int leases4_committed = isc::hooks::HooksManager::registerHook("leases4_committed");
};

inline const HookPoints HOOK_POINTS;

#endif  // MALINA_LIBLOADTESTS_HOOK_POINTS_H
