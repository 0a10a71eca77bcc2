// The pkt4_send callout, the only per-packet one: Kea prepares a callout handle and its arguments for
// every packet at every hook point that has callouts, so one point instead of two halves what clients
// that do not match pay. For a matching query it decides (cache, then at most one bounded backend call)
// and applies the decision to the OFFER or ACK at once; its work is in pkt4_send.cc.
#include "loaded_engine.h"
#include "loaded_parker.h"
#include "pkt4_send.h"

#include <hooks/hooks.h>

using isc::hooks::CalloutHandle;
using namespace isc::remote_options;

extern "C" {

int pkt4_send(CalloutHandle& handle) {
    pkt4Send(loadedEngine().get(), handle, loadedParker() != nullptr);
    return (0);
}

}  // extern "C"
