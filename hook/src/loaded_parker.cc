#include "loaded_parker.h"

namespace isc {
namespace remote_options {

std::unique_ptr<Parker>& loadedParker() {
    static std::unique_ptr<Parker> parker;
    return (parker);
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
