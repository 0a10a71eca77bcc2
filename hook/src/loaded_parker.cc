#include "loaded_parker.h"

#include <hooks/hooks.h>
#include <hooks/server_hooks.h>

namespace isc {
namespace remote_options {

/// Kea 2.6 added parking at lease4_offer; before it an OFFER cannot wait without its thread.
constexpr int FIRST_PARKING_HOOKS_VERSION = 20600;

std::unique_ptr<Parker>& loadedParker() {
    static std::unique_ptr<Parker> parker;
    return (parker);
}

bool serverParksOffers() {
    if (KEA_HOOKS_VERSION < FIRST_PARKING_HOOKS_VERSION) {
        return (false);
    }
    return (isc::hooks::ServerHooks::getServerHooks().findIndex("lease4_offer") >= 0);
}

bool startParkedPath(isc::hooks::LibraryHandle& handle, Engine& engine, const CurlOptions& opts) {
    if (!serverParksOffers()) {
        return (false);
    }
    loadedParker().reset(new Parker(engine, std::make_shared<CurlMultiFetcher>(opts)));
    // No unpark while Kea is in a critical section (a reconfiguration among them): parker.h
    loadedParker()->watchCriticalSections();
    handle.registerCallout("lease4_offer", lease4OfferCallout);
    handle.registerCallout("leases4_committed", leases4CommittedCallout);
    return (true);
}

size_t stopParkedPath() {
    std::unique_ptr<Parker>& parker = loadedParker();
    size_t dropped = parker ? parker->stop() : 0;
    parker.reset();
    return (dropped);
}

}  // namespace remote_options
}  // namespace isc
