// The lease4_offer callout (Kea 2.6+, registered by load() only where the server has this hook point):
// a matching DISCOVER's OFFER waits in Kea's parking lot for the backend, holding no packet thread.
#include "loaded_engine.h"
#include "loaded_parker.h"
#include "parked_callout.h"

using isc::hooks::CalloutHandle;

namespace isc {
namespace remote_options {

int lease4OfferCallout(CalloutHandle& handle) {
    parkAnswer(loadedEngine().get(), loadedParker().get(), handle, "lease4_offer");
    return (0);
}

}  // namespace remote_options
}  // namespace isc
