// The work of the two parking-point callouts (lease4_offer.cc, leases4_committed.cc), on the engine
// and parker it is given so that unit tests can run it on a real CalloutHandle.
#ifndef REMOTE_OPTIONS_PARKED_CALLOUT_H
#define REMOTE_OPTIONS_PARKED_CALLOUT_H

#include "engine.h"
#include "parker.h"

#include <hooks/callout_handle.h>

namespace isc {
namespace remote_options {

/// For a matching DISCOVER (lease4_offer) or REQUEST (leases4_committed) that got a lease: decides
/// through the parker and leaves the decision in the packet's slot for pkt4_send; sets
/// NEXT_STEP_PARK while the backend call runs, NEXT_STEP_DROP when the overload rule says no reply.
/// Does nothing (pkt4_send's bounded call decides) when nothing is loaded, an earlier callout dropped
/// or skipped the packet, no lease was given (a NAK) or Kea runs single-threaded: an unpark from the
/// hook's thread would then run Kea's send path beside its only packet thread. Never throws.
void parkAnswer(Engine* engine, Parker* parker, isc::hooks::CalloutHandle& handle, const char* where);

}  // namespace remote_options
}  // namespace isc

#endif
