// The pkt4_send callout's work, on the engine it is given (the extern "C" pkt4_send in callouts.cc
// passes the loaded one), so that unit tests can run it with a scripted backend.
#ifndef REMOTE_OPTIONS_PKT4_SEND_H
#define REMOTE_OPTIONS_PKT4_SEND_H

#include "engine.h"

#include <hooks/callout_handle.h>

namespace isc {
namespace remote_options {

/// True when a callout that ran before this one (another library's) dropped the packet: Kea will not
/// send it, so it needs no decision and no backend call. Kea's callout status, the one Kea-version
/// detail here (NEXT_STEP_DROP from Kea 1.x to 3.0).
inline bool droppedEarlier(const isc::hooks::CalloutHandle& handle) {
    return (handle.getStatus() == isc::hooks::CalloutHandle::NEXT_STEP_DROP);
}

/// For a matching query whose response is an OFFER or ACK: decides (cache, then at most one bounded
/// backend call) and applies the decision to the response, or drops the reply when the engine says so
/// (overloaded). Returns at once, without looking at the packet, when it was already dropped or no
/// engine is loaded. Never throws: an exception is reported through the engine's rate-limited log.
/// parked_path: the parked path is on (loaded_parker.h); a decision a parking-point callout left on
/// this packet (parker.h) is applied instead of deciding.
void pkt4Send(Engine* engine, isc::hooks::CalloutHandle& handle, bool parked_path = false);

}  // namespace remote_options
}  // namespace isc

#endif
