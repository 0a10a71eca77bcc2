#include "pkt4_send.h"

#include "parker.h"

#include <dhcp/dhcp4.h>
#include <dhcp/pkt4.h>

using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;

namespace isc {
namespace remote_options {

void pkt4Send(Engine* engine, CalloutHandle& handle, bool parked_path) {
    if (droppedEarlier(handle) || !engine) {
        return;
    }
    try {
        Pkt4Ptr query;
        handle.getArgument("query4", query);
        // Cheap check first (no allocation for non-matching clients).
        if (!query || !engine->matches(*query)) {
            return;
        }
        Pkt4Ptr response;
        handle.getArgument("response4", response);
        if (!response || (response->getType() != isc::dhcp::DHCPOFFER
                          && response->getType() != isc::dhcp::DHCPACK)) {
            return;  // a NAK (or anything else) is left as Kea made it, and costs no backend call
        }
        // Decided at lease4_offer / leases4_committed already (the parked path): applied as it is,
        // never decided (or added) twice.
        ParkedSlotPtr slot = parked_path ? parkedSlot(handle) : ParkedSlotPtr();
        DecisionPtr decision = slot ? slot->get() : DecisionPtr();
        if (!decision) {
            decision = engine->decide(*query);
        }
        if (decision && decision->drop) {
            handle.setStatus(CalloutHandle::NEXT_STEP_DROP);   // overloaded: no reply, the client retries
        } else if (decision) {
            Engine::apply(*decision, *response);
        }
    } catch (const std::exception& ex) {
        engine->reportError("pkt4_send", ex.what());
    }
}

}  // namespace remote_options
}  // namespace isc
