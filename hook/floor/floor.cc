// libdhcp_malina_floor.so: a bench instrument, not part of the lab's DHCP service. It registers callouts at the
// hook points the remote-options hook uses on this Kea release (pkt4_send everywhere; lease4_offer and
// leases4_committed where the server can park an OFFER: the same rule as loaded_parker.cc) and each callout
// returns at once. Kea still prepares every packet for those hook points (a callout handle's arguments, option
// copies, and on 2.6+ a proactive park and drop per DISCOVER and REQUEST), so Kea with this library is the
// ceiling of any hook at these points: bench/hook.py's `hook_points_floor` case. No parameters, no state.
#include <hooks/hooks.h>
#include <hooks/server_hooks.h>

using isc::hooks::CalloutHandle;
using isc::hooks::LibraryHandle;

namespace {

constexpr int FIRST_PARKING_HOOKS_VERSION = 20600;   // Kea 2.6: parking at lease4_offer

int nothing(CalloutHandle&) {
    return (0);
}

}  // namespace

extern "C" {

int version() {
    return (KEA_HOOKS_VERSION);
}

int multi_threading_compatible() {
    return (1);
}

int load(LibraryHandle& handle) {
    handle.registerCallout("pkt4_send", nothing);
    if (KEA_HOOKS_VERSION >= FIRST_PARKING_HOOKS_VERSION
        && isc::hooks::ServerHooks::getServerHooks().findIndex("lease4_offer") >= 0) {
        handle.registerCallout("lease4_offer", nothing);
        handle.registerCallout("leases4_committed", nothing);
    }
    return (0);
}

int unload() {
    return (0);
}

}  // extern "C"
