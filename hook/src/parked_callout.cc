#include "parked_callout.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <dhcpsrv/lease.h>
#include <hooks/callout_handle.h>
#include <util/multi_threading_mgr.h>

using isc::dhcp::Lease4CollectionPtr;
using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;

namespace isc {
namespace remote_options {

namespace {

/// Kea 2.6+ reads "offer_address_in_use" when it unparks an OFFER (the ping-check hook sets it to true for
/// an address that answered a ping) and logs an ERROR for every unparked OFFER that lacks it: one log line
/// per parked exchange, which cost more than the exchange. This hook checks no address: false, unless a
/// callout before it already said.
void markOfferAddressFree(CalloutHandle& handle) {
    std::vector<std::string> names = handle.getArgumentNames();
    if (std::find(names.begin(), names.end(), "offer_address_in_use") == names.end()) {
        handle.setArgument("offer_address_in_use", false);
    }
}

}  // namespace

void parkAnswer(Engine* engine, Parker* parker, CalloutHandle& handle, const char* where) {
    if (!engine || !parker) {
        return;
    }
    CalloutHandle::CalloutNextStep status = handle.getStatus();
    if (status == CalloutHandle::NEXT_STEP_DROP || status == CalloutHandle::NEXT_STEP_SKIP) {
        return;
    }
    if (!isc::util::MultiThreadingMgr::instance().getMode()) {
        return;
    }
    try {
        Pkt4Ptr query;
        handle.getArgument("query4", query);
        if (!query || !engine->matches(*query)) {
            return;
        }
        Lease4CollectionPtr leases;
        handle.getArgument("leases4", leases);
        if (!leases || leases->empty()) {
            return;
        }
        ParkedSlotPtr slot = std::make_shared<ParkedSlot>();
        handle.setContext(PARKED_SLOT_CONTEXT, slot);
        // Set before the call starts (begin's before_call), only for a DISCOVER that parks: its completion may
        // unpark on the hook's thread before this callout returns, and Kea's unpark reads the argument then
        // (set after begin(), it raced that read: an ERROR line for an OFFER whose call beat the callout, and
        // two threads on the handle's argument map).
        std::function<void()> mark;
        if (std::strcmp(where, "lease4_offer") == 0) {   // no allocation on the packet path
            mark = [&handle]() { markOfferAddressFree(handle); };
        }
        if (parker->begin(query, handle.getParkingLotHandlePtr(), slot, mark) == Parker::Step::Park) {
            handle.setStatus(CalloutHandle::NEXT_STEP_PARK);
            return;
        }
        DecisionPtr now = slot->get();
        if (now && now->drop) {
            handle.setStatus(CalloutHandle::NEXT_STEP_DROP);   // overloaded: no reply, the client retries
        }
    } catch (const std::exception& ex) {
        engine->reportError(where, ex.what());
    }
}

}  // namespace remote_options
}  // namespace isc
