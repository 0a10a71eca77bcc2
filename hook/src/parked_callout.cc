#include "parked_callout.h"

#include <dhcpsrv/lease.h>
#include <util/multi_threading_mgr.h>

using isc::dhcp::Lease4CollectionPtr;
using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;

namespace isc {
namespace remote_options {

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
        if (parker->begin(query, handle.getParkingLotHandlePtr(), slot) == Parker::Step::Park) {
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
