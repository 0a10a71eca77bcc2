// The leases4_committed callout (registered by load() beside lease4_offer, never on Kea 2.2, whose
// DISCOVER cannot park): a matching REQUEST's ACK waits in Kea's parking lot for the backend when its
// DISCOVER's answer is no longer cached (the common exchange hits the cache and answers at once).
#include "loaded_engine.h"
#include "loaded_parker.h"
#include "parked_callout.h"

using isc::hooks::CalloutHandle;

namespace isc {
namespace remote_options {

int leases4CommittedCallout(CalloutHandle& handle) {
    parkAnswer(loadedEngine().get(), loadedParker().get(), handle, "leases4_committed");
    return (0);
}

}  // namespace remote_options
}  // namespace isc
