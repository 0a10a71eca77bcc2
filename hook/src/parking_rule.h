// Where an OFFER can wait without its packet thread: the one rule the hook's load() and the bench's floor
// library (floor/floor.cc) both follow, header-only so the floor links none of the hook's objects.
#ifndef REMOTE_OPTIONS_PARKING_RULE_H
#define REMOTE_OPTIONS_PARKING_RULE_H

#include <hooks/hooks.h>
#include <hooks/server_hooks.h>

namespace isc {
namespace remote_options {

/// Kea 2.6 added parking at lease4_offer; before it an OFFER cannot wait without its thread.
constexpr int FIRST_PARKING_HOOKS_VERSION = 20600;

/// The parked path's hook points (registered together, only where serverParksOffers()).
constexpr const char* PARKING_POINTS[] = {"lease4_offer", "leases4_committed"};

/// True when this build and the running server can park an OFFER: built against Kea 2.6 or later
/// (KEA_HOOKS_VERSION) and the server registered the lease4_offer hook point.
inline bool serverParksOffers() {
    if (KEA_HOOKS_VERSION < FIRST_PARKING_HOOKS_VERSION) {
        return (false);
    }
    return (isc::hooks::ServerHooks::getServerHooks().findIndex("lease4_offer") >= 0);
}

}  // namespace remote_options
}  // namespace isc

#endif
